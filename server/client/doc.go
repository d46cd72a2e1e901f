// Package client is the typed HTTP client of the control plane's /v1 API
// (server/API.md): the admin calls the command line makes with
// `alter --server URL`, and the sidecar calls a remote store and the audit
// shipper make.
//
// Errors. An answer with status >= 400 becomes an *Error carrying the
// API's code. It unwraps to secretstore's sentinel errors so callers use
// errors.Is as they do with the file store: not_found is ErrNotFound,
// invalid_request ErrInvalid, grant_unavailable ErrGrantUnavailable, and
// store_unavailable, any 5xx and any failure to reach the server are
// ErrStoreUnavailable. A token that is refused (401) or of the wrong kind
// (403 forbidden) unwraps to ErrUnauthorized and ErrStoreUnavailable: the
// proxy must answer 503, and must not keep serving from its cache.
//
// Nothing secret is ever in an error: not the token (it only travels in
// the Authorization header), not a field value, not a query string (Go's
// *url.Error would print the full URL; this package reports the method
// and path only). The server's message is kept, capped and stripped of
// control characters, since it is text from the network.
//
// Transport. TLS is verified: against the system roots, or, when a CA file
// is configured, against that file's roots only. Plain http:// is refused
// except to a loopback address (the API sends secrets to sidecars). The
// environment's proxy variables are ignored (Proxy: nil) and redirects are
// not followed, so the token goes nowhere but the configured server.
//
// Files:
//
//	client.go   Client, New, the request helper
//	token.go    Token (redacted) and loading it from a file or variable
//	errors.go   *Error and the mapping onto secretstore's errors
//	admin.go    admin endpoints
//	sidecar.go  sidecar endpoints: resolve, policies, changes, audit
//	adapter.go  AdminStore: secretstore.Admin over the client
package client
