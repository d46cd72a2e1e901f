package audit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// chainRecord is the i-th record of a test log: fixed times, so files
// compare byte for byte between runs.
func chainRecord(i int) Record {
	r := fullRecord()
	r.Time = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC).Add(time.Duration(i) * time.Second)
	r.RequestID = fmt.Sprintf("req-%03d", i)
	r.Phase = PhaseRequest
	if i%2 == 1 {
		r.Phase = PhaseResponse
	}
	return r
}

// openSink opens a durable sink that the test closes at its end.
func openSink(t testing.TB, path string, opts DurableOptions) *DurableSink {
	t.Helper()
	s, err := NewDurableSink(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// writeLog writes records [from, to) to a sink on path and closes it.
func writeLog(t testing.TB, path string, opts DurableOptions, from, to int) {
	t.Helper()
	s := openSink(t, path, opts)
	for i := from; i < to; i++ {
		if err := s.Write(chainRecord(i)); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// fileLines returns the file's lines without their newlines.
func fileLines(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

// writeLines replaces the file with lines, each ending in a newline.
func writeLines(t testing.TB, path string, lines [][]byte) {
	t.Helper()
	var b []byte
	for _, l := range lines {
		b = append(append(b, l...), '\n')
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustEntry(t testing.TB, line []byte) Entry {
	t.Helper()
	e, err := parseChained(line)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return e
}

func tempLog(t testing.TB) string { return filepath.Join(t.TempDir(), "audit.log") }
