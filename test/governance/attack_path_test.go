package governance

import (
	"net/http"
	"testing"
)

// A path prefix in an approval rule is matched the way the upstream might
// read the path: a spelling of a held path that some servers treat as that
// path is held too (or refused), never forwarded without approval. Where
// an allow rule fails closed by not matching, an approval rule fails
// closed by matching.
func TestApprovalPrefixCannotBeSidesteppedBySpelling(t *testing.T) {
	e := newEnv(t, options{})
	g := e.grant(t, "--require-approval", "POST", "--approval-path-prefix", "/v1/refunds")
	e.startProxy()
	c := e.client(g)
	for _, path := range []string{
		"/v1/refunds",
		"/v1/refunds/",
		"/v1/refunds/1",
		"/v1/%72efunds",
		"/v1/refunds%2F1",
		"//v1/refunds",
		"/v1/./refunds",
		"/v1/x/../refunds",
		"/v1/refunds;jsessionid=1",
		"/v1;x/refunds",
		"/v1/refunds;/1",
		"/v1/refunds%3Bx",
		"/v1/refunds?x=1",
	} {
		t.Run(path, func(t *testing.T) {
			a := e.call(t, c, "POST", path, `{}`, "Prefer", "respond-async")
			if a.status != http.StatusAccepted && a.status != http.StatusBadRequest {
				t.Fatalf("POST %s: %d %s, want it held (202) or refused (400)", path, a.status, a.body)
			}
		})
	}
	if n := e.up.bytes.Load(); n != 0 {
		t.Fatalf("the stand-in received %d bytes", n)
	}
	if a := e.call(t, c, "POST", "/v1/refundsx", `{}`); a.status != 200 {
		t.Fatalf("a path outside the prefix: %d %s", a.status, a.body)
	}
}
