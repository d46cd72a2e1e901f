package attack

import (
	"strings"
	"testing"
)

// Classes 3 and 11: the call-context headers, in any spelling and with
// bytes meant to break a log line, reach the audit record escaped and
// never the upstream; traceparent reaches the upstream as sent; a value
// over 128 bytes is refused with nothing sent and is not echoed.
func TestAttackCallContext(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOpts{setup: func(e *env) {
		e.addGrant("api", "--type", "bearer", "--allow-host", "api.attack.test")
	}})
	g := e.grants["api"]
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	lines := []string{"X-Alter-Grant: " + g, "x-alter-run-id: run-\t7", "X-ALTER-THREAD-ID: th\xff1", "X-Alter-Tool: {\"decision\":\"allow\"}",
		"traceparent: " + tp}
	for kind, send := range map[string]func(...string) *resp{
		"plain": func(l ...string) *resp {
			return e.send(req(append([]string{"GET https://api.attack.test/cc HTTP/1.1", "Host: api.attack.test"}, l...)...))
		},
		"tunnel": func(l ...string) *resp {
			return e.sendTLS("api.attack.test:443", "api.attack.test", req(append([]string{"GET /cc HTTP/1.1", "Host: api.attack.test"}, l...)...))
		},
	} {
		t.Run(kind, func(t *testing.T) {
			var id string
			s := e.allowed(t, e.good, func() *resp {
				r := send(lines...)
				id = r.header.Get("X-Alter-Request-Id")
				return r
			})
			noAlterUpstream(t, s)
			if got := s.Header.Values("Traceparent"); len(got) != 1 || got[0] != tp {
				t.Errorf("upstream traceparent %q, want %q", got, tp)
			}
			var rec map[string]any
			eventually(t, func() bool { rec = readAudit(t, e.auditPath)[id]; return rec != nil })
			want := map[string]string{"run_id": `run-\t7`, "thread_id": `th\xff1`, "tool": `{"decision":"allow"}`,
				"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "decision": "allow"}
			for k, v := range want {
				if rec[k] != v {
					t.Errorf("audit %s = %q, want %q", k, rec[k], v)
				}
			}
		})
	}
	t.Run("129 bytes", func(t *testing.T) {
		long := strings.Repeat("z", 129)
		r := e.refused(t, 400, "bad_request", func() *resp {
			return e.send(absGet("https://api.attack.test/cc", "api.attack.test", g, "X-Alter-Tool: "+long))
		})
		if !strings.Contains(r.body, "X-Alter-Tool") || strings.Contains(r.body, long[:16]) {
			t.Errorf("refusal body: %s", r.body)
		}
	})
}
