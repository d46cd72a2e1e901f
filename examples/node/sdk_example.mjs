// Calls an API through the alter sidecar with the TypeScript SDK:
//
//   npm install ./sdk/typescript      (from the alter repository)
//
// The SDK talks plain HTTP to the sidecar (ALTER_PROXY, default
// http://127.0.0.1:8080), so there is no CA or proxy setting to make:
//   ALTER_GRANT   the grant id `alter secret add` printed
//   TARGET_URL    what to call
//
// The application never sees the API credential: the sidecar injects it. A
// refusal by the sidecar throws the error of its code; the API's own 4xx
// and 5xx come back as ordinary responses.
import { ProxyError, Vault } from '@alter-sidecar/vault';

const grantId = process.env.ALTER_GRANT;
const url = process.env.TARGET_URL;
if (!grantId || !url) {
  console.error('set ALTER_GRANT and TARGET_URL');
  process.exit(2);
}
try {
  const res = await new Vault().request({ method: 'GET', url, grantId, reason: 'examples/node (sdk)', context: { tool: 'sdk_example' } });
  if (!res.ok) console.error(`the API answered ${res.status}`);
  process.stdout.write(res.text());
  process.exitCode = res.ok ? 0 : 1;
} catch (e) {
  if (e instanceof ProxyError) {
    console.error(`alter refused the request: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
