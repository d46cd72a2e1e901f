package vault

import (
	"context"
	"fmt"
	"net/http"
)

// CallContext says what a request belongs to: the run (an AI agent's run,
// a batch job), the thread or conversation within it, and the tool that
// made the call. The sidecar writes it into the audit record (run_id,
// thread_id, tool), where `alter audit tail --run-id/--tool` and the
// portal filter on it, and strips it before forwarding. It is the
// application's word, recorded as such: it grants nothing.
//
// Each value is at most MaxCallContextBytes; the SDK refuses a longer one
// before sending (the sidecar would answer bad_request). Empty fields are
// not sent. Never put a secret in it.
type CallContext struct {
	RunID    string
	ThreadID string
	Tool     string
}

// WithCallContext sets the call context of one Request.
func WithCallContext(cc CallContext) RequestOption {
	return func(r *http.Request) { cc.set(r.Header) }
}

type callContextKey struct{}

// ContextWithCall returns a copy of ctx carrying cc. A request made with
// it through the Client's RoundTripper or Transport carries cc in its
// headers unless it sets them itself, so code that hands an *http.Client
// to an API SDK can still say which tool call each request belongs to.
func ContextWithCall(ctx context.Context, cc CallContext) context.Context {
	return context.WithValue(ctx, callContextKey{}, cc)
}

func (cc CallContext) set(h http.Header) {
	for _, f := range cc.fields() {
		if f.value != "" {
			h.Set(f.name, f.value)
		}
	}
}

func (cc CallContext) fields() [3]struct{ name, value string } {
	return [3]struct{ name, value string }{{HeaderRunID, cc.RunID}, {HeaderThreadID, cc.ThreadID}, {HeaderTool, cc.Tool}}
}

// setCallContext adds the context's call context to out where out sets no
// header of its own, and checks every call-context value's length. The
// error names the header, never the value.
func setCallContext(out *http.Request) error {
	cc, _ := out.Context().Value(callContextKey{}).(CallContext)
	for _, f := range cc.fields() {
		if f.value != "" && len(out.Header.Values(f.name)) == 0 {
			out.Header.Set(f.name, f.value)
		}
		for _, v := range out.Header.Values(f.name) {
			if len(v) > MaxCallContextBytes {
				return fmt.Errorf("vault: %s is %d bytes, at most %d", f.name, len(v), MaxCallContextBytes)
			}
		}
	}
	return nil
}
