package vault

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/alter-sidecar/alter/errcode"
)

// Error codes the sidecar puts in X-Alter-Error and the JSON body: the
// contract defined in package errcode, which imports nothing, so an
// application does not link the proxy.
const (
	CodeBadRequest        = errcode.BadRequest
	CodeGrantUnavailable  = errcode.GrantUnavailable
	CodePolicyDenied      = errcode.PolicyDenied
	CodePassthroughDenied = errcode.PassthroughDenied
	CodeUpstreamError     = errcode.UpstreamError
	CodeUpstreamTimeout   = errcode.UpstreamTimeout
	CodeStoreUnavailable  = errcode.StoreUnavailable
	CodeAuditUnavailable  = errcode.AuditUnavailable
	CodeTooLarge          = errcode.TooLarge
	CodeProxyAuthRequired = errcode.ProxyAuthRequired
	CodeInternal          = errcode.Internal
	// CodeDestinationNotAllowed: the proxy credentials name a profile that
	// refuses hosts none of its grants covers.
	CodeDestinationNotAllowed = errcode.DestinationNotAllowed
	// CodeCredentialUnavailable: the grant's credential is minted (OAuth2,
	// GitHub App, JWT) and the proxy could not get a token (502).
	CodeCredentialUnavailable = errcode.CredentialUnavailable
	// The governing rules: a rate or quota used up (429 with Retry-After),
	// a request held for a person's approval, or refused by one.
	CodeRateLimited     = errcode.RateLimited
	CodeApprovalPending = errcode.ApprovalPending
	CodeApprovalDenied  = errcode.ApprovalDenied
)

// Header names shared with the sidecar.
const (
	HeaderGrant     = errcode.HeaderGrant
	HeaderReason    = errcode.HeaderReason
	HeaderError     = errcode.HeaderError
	HeaderRequestID = errcode.HeaderRequestID
	// HeaderApproval names the approval a held request waits for; a
	// retry that sends it back uses that approval once it is granted.
	HeaderApproval = errcode.HeaderApproval

	// The call context (see CallContext).
	HeaderRunID    = errcode.HeaderRunID
	HeaderThreadID = errcode.HeaderThreadID
	HeaderTool     = errcode.HeaderTool
)

// MaxCallContextBytes is the longest value of each call-context header
// the sidecar accepts; the SDK refuses a longer one before sending.
const MaxCallContextBytes = errcode.MaxCallContextBytes

// ProxyError is a refusal made by the sidecar, not by the upstream API.
// Every typed error in this package unwraps to one, so
// errors.As(err, new(*vault.ProxyError)) catches them all.
type ProxyError struct {
	Status    int    // HTTP status the sidecar answered with
	Code      string // e.g. "bad_request"; see the Code constants
	Message   string // the sidecar's explanation, written for clients (never a secret)
	Rule      string // the policy rule that refused, for policy_denied
	Reason    string // what failed upstream, for upstream_error/upstream_timeout: dns, connection_refused, tls_certificate, ...
	RequestID string // the audit record's request id, when the sidecar sent one
}

func (e *ProxyError) Error() string {
	s := "alter sidecar refused the request: " + e.Code
	if e.Rule != "" {
		s += " (rule " + e.Rule + ")"
	}
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	s += " [status " + strconv.Itoa(e.Status)
	if e.RequestID != "" {
		s += ", request " + e.RequestID
	}
	return s + "]"
}

// GrantUnavailableError: the grant is unknown, revoked or expired (the
// sidecar answers all three identically). Retrying will not help.
type GrantUnavailableError struct{ *ProxyError }

// PolicyDeniedError: a rule of the grant refused the request. Rule names
// it: destination, source_ip, actor, time_window, method or path.
type PolicyDeniedError struct {
	*ProxyError
	Rule string
}

// UpstreamError: the sidecar could not reach the upstream, its certificate
// did not verify, or (Timeout) it sent no response headers in time.
type UpstreamError struct {
	*ProxyError
	Timeout bool
}

// StoreUnavailableError: the sidecar cannot read its credential store; a
// retry may succeed once the operator fixes it.
type StoreUnavailableError struct{ *ProxyError }

// AuditUnavailableError: the sidecar's durable audit log cannot be written,
// so nothing was forwarded.
type AuditUnavailableError struct{ *ProxyError }

// ProxyAuthRequiredError: the sidecar requires client authentication and
// none, or a wrong one, was sent (see WithProxyAuth).
type ProxyAuthRequiredError struct{ *ProxyError }

// CredentialUnavailableError: the grant's credential is minted and the
// sidecar could not get a token; Reason says why (token_endpoint_rejected,
// refresh_token_rejected, ...). Nothing was sent upstream.
type CredentialUnavailableError struct{ *ProxyError }

// RateLimitedError: the grant's rate or quota is used up. RetryAfter is
// when the sidecar says a retry can succeed (zero if it did not say).
type RateLimitedError struct {
	*ProxyError
	RetryAfter time.Duration
}

// ApprovalPendingError: the request waits for a person's approval.
// Retry the same request with ApprovalID in HeaderApproval (or simply
// again) once it is approved; ExpiresAt is when the approval lapses
// (zero if the sidecar did not say).
type ApprovalPendingError struct {
	*ProxyError
	ApprovalID string
	ExpiresAt  time.Time
}

// ApprovalDeniedError: a person refused the request; Note is what they
// wrote, if anything.
type ApprovalDeniedError struct {
	*ProxyError
	ApprovalID string
	Note       string
}

func (e *GrantUnavailableError) Unwrap() error      { return e.ProxyError }
func (e *CredentialUnavailableError) Unwrap() error { return e.ProxyError }
func (e *RateLimitedError) Unwrap() error           { return e.ProxyError }
func (e *ApprovalPendingError) Unwrap() error       { return e.ProxyError }
func (e *ApprovalDeniedError) Unwrap() error        { return e.ProxyError }
func (e *PolicyDeniedError) Unwrap() error          { return e.ProxyError }
func (e *UpstreamError) Unwrap() error              { return e.ProxyError }
func (e *StoreUnavailableError) Unwrap() error      { return e.ProxyError }
func (e *AuditUnavailableError) Unwrap() error      { return e.ProxyError }
func (e *ProxyAuthRequiredError) Unwrap() error     { return e.ProxyError }

// maxErrorBody bounds what is read of a refusal: the sidecar's bodies are a
// few hundred bytes, and anything larger is not one of them.
const maxErrorBody = 64 << 10

// checkResponse returns the typed error for a response the sidecar made up
// (it carries X-Alter-Error), consuming and closing its body; any other
// response is the upstream's and is returned untouched with a nil error.
// The sidecar strips X-Alter-* from upstream answers, so an upstream cannot
// forge one.
func checkResponse(resp *http.Response) error {
	code := resp.Header.Get(HeaderError)
	if code == "" {
		return nil
	}
	defer resp.Body.Close()
	var body struct {
		Error   string `json:"error"`
		Message string `json:"message"`
		Rule    string `json:"rule"`
		Reason  string `json:"reason"`
		// approval_pending and approval_denied
		ApprovalID string    `json:"approval_id"`
		ExpiresAt  time.Time `json:"expires_at"`
		Note       string    `json:"note"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = json.Unmarshal(data, &body) // a malformed body still leaves the header's code
	pe := &ProxyError{Status: resp.StatusCode, Code: code, Message: body.Message,
		Rule: body.Rule, Reason: body.Reason, RequestID: resp.Header.Get(HeaderRequestID)}
	if pe.Message == "" {
		pe.Message = http.StatusText(resp.StatusCode)
	}
	approvalID := body.ApprovalID
	if approvalID == "" {
		approvalID = resp.Header.Get(HeaderApproval)
	}
	return typed(pe, governing{approvalID: approvalID, expiresAt: body.ExpiresAt, note: body.Note,
		retryAfter: retryAfter(resp.Header.Get("Retry-After"))})
}

// governing is what a refusal of the governing rules carries beside the
// ProxyError's fields: the approval (body, or X-Alter-Approval) and when
// to retry.
type governing struct {
	approvalID string
	expiresAt  time.Time
	note       string
	retryAfter time.Duration
}

// retryAfter reads a Retry-After of seconds (what the sidecar sends);
// anything else is zero.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// typed wraps pe in the error type for its code.
func typed(pe *ProxyError, g governing) error {
	switch pe.Code {
	case CodeRateLimited:
		return &RateLimitedError{ProxyError: pe, RetryAfter: g.retryAfter}
	case CodeApprovalPending:
		return &ApprovalPendingError{ProxyError: pe, ApprovalID: g.approvalID, ExpiresAt: g.expiresAt}
	case CodeApprovalDenied:
		return &ApprovalDeniedError{ProxyError: pe, ApprovalID: g.approvalID, Note: g.note}
	case CodeCredentialUnavailable:
		return &CredentialUnavailableError{pe}
	case CodeGrantUnavailable:
		return &GrantUnavailableError{pe}
	case CodePolicyDenied:
		return &PolicyDeniedError{ProxyError: pe, Rule: pe.Rule}
	case CodeUpstreamError, CodeUpstreamTimeout:
		return &UpstreamError{ProxyError: pe, Timeout: pe.Code == CodeUpstreamTimeout}
	case CodeStoreUnavailable:
		return &StoreUnavailableError{pe}
	case CodeAuditUnavailable:
		return &AuditUnavailableError{pe}
	case CodeProxyAuthRequired:
		return &ProxyAuthRequiredError{pe}
	}
	return pe
}
