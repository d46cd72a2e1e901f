// Package errcode holds the sidecar's public error contract in one place:
// the codes it puts in the X-Alter-Error header and the JSON body of every
// answer it makes up, the reasons it gives for upstream failures, and the
// names of the headers that carry them. The proxy answers with these and
// the SDKs read them; it imports nothing, so an application linking the
// Go SDK links nothing of the proxy.
package errcode

// Codes, in X-Alter-Error and the body's "error".
const (
	BadRequest        = "bad_request"
	GrantUnavailable  = "grant_unavailable"
	PolicyDenied      = "policy_denied"
	PassthroughDenied = "passthrough_denied"
	UpstreamError     = "upstream_error"
	UpstreamTimeout   = "upstream_timeout"
	StoreUnavailable  = "store_unavailable"
	AuditUnavailable  = "audit_unavailable"
	TooLarge          = "request_too_large"
	ProxyAuthRequired = "proxy_auth_required"
	Internal          = "internal_error"
)

// DestinationNotAllowed: the proxy credentials name a profile that is an
// egress allowlist (--deny-unmatched), and none of its grants reaches the
// request's or the CONNECT's target.
const DestinationNotAllowed = "destination_not_allowed"

// Governing rules (issue 18): a grant's rate or quota is used up
// (429, with Retry-After), or its approval rule holds the request.
const (
	RateLimited = "rate_limited"
	// ApprovalPending: the request waits for a person's decision; the body
	// names the approval (approval_id, expires_at). Retry it, or name the
	// approval in X-Alter-Approval, once it is approved.
	ApprovalPending = "approval_pending"
	// ApprovalDenied: a person refused the request.
	ApprovalDenied = "approval_denied"
)

// CredentialUnavailable: the grant's credential is minted (an OAuth2 token,
// a GitHub App installation token, a signed JWT) and no token could be
// had: the token endpoint failed, timed out or refused the stored secret.
// The answer is 502 and nothing is forwarded.
const CredentialUnavailable = "credential_unavailable"

// Reasons for credential_unavailable, in the body's "reason".
const (
	ReasonTokenEndpointUnreachable = "token_endpoint_unreachable"
	ReasonTokenEndpointTimeout     = "token_endpoint_timeout"
	ReasonTokenEndpointRejected    = "token_endpoint_rejected"
	ReasonRefreshTokenRejected     = "refresh_token_rejected"
	ReasonTokenEndpointBadAnswer   = "token_endpoint_bad_answer"
	ReasonCredentialInvalid        = "credential_invalid"
)

// All lists every code, for tests that hold other lists (other SDKs, the
// docs) to this one.
var All = []string{BadRequest, GrantUnavailable, PolicyDenied, PassthroughDenied, UpstreamError,
	UpstreamTimeout, StoreUnavailable, AuditUnavailable, TooLarge, ProxyAuthRequired, Internal, DestinationNotAllowed,
	RateLimited, ApprovalPending, ApprovalDenied, CredentialUnavailable}

// Reasons for upstream_error and upstream_timeout, in the body's "reason".
const (
	ReasonDNS           = "dns"                // the name does not resolve
	ReasonRefused       = "connection_refused" // nothing listens on the port
	ReasonUnreachable   = "unreachable"        // no route to the host or network
	ReasonCertificate   = "tls_certificate"    // the upstream's certificate is not trusted
	ReasonTLS           = "tls_handshake"      // the handshake failed otherwise
	ReasonClosed        = "connection_closed"  // the upstream hung up before answering
	ReasonProtocol      = "protocol"           // the answer was not valid HTTP
	ReasonConnect       = "connect_timeout"    // no connection within upstream.dial_timeout
	ReasonResponse      = "response_timeout"   // connected, but no answer in time
	ReasonUpstreamProxy = "upstream_proxy"     // upstream.proxy could not be reached or refused the CONNECT
)

// Header names of the sidecar's protocol.
const (
	HeaderGrant     = "X-Alter-Grant"      // the application names its grant
	HeaderReason    = "X-Alter-Reason"     // free text for the audit record
	HeaderError     = "X-Alter-Error"      // the code of an answer the sidecar made up
	HeaderRequestID = "X-Alter-Request-Id" // the audit record's request id
	HeaderApproval  = "X-Alter-Approval"   // the application names the approval its retry uses
)

// Call context: headers an application may add to say which run, thread
// and tool a request belongs to (an AI agent's run and tool call, a batch
// job's run). The sidecar records them in the audit record and strips
// them, like every X-Alter-* header; a value longer than
// MaxCallContextBytes is refused with BadRequest naming the header.
const (
	HeaderRunID    = "X-Alter-Run-Id"
	HeaderThreadID = "X-Alter-Thread-Id"
	HeaderTool     = "X-Alter-Tool"

	MaxCallContextBytes = 128
)

// HeaderTraceparent is the W3C Trace Context header. It is not ours: the
// sidecar forwards it untouched and records the trace id of a valid one.
const HeaderTraceparent = "traceparent"
