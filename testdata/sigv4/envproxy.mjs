// The README's Node 20 recipe for alter run: Node 20's fetch ignores the
// proxy variables, undici's EnvHttpProxyAgent reads them (HTTPS_PROXY with
// the grant as its password, NO_PROXY). NODE_EXTRA_CA_CERTS, which alter run
// sets, makes Node trust alter's CA. Prints "<status> <body>".
import { EnvHttpProxyAgent, fetch, setGlobalDispatcher } from 'undici';

setGlobalDispatcher(new EnvHttpProxyAgent());
const resp = await fetch(process.argv[2], { headers: { authorization: 'token placeholder' } });
console.log(resp.status, await resp.text());
