package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzVerify feeds arbitrary bytes to the verifier and to a sink resuming
// them: neither may panic, and a log that verifies must still verify
// after the sink appends to it.
func FuzzVerify(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(fuzzDir(t), "audit.log")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, verr := VerifyFiles(path)
		s, err := NewDurableSink(path, DurableOptions{})
		if err != nil {
			return
		}
		werr := s.Write(chainRecord(1))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if verr == nil && werr == nil {
			if _, err := Verify(path); err != nil {
				t.Fatalf("a log that verified no longer does after one append: %v", err)
			}
		}
	})
}

// fuzzDir is a fresh directory, on tmpfs when there is one: the sink
// fsyncs, and fuzzing runs it many thousand times.
func fuzzDir(t *testing.T) string {
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("/dev/shm", "alter-audit-fuzz-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func addSeeds(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.log")
	writeLog(f, path, DurableOptions{}, 0, 3)
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	lines := bytes.SplitAfter(good, []byte("\n"))
	f.Add(good)
	f.Add(good[:len(good)-7])                                                      // torn
	f.Add(append(append(append([]byte{}, lines[1]...), lines[0]...), lines[2]...)) // swapped
	f.Add(bytes.Replace(good, []byte(`"seq":2`), []byte(`"seq":-2`), 1))
	f.Add(bytes.Replace(good, []byte(`"seq":2`), []byte(`"seq":18446744073709551615`), 1))
	f.Add([]byte{})
	f.Add([]byte("\n"))
	f.Add([]byte("{}\n"))
	f.Add([]byte("\x00\x00\x00"))
	f.Add([]byte(`{"ts":"2025-03-04T05:06:07Z","seq":1,"prev":"` + Genesis + `","file_start":true}` + "\n"))

}
