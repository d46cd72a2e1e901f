package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// writeLogs writes a grant-use log and an admin log through the real
// sinks, interleaved in time.
func writeLogs(t *testing.T, dir string) (uses, admin string) {
	t.Helper()
	uses, admin = filepath.Join(dir, "audit.log"), filepath.Join(dir, "admin-audit.log")
	s, err := audit.NewDurableSink(uses, audit.DurableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 3; i++ {
		if err := s.Write(audit.Record{Time: t0.Add(time.Duration(2*i) * time.Minute), RequestID: fmt.Sprint("r", i), GrantID: "g-1",
			Actor: "=cmd|calc", Method: "GET", Host: "api.example.com", Path: "/v1/x,y\"z", Decision: audit.DecisionAllow, Status: 200}); err != nil {
			t.Fatal(err)
		}
		if err := audit.AppendAdmin(admin, audit.AdminEvent{Time: t0.Add(time.Duration(2*i+1) * time.Minute), Event: audit.EventGrantRevoke,
			EventID: fmt.Sprint("e", i), Outcome: audit.OutcomeSucceeded, Actor: "ops@host", GrantID: "g-1",
			PolicyBefore: map[string]any{"destinations": []string{"api.example.com"}}, PolicyAfter: map[string]any{"destinations": []string{"api.example.com"}}}); err != nil {
			t.Fatal(err)
		}
	}
	return uses, admin
}

func export(t *testing.T, format string, f Filter, logs ...Log) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, format)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Local(w, f, logs...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// Python's csv module reads the export with the documented columns, the
// two logs merged by time, formula-like cells defused and quoted text
// intact.
func TestCSVReadByPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	dir := t.TempDir()
	uses, admin := writeLogs(t, dir)
	out := export(t, FormatCSV, Filter{}, Log{"local", uses}, Log{"admin", admin})
	csvPath := filepath.Join(dir, "export.csv")
	if err := os.WriteFile(csvPath, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	script := `import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
print(json.dumps({"columns": list(rows[0].keys()), "rows": rows}))`
	raw, err := exec.Command(py, "-c", script, csvPath).Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var got struct {
		Columns []string
		Rows    []map[string]string
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Columns, ",") != strings.Join(Columns, ",") {
		t.Fatalf("columns %v, want %v", got.Columns, Columns)
	}
	if len(got.Rows) != 6 {
		t.Fatalf("%d rows, want 6", len(got.Rows))
	}
	for i, r := range got.Rows {
		wantEvent, wantSource := audit.EventGrantUse, "local"
		if i%2 == 1 {
			wantEvent, wantSource = audit.EventGrantRevoke, "admin"
		}
		if r["event"] != wantEvent || r["source"] != wantSource {
			t.Errorf("row %d: %s from %s, want %s from %s (merged by time)", i, r["event"], r["source"], wantEvent, wantSource)
		}
	}
	use, rev := got.Rows[0], got.Rows[1]
	if use["actor"] != "'=cmd|calc" || use["path"] != `/v1/x,y"z` || use["status"] != "200" || use["record_id"] != "local:1" {
		t.Errorf("grant use row: %v", use)
	}
	if rev["actor"] != "ops@host" || rev["outcome"] != "succeeded" || !strings.Contains(rev["policy_before"], "api.example.com") {
		t.Errorf("admin row: %v", rev)
	}
}

func TestFilters(t *testing.T) {
	uses, admin := writeLogs(t, t.TempDir())
	for _, tc := range []struct {
		name string
		f    Filter
		want int
	}{
		{"all", Filter{}, 6},
		{"event", Filter{Event: audit.EventGrantRevoke}, 3},
		{"actor", Filter{Actor: "ops@host"}, 3},
		{"grant", Filter{GrantID: "g-2"}, 0},
		{"since", Filter{Since: t0.Add(2 * time.Minute)}, 4},
		{"until", Filter{Until: t0.Add(2 * time.Minute)}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := export(t, FormatJSONL, tc.f, Log{"local", uses}, Log{"admin", admin})
			n := strings.Count(out, "\n")
			if n != tc.want {
				t.Fatalf("%d rows, want %d:\n%s", n, tc.want, out)
			}
			sc := bufio.NewScanner(strings.NewReader(out))
			for sc.Scan() {
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["time"] == nil || m["event"] == nil {
					t.Errorf("line %q: %v", sc.Text(), err)
				}
			}
		})
	}
}

// Exporting 200k records keeps the heap bounded: the rows stream through,
// none is kept. The heap is sampled every 10k rows; its peak must stay far
// below the size of the log (which it would approach if the export held
// the records).
func TestExportBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 70 MB log")
	}
	const n = 200_000
	path := filepath.Join(t.TempDir(), "admin-audit.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	for i := 0; i < n; i++ {
		fmt.Fprintf(bw, `{"ts":%q,"msg":"admin_event","event":"grant_policy","event_id":"e-%d","outcome":"succeeded","actor":"ops@host","grant_id":"g-%d","policy_before":{"destinations":["api.example.com"],"methods":["GET","POST"],"path_prefixes":["/v1/%d"]},"policy_after":{"destinations":["api.example.com"]},"seq":%d,"prev":"%064d"}`+"\n",
			t0.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), i, i, i, i+1, 0)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(path)

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	sink := &sampler{every: 10_000}
	w, err := NewWriter(sink, FormatCSV)
	if err != nil {
		t.Fatal(err)
	}
	sink.w = w
	if _, err := Local(w, Filter{}, Log{"admin", path}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Rows() != n {
		t.Fatalf("%d rows, want %d", w.Rows(), n)
	}
	growth := int64(sink.peak) - int64(base.HeapInuse)
	t.Logf("log %d MB; heap in use %d MB before, peak %d MB (%d samples)", fi.Size()>>20, base.HeapInuse>>20, sink.peak>>20, sink.samples)
	if sink.samples < n/10_000-1 {
		t.Fatalf("only %d heap samples", sink.samples)
	}
	if limit := int64(16 << 20); growth > limit || growth > fi.Size()/4 {
		t.Fatalf("heap grew by %d MB exporting a %d MB log: the export keeps records", growth>>20, fi.Size()>>20)
	}
}

// sampler discards the export, reading the heap every `every` rows.
type sampler struct {
	w       *Writer
	every   int64
	last    int64
	peak    uint64
	samples int
}

var _ io.Writer = (*sampler)(nil)

func (s *sampler) Write(p []byte) (int, error) {
	if s.w != nil && s.w.Rows()-s.last >= s.every {
		s.last = s.w.Rows()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		s.samples++
		if m.HeapInuse > s.peak {
			s.peak = m.HeapInuse
		}
	}
	return len(p), nil
}
