package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func fullRecord() Record {
	return Record{
		Time:          time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.FixedZone("X", 3600)),
		RequestID:     "req-1",
		GrantID:       "6f1c2a8e-0000-4000-8000-000000000001",
		ParentGrantID: "6f1c2a8e-0000-4000-8000-000000000000",
		SecretName:    "stripe-prod",
		Provider:      "stripe",
		Actor:         "billing-svc",
		SourceIP:      "10.0.0.7",
		Method:        "POST",
		Scheme:        "https",
		Host:          "api.stripe.com",
		Port:          443,
		Path:          "/v1/charges",
		QueryKeys:     []string{"expand", "limit"},
		Reason:        "nightly\nbilling",
		Decision:      DecisionDeny,
		Rule:          "methods",
		ErrorCode:     "policy_denied",
		Status:        403,
		BytesIn:       12,
		BytesOut:      345,
		Latency:       1500 * time.Microsecond,
	}
}

// bufSyncer is a WriteSyncer over a buffer, for inspecting the encoded line.
type bufSyncer struct{ bytes.Buffer }

func (*bufSyncer) Sync() error { return nil }

func encode(t *testing.T, r Record) map[string]any {
	t.Helper()
	var buf bufSyncer
	s := newZapSink(&buf, nil)
	if err := s.Write(r); err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Fatalf("not exactly one line: %q", line)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("decode %q: %v", line, err)
	}
	return m
}

func TestRecordJSONShape(t *testing.T) {
	got := encode(t, fullRecord())
	want := map[string]any{
		FieldTime:          "2025-03-04T04:06:07.890123456Z",
		FieldMessage:       MessageGrantUse,
		FieldRequestID:     "req-1",
		FieldGrantID:       "6f1c2a8e-0000-4000-8000-000000000001",
		FieldParentGrantID: "6f1c2a8e-0000-4000-8000-000000000000",
		FieldSecretName:    "stripe-prod",
		FieldProvider:      "stripe",
		FieldActor:         "billing-svc",
		FieldSourceIP:      "10.0.0.7",
		FieldMethod:        "POST",
		FieldScheme:        "https",
		FieldHost:          "api.stripe.com",
		FieldPort:          443.0,
		FieldPath:          "/v1/charges",
		FieldQueryKeys:     []any{"expand", "limit"},
		FieldReason:        `nightly\nbilling`,
		FieldDecision:      "deny",
		FieldRule:          "methods",
		FieldError:         "policy_denied",
		FieldStatus:        403.0,
		FieldBytesIn:       12.0,
		FieldBytesOut:      345.0,
		FieldLatencyMS:     1.5,
	}
	if !reflect.DeepEqual(got, want) {
		for k := range mergeKeys(got, want) {
			if !reflect.DeepEqual(got[k], want[k]) {
				t.Errorf("%s: got %#v, want %#v", k, got[k], want[k])
			}
		}
	}
}

func mergeKeys(a, b map[string]any) map[string]bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}

func TestRecordJSONEmptyOptionals(t *testing.T) {
	got := encode(t, Record{Decision: DecisionAllow})
	if _, ok := got[FieldParentGrantID]; ok {
		t.Error("empty parent_grant_id not omitted")
	}
	if keys, ok := got[FieldQueryKeys].([]any); !ok || len(keys) != 0 {
		t.Errorf("query_keys = %#v, want []", got[FieldQueryKeys])
	}
	if ts, _ := got[FieldTime].(string); !strings.HasSuffix(ts, "Z") {
		t.Errorf("zero time not filled with now in UTC: %q", ts)
	}
}

func TestRecordEscapesClientText(t *testing.T) {
	r := fullRecord()
	r.Reason = "ok\n{\"decision\":\"allow\"}" + strings.Repeat("x", 1000)
	r.Path = "/a\r\nb" + strings.Repeat("p", 5000)
	r.Host = "evil\x00.com"
	r.QueryKeys = []string{"k\ny"}
	got := encode(t, r)
	if s := got[FieldReason].(string); len(s) > MaxReasonBytes || !strings.HasPrefix(s, `ok\n{"decision"`) || !strings.HasSuffix(s, "…") {
		t.Errorf("reason = %q", s)
	}
	if s := got[FieldPath].(string); len(s) > MaxPathBytes || !strings.HasPrefix(s, `/a\r\nb`) {
		t.Errorf("path = %.40q (len %d)", s, len(s))
	}
	if s := got[FieldHost].(string); s != `evil\x00.com` {
		t.Errorf("host = %q", s)
	}
	if keys := got[FieldQueryKeys].([]any); keys[0] != `k\ny` {
		t.Errorf("query key = %q", keys[0])
	}
	if got[FieldDecision] != DecisionDeny {
		t.Error("reason text overrode the decision")
	}
}

func TestFileSink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	s, err := NewZapSink(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		r := fullRecord()
		r.RequestID = fmt.Sprint("req-", i)
		if err := s.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(fullRecord()); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	lines := readLines(t, path)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	for i, l := range lines {
		if l[FieldRequestID] != fmt.Sprint("req-", i) {
			t.Errorf("line %d request_id %v", i, l[FieldRequestID])
		}
	}

	// Reopening appends.
	s, err = NewZapSink(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Write(fullRecord())
	s.Close()
	if n := len(readLines(t, path)); n != 4 {
		t.Errorf("after reopen %d lines, want 4", n)
	}
}

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d %q: %v", len(out)+1, sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestNewZapSinkErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-dir", "audit.log")
	if _, err := NewZapSink(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing dir: %v", err)
	}
	if _, err := NewZapSink(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("path is a directory: %v", err)
	}
	if _, err := NewZapSink(""); err == nil {
		t.Error("empty path accepted")
	}
	for _, std := range []string{"stdout", "stderr"} {
		if _, err := NewZapSink(std); err != nil {
			t.Errorf("%s: %v", std, err)
		}
	}
}

type failingSyncer struct{}

func (failingSyncer) Write([]byte) (int, error) { return 0, errors.New("disk full") }
func (failingSyncer) Sync() error               { return nil }

func TestWriteFailureSurfaces(t *testing.T) {
	t.Run("failing writer", func(t *testing.T) {
		s := newZapSink(failingSyncer{}, nil)
		if err := s.Write(fullRecord()); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("file closed underneath", func(t *testing.T) {
		sink, err := NewZapSink(filepath.Join(t.TempDir(), "audit.log"))
		if err != nil {
			t.Fatal(err)
		}
		sink.(*zapSink).file.Close()
		// Lines are written by the group-commit writer: the failure
		// surfaces on a later Write or, at the latest, on Close.
		werr := sink.Write(fullRecord())
		for i := 0; werr == nil && i < 100; i++ {
			time.Sleep(time.Millisecond)
			werr = sink.Write(fullRecord())
		}
		if cerr := sink.Close(); !errors.Is(werr, os.ErrClosed) && !errors.Is(cerr, os.ErrClosed) {
			t.Errorf("write err = %v, close err = %v, want os.ErrClosed", werr, cerr)
		}
	})
}

func TestConcurrentWritesIntactLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	s, err := NewZapSink(path)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := fullRecord()
				r.RequestID = fmt.Sprintf("w%d-%d", w, i)
				r.Path = "/" + strings.Repeat("x", 1500) // long lines interleave if unlocked
				if err := s.Write(r); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	s.Close()
	seen := map[any]bool{}
	for _, l := range readLines(t, path) {
		seen[l[FieldRequestID]] = true
	}
	if len(seen) != workers*each {
		t.Errorf("%d distinct records, want %d", len(seen), workers*each)
	}
}

func TestMemorySink(t *testing.T) {
	m := NewMemorySink()
	r := fullRecord()
	if err := m.Write(r); err != nil {
		t.Fatal(err)
	}
	r.QueryKeys[0] = "changed"
	got := m.Records()
	if len(got) != 1 || got[0].QueryKeys[0] != "expand" {
		t.Errorf("records = %+v", got)
	}
	got[0].GrantID = "mutated"
	if m.Records()[0].GrantID == "mutated" {
		t.Error("Records does not return a copy")
	}
	boom := errors.New("boom")
	m.SetErr(boom)
	if err := m.Write(r); !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
	m.SetErr(nil)
	m.Close()
	if err := m.Write(r); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close err = %v", err)
	}
	if n := len(m.Records()); n != 1 {
		t.Errorf("%d records, want 1", n)
	}
}
