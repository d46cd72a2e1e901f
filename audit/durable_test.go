package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestDurableChain(t *testing.T) {
	path := tempLog(t)
	writeLog(t, path, DurableOptions{}, 0, 100)
	lines := fileLines(t, path)
	if len(lines) != 100 {
		t.Fatalf("%d lines, want 100", len(lines))
	}
	prev := Genesis
	for i, l := range lines {
		e := mustEntry(t, l)
		if e.Seq != uint64(i+1) || e.Prev != prev || e.FileStart != (i == 0) {
			t.Fatalf("line %d: seq %d prev %.8s file_start %v; want seq %d prev %.8s", i+1, e.Seq, e.Prev, e.FileStart, i+1, prev)
		}
		if want := chainRecord(i).Phase; e.Phase != want || e.RequestID != chainRecord(i).RequestID {
			t.Fatalf("line %d: phase %q request %q", i+1, e.Phase, e.RequestID)
		}
		prev = e.Hash
	}
	rep, err := Verify(path)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 100 || rep.FirstSeq != 1 || rep.LastSeq != 100 || !rep.HeadChecked || len(rep.Files) != 1 {
		t.Errorf("report %+v", rep)
	}
	if fi, err := os.Stat(HeadPath(path)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("head file: %v %v", fi, err)
	}
}

func TestDurableResumesAcrossRestarts(t *testing.T) {
	path := tempLog(t)
	for restart := range 5 {
		writeLog(t, path, DurableOptions{}, restart*4, restart*4+4)
	}
	rep, err := Verify(path)
	if err != nil || rep.Records != 20 {
		t.Fatalf("report %+v, err %v", rep, err)
	}
	for i, l := range fileLines(t, path) {
		if e := mustEntry(t, l); e.FileStart != (i == 0) {
			t.Errorf("line %d file_start %v: a restart must not start a new file", i+1, e.FileStart)
		}
	}
}

func TestDurableRotation(t *testing.T) {
	path := tempLog(t)
	opts := DurableOptions{MaxSize: 4000} // about 5 records per file
	writeLog(t, path, opts, 0, 30)
	writeLog(t, path, opts, 30, 60) // rotation state survives a restart
	files, err := Files(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 || files[len(files)-1] != path {
		t.Fatalf("files %v", files)
	}
	var next uint64 = 1
	for _, f := range files {
		fi, _ := os.Stat(f)
		if fi.Size() > opts.MaxSize {
			t.Errorf("%s has %d bytes, over MaxSize", f, fi.Size())
		}
		lines := fileLines(t, f)
		if first := mustEntry(t, lines[0]); !first.FileStart || first.Seq != next {
			t.Errorf("%s starts with seq %d file_start %v, want %d", f, first.Seq, first.FileStart, next)
		}
		if f != path && f != rotatedName(path, next) {
			t.Errorf("rotated file %s, want %s", f, rotatedName(path, next))
		}
		next += uint64(len(lines))
		// Each file verifies on its own too.
		if _, err := VerifyFiles(f); err != nil {
			t.Errorf("%s alone: %v", f, err)
		}
	}
	rep, err := Verify(path)
	if err != nil || rep.Records != 60 || len(rep.Files) != len(files) || !rep.HeadChecked {
		t.Fatalf("report %+v, err %v", rep, err)
	}

	t.Run("crash between rename and first record", func(t *testing.T) {
		// The current file is missing: the chain resumes from the newest
		// rotated file, and the head agrees.
		if err := os.Rename(path, rotatedName(path, rep.LastSeq-uint64(len(fileLines(t, path)))+1)); err != nil {
			t.Fatal(err)
		}
		writeLog(t, path, opts, 60, 61)
		if rep, err := Verify(path); err != nil || rep.Records != 61 {
			t.Fatalf("report %+v, err %v", rep, err)
		}
	})
}

func TestDurableTornLastLine(t *testing.T) {
	obs, logs := observer.New(zapcore.InfoLevel)
	path := tempLog(t)
	writeLog(t, path, DurableOptions{}, 0, 5)
	appendBytes(t, path, `{"ts":"2025-03-04T05:06:12Z","msg":"grant_use","phase":"requ`)
	if _, err := Verify(path); !isKind(err, ProblemTruncated) {
		t.Fatalf("verify before repair: %v", err)
	}
	writeLog(t, path, DurableOptions{Logger: zap.New(obs)}, 5, 7)
	if rep, err := Verify(path); err != nil || rep.Records != 7 {
		t.Fatalf("after repair: %+v %v", rep, err)
	}
	if logs.FilterMessageSnippet("torn").Len() != 1 {
		t.Errorf("the cut was not logged: %v", logs.All())
	}

	t.Run("refused when the lines before it do not verify", func(t *testing.T) {
		lines := fileLines(t, path)
		lines[2] = []byte(strings.Replace(string(lines[2]), "POST", "GET", 1))
		writeLines(t, path, lines)
		appendBytes(t, path, `{"ts":`)
		_, err := NewDurableSink(path, DurableOptions{})
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "record 3 was edited") {
			t.Fatalf("err = %v", err)
		}
	})
}

func appendBytes(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func isKind(err error, k ProblemKind) bool {
	var p *Problem
	return errors.As(err, &p) && p.Kind == k
}

func TestDurableRefusesToResumeDamage(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, path string)
		want   []string
	}{
		{"last line not a record", func(t *testing.T, path string) {
			lines := fileLines(t, path)
			lines[len(lines)-1] = []byte(`{"ts":"x"`)
			writeLines(t, path, lines)
		}, []string{"line 10", "last record is damaged"}},
		{"last records cut (head ahead)", func(t *testing.T, path string) {
			writeLines(t, path, fileLines(t, path)[:7])
		}, []string{"ends at record 7", "reached record 10", "cut from the end", HeadPath("")}},
		{"last record edited (head hash)", func(t *testing.T, path string) {
			lines := fileLines(t, path)
			lines[9] = []byte(strings.Replace(string(lines[9]), `"status":403`, `"status":200`, 1))
			writeLines(t, path, lines)
		}, []string{"record 10 does not match", "edited"}},
		{"log removed, head kept", func(t *testing.T, path string) {
			os.Remove(path)
		}, []string{"ends at record 0", "reached record 10"}},
		{"head damaged", func(t *testing.T, path string) {
			os.WriteFile(HeadPath(path), []byte("garbage\n"), 0o600)
		}, []string{"head", "damaged"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tempLog(t)
			writeLog(t, path, DurableOptions{}, 0, 10)
			tt.tamper(t, path)
			_, err := NewDurableSink(path, DurableOptions{})
			if err == nil {
				t.Fatal("opened a damaged log")
			}
			for _, w := range append(tt.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestDurableDevFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	s := openSink(t, "/dev/full", DurableOptions{})
	if err := s.Ready(); err != nil {
		t.Fatalf("ready before any write: %v", err)
	}
	for range 2 { // the failure repeats; nothing panics or wedges
		err := s.Write(chainRecord(0))
		if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "/dev/full") {
			t.Fatalf("write: %v", err)
		}
		if err := s.Ready(); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("ready: %v", err)
		}
	}
}

// faults are switches for flakyFile.
type faults struct{ write, sync, truncate atomic.Bool }

// flakyFile fails on demand like a full or broken disk: a failed write
// still leaves half the bytes behind.
type flakyFile struct {
	*os.File
	f *faults
}

var errInjected = errors.New("injected: no space left on device")

func (ff *flakyFile) Write(b []byte) (int, error) {
	if ff.f.write.Load() {
		n, _ := ff.File.Write(b[:len(b)/2])
		return n, errInjected
	}
	return ff.File.Write(b)
}

func (ff *flakyFile) Sync() error {
	if ff.f.sync.Load() {
		return errInjected
	}
	return ff.File.Sync()
}

func (ff *flakyFile) Truncate(n int64) error {
	if ff.f.truncate.Load() {
		return errInjected
	}
	return ff.File.Truncate(n)
}

func flakyOptions(f *faults) DurableOptions {
	return DurableOptions{openFile: func(path string) (logFile, error) {
		lf, err := openOSFile(path)
		if err != nil {
			return nil, err
		}
		return &flakyFile{File: lf.(*os.File), f: f}, nil
	}}
}

func TestDurableRecoversAfterFailure(t *testing.T) {
	tests := []struct {
		name      string
		set       func(*faults)
		readyFail bool // Ready's probe sees the fault too
	}{
		{"write fails halfway", func(f *faults) { f.write.Store(true) }, false},
		{"fsync fails", func(f *faults) { f.sync.Store(true) }, true},
		{"write fails and the cut back fails", func(f *faults) { f.write.Store(true); f.truncate.Store(true) }, true},
		{"fsync fails and the cut back fails", func(f *faults) { f.sync.Store(true); f.truncate.Store(true) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tempLog(t)
			var f faults
			s := openSink(t, path, flakyOptions(&f))
			for i := range 3 {
				if err := s.Write(chainRecord(i)); err != nil {
					t.Fatal(err)
				}
			}
			tt.set(&f)
			for i := range 2 {
				if err := s.Write(chainRecord(100 + i)); !errors.Is(err, errInjected) || !strings.Contains(err.Error(), path) {
					t.Fatalf("write under fault: %v", err)
				}
			}
			if err := s.Ready(); (err != nil) != tt.readyFail {
				t.Errorf("Ready under fault = %v", err)
			}
			f.write.Store(false)
			f.sync.Store(false)
			f.truncate.Store(false)
			if err := s.Ready(); err != nil {
				t.Errorf("Ready after the fault cleared: %v", err)
			}
			for i := 3; i < 6; i++ {
				if err := s.Write(chainRecord(i)); err != nil {
					t.Fatalf("write after recovery: %v", err)
				}
			}
			if err := s.Ready(); err != nil {
				t.Errorf("Ready: %v", err)
			}
			s.Close()
			rep, err := Verify(path)
			if err != nil || rep.Records != 6 {
				t.Fatalf("report %+v, err %v", rep, err)
			}
			for _, l := range fileLines(t, path) {
				if strings.Contains(string(l), "req-10") {
					t.Errorf("a record whose Write failed is in the log: %s", l)
				}
			}
		})
	}
}

func TestDurableLogRemovedWhileOpen(t *testing.T) {
	obs, logs := observer.New(zapcore.InfoLevel)
	path := tempLog(t)
	s := openSink(t, path, DurableOptions{Logger: zap.New(obs)})
	for i := range 3 {
		s.Write(chainRecord(i))
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(chainRecord(3)); err != nil {
		t.Fatalf("write after removal: %v", err)
	}
	s.Close()
	lines := fileLines(t, path)
	if e := mustEntry(t, lines[0]); len(lines) != 1 || e.Seq != 4 || !e.FileStart {
		t.Fatalf("new file: %d lines, first %+v", len(lines), e)
	}
	rep, err := Verify(path)
	if err != nil || rep.FirstSeq != 4 || !rep.HeadChecked {
		t.Errorf("report %+v, err %v", rep, err)
	}
	if logs.FilterMessageSnippet("removed or replaced").Len() != 1 {
		t.Errorf("removal not logged: %v", logs.All())
	}
}

func TestDurableLogReplacedWhileOpen(t *testing.T) {
	path := tempLog(t)
	s := openSink(t, path, DurableOptions{})
	for i := range 3 {
		s.Write(chainRecord(i))
	}
	other := tempLog(t)
	writeLog(t, other, DurableOptions{}, 0, 2) // a valid log, but not this chain
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	err := s.Write(chainRecord(3))
	if err == nil || !strings.Contains(err.Error(), "changed by someone else") {
		t.Fatalf("write into a replaced log: %v", err)
	}
	if s.Ready() == nil {
		t.Error("Ready with a replaced log")
	}
}

func TestDurableConcurrentWriters(t *testing.T) {
	path := tempLog(t)
	s := openSink(t, path, DurableOptions{MaxSize: 50_000})
	const workers, each = 8, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				r := chainRecord(i)
				r.RequestID = fmt.Sprintf("w%d-%d", w, i)
				if err := s.Write(r); err != nil {
					t.Error(err)
				}
				if i%10 == 0 {
					s.Ready()
				}
			}
		})
	}
	wg.Wait()
	s.Close()
	rep, err := Verify(path)
	if err != nil || rep.Records != workers*each {
		t.Fatalf("report %+v, err %v", rep, err)
	}
}

func TestDurableSecondProcessLocked(t *testing.T) {
	path := tempLog(t)
	openSink(t, path, DurableOptions{})
	if _, err := NewDurableSink(path, DurableOptions{}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second sink: %v", err)
	}
}

func TestDurableSyncInterval(t *testing.T) {
	path := tempLog(t)
	s := openSink(t, path, DurableOptions{SyncInterval: 5 * time.Millisecond})
	for i := range 10 {
		if err := s.Write(chainRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		h, _, _ := readHead(HeadPath(path))
		if h.Seq == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("head stuck at %d", h.Seq)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(path); err != nil || rep.Records != 10 {
		t.Fatalf("report %+v, err %v", rep, err)
	}
}

func TestNewDurableSinkErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ name, path string }{
		{"empty", ""},
		{"stdout", "stdout"},
		{"missing directory", filepath.Join(dir, "nope", "audit.log")},
		{"a directory", dir},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := NewDurableSink(tt.path, DurableOptions{}); err == nil {
				s.Close()
				t.Fatal("accepted")
			}
		})
	}
	t.Run("write after close", func(t *testing.T) {
		s := openSink(t, tempLog(t), DurableOptions{})
		s.Close()
		if err := s.Write(chainRecord(0)); !errors.Is(err, ErrClosed) {
			t.Errorf("err = %v", err)
		}
		if err := s.Ready(); !errors.Is(err, ErrClosed) {
			t.Errorf("Ready = %v", err)
		}
	})
}

func BenchmarkDurableWrite(b *testing.B) {
	for _, bb := range []struct {
		name string
		opts DurableOptions
	}{
		{"fsync each record", DurableOptions{}},
		{"fsync every 10ms", DurableOptions{SyncInterval: 10 * time.Millisecond}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			s := openSink(b, filepath.Join(b.TempDir(), "audit.log"), bb.opts)
			r := chainRecord(0)
			for b.Loop() {
				if err := s.Write(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// stallingFile is a log whose fsync waits for release once stall is set,
// like a disk that stops answering; each stalled fsync says so on
// stalled.
type stallingFile struct {
	*os.File
	stall            *atomic.Bool
	stalled, release chan struct{}
}

func (sf *stallingFile) Sync() error {
	if sf.stall.Load() {
		sf.stalled <- struct{}{}
		<-sf.release
	}
	return sf.File.Sync()
}

// TestDurableSeqWhileDiskStalls: Seq (read by every /metrics scrape)
// answers while a Write waits for an fsync that does not come back,
// so a stuck disk does not take the sidecar's metrics with it; it moves
// once the record is in.
func TestDurableSeqWhileDiskStalls(t *testing.T) {
	var stall atomic.Bool
	stalled, release := make(chan struct{}), make(chan struct{})
	path := tempLog(t)
	s := openSink(t, path, DurableOptions{openFile: func(path string) (logFile, error) {
		lf, err := openOSFile(path)
		if err != nil {
			return nil, err
		}
		return &stallingFile{File: lf.(*os.File), stall: &stall, stalled: stalled, release: release}, nil
	}})
	for i := range 3 {
		if err := s.Write(chainRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	stall.Store(true)
	written := make(chan error, 1)
	go func() { written <- s.Write(chainRecord(3)) }()
	<-stalled // the Write holds the sink, waiting for its fsync

	seq := make(chan uint64, 1)
	go func() { seq <- s.Seq() }()
	select {
	case got := <-seq:
		if got != 3 {
			t.Errorf("Seq during the stalled write = %d, want 3", got)
		}
	case <-time.After(5 * time.Second): // no event says "blocked"; far above any answer's time
		t.Error("Seq waited for the stalled fsync")
	}
	stall.Store(false)
	close(release)
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if got := s.Seq(); got != 4 {
		t.Errorf("Seq after the write = %d, want 4", got)
	}
	s.Close()
	if got := openSink(t, path, DurableOptions{}).Seq(); got != 4 {
		t.Errorf("Seq of the reopened log = %d, want 4", got)
	}
}
