package wire

// UsesRequest asks for a lease of uses of a grant (POST /v1/sidecar/uses):
// the server counts them against the grant's rates and quotas and every
// ancestor's, for every sidecar of the app.
type UsesRequest struct {
	GrantID string `json:"grant_id"`
	// Actor is the proxy client the sidecar authenticated; the server
	// counts it on its own for per-actor limits.
	Actor string `json:"actor,omitempty"`
	Want  int    `json:"want"` // 1 to MaxLease
}

// MaxLease bounds one lease.
const MaxLease = 1000

// UsesLease is the answer: how many uses the sidecar may spend now.
// Granted 0 means refused; RetryAfterMS says when one could be granted,
// and LimitGrantID and Limit name the limit that refused.
type UsesLease struct {
	Granted      int    `json:"granted"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
	LimitGrantID string `json:"limit_grant_id,omitempty"`
	Limit        string `json:"limit,omitempty"`
}
