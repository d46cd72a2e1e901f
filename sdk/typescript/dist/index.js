// @alter-sidecar/vault: call APIs through the alter sidecar, which injects
// the credential of a grant, so the application never holds the secret.
//
//   import { Vault } from '@alter-sidecar/vault';
//   const vault = new Vault(); // $ALTER_PROXY, else http://127.0.0.1:8080
//   const resp = await vault.request({ method: 'GET', url: 'https://api.example.com/v1/things', grantId });
//
// Refusals by the sidecar reject with the ProxyError subclass of their
// code; the API's own 4xx and 5xx are ordinary responses.
export * from './errors.js';
export * from './vault.js';
