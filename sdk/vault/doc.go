// Package vault lets application code call third-party APIs through the
// alter sidecar without holding their credentials, without proxy settings
// and without trusting the sidecar's CA.
//
// A request names a grant id; the sidecar checks the grant's policy,
// injects the credential and forwards the request. The SDK talks to the
// sidecar in plain HTTP over loopback and always sends the request target
// in absolute form, keeping the scheme the application wrote:
//
//	GET https://api.example.com/v1/things HTTP/1.1    (to 127.0.0.1:8080)
//	X-Alter-Grant: 6f1c...
//
// so there is no CONNECT tunnel and no TLS between the application and the
// sidecar, hence no CA to trust; the sidecar opens the verified TLS
// connection to api.example.com itself. An https:// URL is never rewritten
// to http:// (a grant that allows a host over both schemes would then send
// the credential in clear text); an http:// URL is sent as http://, and the
// sidecar upgrades it to TLS when the grant allows the host only over https.
//
// The sidecar's address comes from WithProxy, else the ALTER_PROXY
// environment variable, else http://127.0.0.1:8080. HTTP_PROXY, HTTPS_PROXY
// and NO_PROXY are ignored: every request goes to the sidecar.
//
// Errors: when the sidecar itself refuses a request it marks the answer with
// an X-Alter-Error header and a JSON body; the SDK turns that into a typed
// error (*GrantUnavailableError, *PolicyDeniedError, *UpstreamError,
// *RateLimitedError with RetryAfter, *ApprovalPendingError with the
// ApprovalID to retry with, *ApprovalDeniedError, ...),
// each of which also unwraps to *ProxyError. A 4xx or 5xx that the upstream
// API sent (no X-Alter-Error, which the sidecar strips from upstream
// answers) is returned as an ordinary *http.Response with a nil error.
//
// Nothing in this package logs, and no error or String method includes a
// proxy-auth secret; grant ids are not put into error messages either.
package vault
