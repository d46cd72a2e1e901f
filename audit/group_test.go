package audit

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

type slowWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	fail   error
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(time.Millisecond) // a slow disk, so lines pile up behind a write
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	if w.fail != nil {
		return 0, w.fail
	}
	return w.buf.Write(p)
}

func TestGroupWriterBatchesInOrderAndCompletely(t *testing.T) {
	out := &slowWriter{}
	g := newGroupWriter(out)
	const writers, each = 20, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := g.Write([]byte(fmt.Sprintf("w%02d-%02d\n", w, i))); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.buf.String()), "\n")
	if len(lines) != writers*each {
		t.Fatalf("%d lines written, want %d", len(lines), writers*each)
	}
	last := map[string]string{}
	for _, l := range lines {
		w := l[:3]
		if prev, ok := last[w]; ok && prev >= l {
			t.Fatalf("lines of one writer out of order: %s after %s", l, prev)
		}
		last[w] = l
	}
	if out.writes >= writers*each {
		t.Fatalf("%d write calls for %d lines: nothing was batched", out.writes, writers*each)
	}
	if _, err := g.Write([]byte("late\n")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

func TestGroupWriterReportsFailures(t *testing.T) {
	out := &slowWriter{fail: errors.New("disk full")}
	g := newGroupWriter(out)
	_, _ = g.Write([]byte("a\n"))
	if err := g.Sync(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Sync after a failed write: %v", err)
	}
	out.mu.Lock()
	out.fail = nil
	out.mu.Unlock()
	if _, err := g.Write([]byte("b\n")); err != nil {
		t.Fatalf("the writer did not recover: %v", err)
	}
	if err := g.Close(); err != nil || out.buf.String() != "b\n" {
		t.Fatalf("close %v, wrote %q", err, out.buf.String())
	}
}
