package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/alter-sidecar/alter/errcode"
	"github.com/alter-sidecar/alter/policy"
)

// Error codes, as the client sees them in the JSON body and in the
// X-Alter-Error header: the public contract, defined in errcode.
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
)

// HeaderError carries the error code on every response the proxy makes up.
const HeaderError = errcode.HeaderError

// HeaderRequestID carries the audit record's request id back to the client.
const HeaderRequestID = errcode.HeaderRequestID

// failure is a refusal the proxy answers itself. Its message is written for
// the client: it must never contain a secret, a query string or an internal
// address. Detail for operators goes to the log, not here.
type failure struct {
	status  int
	code    string
	message string
	rule    string // the policy rule, for policy_denied
	reason  string // what failed upstream, for upstream_error and upstream_timeout
	// retryAfter, when positive, is sent as Retry-After (seconds).
	retryAfter int
	// held names the approval a request waits for (approval_pending,
	// approval_denied), in the body and in X-Alter-Approval.
	held *heldApproval
}

// heldApproval is what a client learns of the approval its request waits
// for: enough to retry with it, nothing of who decided.
type heldApproval struct {
	ID        string     `json:"approval_id"`
	Status    string     `json:"status"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Note      string     `json:"note,omitempty"` // the decision's note, on a denial
}

var (
	errGrantUnavailable = failure{status: http.StatusForbidden, code: CodeGrantUnavailable, message: "the grant is unknown, revoked or expired"}
	errStoreUnavailable = failure{status: http.StatusServiceUnavailable, code: CodeStoreUnavailable, message: "the credential store is unavailable"}
	errAuditUnavailable = failure{status: http.StatusServiceUnavailable, code: CodeAuditUnavailable, message: "the audit log cannot be written"}
	errUpstream         = failure{status: http.StatusBadGateway, code: CodeUpstreamError, message: "the upstream server could not be reached or failed"}
	errUpstreamTimeout  = failure{status: http.StatusGatewayTimeout, code: CodeUpstreamTimeout, message: "the upstream server did not answer in time", reason: ReasonResponse}
	errBodyTooLarge     = failure{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge, message: "the request body is larger than this grant can sign (max_signed_body)"}
	errBadBody          = failure{status: http.StatusBadRequest, code: CodeBadRequest, message: "the request body ended early or is malformed (chunked encoding); the upstream received it truncated"}
	errInternal         = failure{status: http.StatusInternalServerError, code: CodeInternal, message: "the proxy could not prepare the request"}
	errProxyAuth        = failure{status: http.StatusProxyAuthRequired, code: CodeProxyAuthRequired, message: "this proxy needs Proxy-Authorization (Basic or Bearer)"}
	errPassthrough      = failure{status: http.StatusForbidden, code: CodePassthroughDenied, message: "requests without an X-Alter-Grant header are not allowed through this proxy"}
	// errDestinationNotAllowed: a profile that denies unmatched targets
	// reaches no grant here. Its rule is the destination's.
	errDestinationNotAllowed = failure{status: http.StatusForbidden, code: errcode.DestinationNotAllowed, message: "the proxy credentials allow only the hosts their grants cover", rule: policy.RuleDestination}
)

func badRequest(message string) failure {
	return failure{status: http.StatusBadRequest, code: CodeBadRequest, message: message}
}

func policyDenied(rule, reason string) failure {
	return failure{status: http.StatusForbidden, code: CodePolicyDenied, message: reason, rule: rule}
}

// write sends the failure as the answer to r on w.
func (f failure) write(w http.ResponseWriter, r *http.Request) {
	resp := f.response(r, "")
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Rule    string `json:"rule,omitempty"`
	Reason  string `json:"reason,omitempty"`
	*heldApproval
}

// response builds the proxy's answer for a failure.
func (f failure) response(req *http.Request, requestID string) *http.Response {
	body, _ := json.Marshal(errorBody{Error: f.code, Message: f.message, Rule: f.rule, Reason: f.reason, heldApproval: f.held})
	body = append(body, '\n')
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set(HeaderError, f.code)
	if requestID != "" {
		h.Set(HeaderRequestID, requestID)
	}
	if f.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(f.retryAfter))
	}
	if f.held != nil {
		h.Set(errcode.HeaderApproval, f.held.ID)
	}
	return &http.Response{
		Status:        strconv.Itoa(f.status) + " " + http.StatusText(f.status),
		StatusCode:    f.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
