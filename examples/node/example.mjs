// Calls an API through the alter proxy from Node with only proxy settings
// and the proxy's CA; the application never sees the API credential.
//
//   HTTPS_PROXY, HTTP_PROXY, NO_PROXY  where the proxy is (EnvHttpProxyAgent reads them)
//   NODE_EXTRA_CA_CERTS                the file `alter ca export` wrote (Node reads it at start-up
//                                      and adds it to, rather than replaces, the public roots)
//   ALTER_GRANT                        the grant id `alter secret add` printed
//   TARGET_URL                         what to call, e.g. https://api.example.com/v1/things
//
// Setup: npm ci --prefix examples/node; run: node examples/node/example.mjs
// Newer Node releases can do the same without undici: NODE_USE_ENV_PROXY=1
// makes the built-in fetch honour HTTP(S)_PROXY.
import { EnvHttpProxyAgent, fetch } from 'undici';

const grant = process.env.ALTER_GRANT;
const url = process.env.TARGET_URL;
if (!grant || !url) {
  console.error('set ALTER_GRANT and TARGET_URL');
  process.exit(2);
}

const res = await fetch(url, {
  dispatcher: new EnvHttpProxyAgent(),
  headers: { 'X-Alter-Grant': grant, 'X-Alter-Reason': 'examples/node' },
});
const body = await res.text();
// X-Alter-Error marks an answer made by the proxy (never by the API): see
// the README's error table for the code.
const refusal = res.headers.get('x-alter-error');
if (refusal) {
  console.error(`alter refused the request: ${res.status} ${refusal}: ${body}`);
  process.exit(1);
}
if (!res.ok) {
  console.error(`the API answered ${res.status}`);
}
process.stdout.write(body);
process.exitCode = res.ok ? 0 : 1;
