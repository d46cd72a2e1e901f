package portal

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/server/storage"
)

// TestAuditFiltersOnCallContext: the audit page filters on run id and
// tool, shows the call context escaped (it is the client's text), keeps
// the filters in the pager's links, and refuses a filter longer than any
// recorded value next to its field.
func TestAuditFiltersOnCallContext(t *testing.T) {
	fake := newFake()
	h := newHarness(t, fake, false, nil)
	h.login()
	now := time.Now()
	for i, r := range []struct{ run, tool, path string }{
		{"run-7", "web_search", "/one"},
		{"run-7", "<script>alert(1)</script>", "/two"},
		{"run-8", "web_search", "/three"},
		{"", "", "/four"},
	} {
		body, _ := json.Marshal(map[string]any{"method": "GET", "host": "api.example.com", "path": r.path, "status": 200,
			"run_id": r.run, "tool": r.tool, "thread_id": "th-1", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"})
		fake.audit = append(fake.audit, storage.AuditRecord{ID: r.path, Source: "billing/sc1", Time: now.Add(time.Duration(i) * time.Second),
			Decision: "allow", RunID: r.run, Tool: r.tool, Body: body})
	}
	for _, tt := range []struct {
		name, query string
		want, not   []string
	}{
		{"run", "?run_id=run-7", []string{"/one", "/two"}, []string{"/three", "/four"}},
		{"tool", "?tool=web_search", []string{"/one", "/three"}, []string{"/two", "/four"}},
		{"run and tool", "?run_id=run-7&tool=web_search", []string{"/one", "run <code>run-7</code>", "thread <code>th-1</code>",
			"trace <code>4bf92f3577b34da6a3ce929d0e0e4736</code>", `value="run-7"`, `value="web_search"`}, []string{"/two", "/three"}},
		{"escaped", "?tool=%3Cscript%3Ealert(1)%3C%2Fscript%3E", []string{"/two", "&lt;script&gt;alert(1)&lt;/script&gt;"},
			[]string{"<script>alert(1)</script>", "/one"}},
		{"no match", "?run_id=run-9", []string{"No audit records match."}, []string{"/one"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.get(Prefix + "/audit" + tt.query)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			for _, s := range tt.want {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(body, s) {
					t.Errorf("page has %q", s)
				}
			}
		})
	}
	// A later page links back to the newest records with the same filters.
	if _, body := h.get(Prefix + "/audit?run_id=run-7&tool=web_search&cursor=c"); !strings.Contains(body, "&amp;run_id=run-7&amp;tool=web_search&amp;event=\">Newest records") {
		t.Error("the pager's link drops the call-context filters")
	}
	resp, body := h.get(Prefix + "/audit?run_id=" + strings.Repeat("r", 129))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="e-run"`) {
		t.Errorf("over-long run id: %d, error not next to the field", resp.StatusCode)
	}
}
