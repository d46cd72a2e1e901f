package testbin

import (
	"regexp"
	"strings"
	"testing"
)

func TestWaitFor(t *testing.T) {
	re := regexp.MustCompile(`listening on (\S+)`)
	t.Run("a line written later wakes the waiter", func(t *testing.T) {
		var b SyncBuffer
		go func() {
			_, _ = b.Write([]byte("starting\n"))
			_, _ = b.Write([]byte("listening on 127.0.0.1:1234\n"))
		}()
		m, err := b.WaitFor(re, nil)
		if err != nil || m[1] != "127.0.0.1:1234" {
			t.Fatalf("%v %v", m, err)
		}
	})
	t.Run("a line already there", func(t *testing.T) {
		var b SyncBuffer
		_, _ = b.Write([]byte("listening on [::1]:5\n"))
		if m, err := b.WaitFor(re, nil); err != nil || m[1] != "[::1]:5" {
			t.Fatalf("%v %v", m, err)
		}
	})
	t.Run("the process exits first", func(t *testing.T) {
		var b SyncBuffer
		_, _ = b.Write([]byte("alter: bad config\n"))
		exited := make(chan struct{})
		close(exited)
		_, err := b.WaitFor(re, exited)
		if err == nil || !strings.Contains(err.Error(), "alter: bad config") {
			t.Fatalf("err %v, want one quoting the output", err)
		}
	})
}
