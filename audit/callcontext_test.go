package audit

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestRecordCallContext: the call-context fields are written when set,
// left out when empty (so a record without them is byte for byte what it
// was before they existed), escaped like all client text and capped at
// MaxContextBytes.
func TestRecordCallContext(t *testing.T) {
	exact := strings.Repeat("r", MaxContextBytes)
	for _, tt := range []struct {
		name string
		in   string
		want string // "" means: the key is absent
	}{
		{"empty is omitted", "", ""},
		{"plain", "run-42", "run-42"},
		{"exactly the cap", exact, exact},
		{"newline escaped", "a\nb", `a\nb`},
		{"tab escaped", "a\tb", `a\tb`},
		{"NUL and escape", "a\x00\x1b[31m", `a\x00\x1b[31m`},
		{"invalid UTF-8", "a\xffb", `a\xffb`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"escaping past the cap is cut", strings.Repeat("\x01", MaxContextBytes),
			strings.Repeat(`\x01`, (MaxContextBytes-len(ellipsis))/4) + ellipsis},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := Record{Decision: DecisionAllow, RunID: tt.in, ThreadID: tt.in, Tool: tt.in, TraceID: tt.in}
			got := encode(t, r)
			for _, k := range []string{FieldRunID, FieldThreadID, FieldTool, FieldTraceID} {
				v, ok := got[k]
				if tt.want == "" {
					if ok {
						t.Errorf("%s = %#v, want it omitted", k, v)
					}
					continue
				}
				s, _ := v.(string)
				if s != tt.want {
					t.Errorf("%s = %q, want %q", k, s, tt.want)
				}
				if len(s) > MaxContextBytes {
					t.Errorf("%s is %d bytes, over %d", k, len(s), MaxContextBytes)
				}
			}
		})
	}
}

// TestChainWithAndWithoutCallContext: one durable chain holding records
// without the call-context fields (as older sidecars wrote them) and
// records with them verifies, and reads back field for field.
func TestChainWithAndWithoutCallContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	s := openSink(t, path, DurableOptions{})
	for i := 0; i < 4; i++ {
		r := chainRecord(i)
		if i%2 == 1 {
			r.RunID, r.ThreadID, r.Tool = "run-1", "thread\n1", "search"
			r.TraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		}
		if err := s.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(path)
	if err != nil || rep.Records != 4 {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	entries, bad, err := ReadEntries(path)
	if err != nil || bad != 0 || len(entries) != 4 {
		t.Fatalf("ReadEntries: %d entries, %d bad, %v", len(entries), bad, err)
	}
	for i, e := range entries {
		line := string(e.Raw)
		if i%2 == 0 {
			if e.RunID != "" || e.ThreadID != "" || e.Tool != "" || e.TraceID != "" || strings.Contains(line, `"run_id"`) {
				t.Errorf("record %d has call context: %s", i, line)
			}
			continue
		}
		if e.RunID != "run-1" || e.ThreadID != `thread\n1` || e.Tool != "search" || e.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("record %d read back as %+v", i, e)
		}
	}
}
