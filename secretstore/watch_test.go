package secretstore

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
)

// errLog collects what Watch reports.
type errLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errLog) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

func (l *errLog) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, err := range l.errs {
		if strings.Contains(err.Error(), substr) {
			n++
		}
	}
	return n
}

// watched opens a proxy-side store on path and watches it until the test
// ends.
func watched(t *testing.T, path string) (*FileStore, *errLog) {
	t.Helper()
	s := openAt(t, path, mustKeyring(t, testKey(1)))
	log := &errLog{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Watch(ctx, 10*time.Millisecond, log.add)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s, log
}

func TestWatchSeesOtherWriters(t *testing.T) {
	admin := newStore(t)
	proxy, _ := watched(t, admin.Path())

	g := mustAdd(t, admin, bearer("v1"))
	token := func() string {
		r, err := proxy.Resolve(ctx, g.ID, time.Now())
		if err != nil {
			return err.Error()
		}
		return r.Fields["token"]
	}
	waitFor(t, "the proxy to see the new grant", func() bool { return token() == "v1" })

	if err := admin.Rotate(ctx, g.ID, inject.Fields{"token": "v2"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the proxy to see the rotation", func() bool { return token() == "v2" })

	if err := admin.Revoke(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the proxy to see the revocation", func() bool {
		_, err := proxy.Resolve(ctx, g.ID, time.Now())
		return errors.Is(err, ErrGrantUnavailable)
	})
	// The revoked grant's host stays terminated, so its users get our 403.
	if len(proxy.Policies()) != 1 {
		t.Fatalf("%d policies after a revocation, want 1", len(proxy.Policies()))
	}
}

func TestWatchCorruptFileFailsClosed(t *testing.T) {
	admin := newStore(t)
	g := mustAdd(t, admin, bearer("tok"))
	proxy, log := watched(t, admin.Path())
	good, err := os.ReadFile(admin.Path())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(admin.Path(), []byte(`{"version": 1, "grants": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Resolve to fail closed", func() bool {
		_, err := proxy.Resolve(ctx, g.ID, time.Now())
		return errors.Is(err, ErrStoreUnavailable)
	})
	waitFor(t, "the failure to be reported", func() bool { return log.count("truncated") == 1 })
	// The hosts the proxy terminates are kept, so requests to them still
	// meet the proxy (and its 503) instead of a raw tunnel to the API.
	if len(proxy.Policies()) != 1 {
		t.Fatalf("%d policies while the store is unreadable, want the last known 1", len(proxy.Policies()))
	}

	if err := os.WriteFile(admin.Path(), good, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Resolve to work again", func() bool {
		_, err := proxy.Resolve(ctx, g.ID, time.Now())
		return err == nil
	})
}

func TestWatchReportsBadRecordOnce(t *testing.T) {
	admin := newStore(t)
	bad := mustAdd(t, admin, bearer("a"))
	proxy, log := watched(t, admin.Path())
	editFile(t, admin.Path(), func(doc map[string]any) {
		record(t, doc, "grants", bad.ID)["name"] = "edited"
	})
	waitFor(t, "the bad record to be reported", func() bool { return log.count(bad.ID) == 1 })

	// Later reloads (another grant added) do not report it again.
	other := mustAdd(t, admin, bearer("b"))
	waitFor(t, "the proxy to see the new grant", func() bool {
		_, err := proxy.Resolve(ctx, other.ID, time.Now())
		return err == nil
	})
	if n := log.count(bad.ID); n != 1 {
		t.Fatalf("bad record reported %d times, want once", n)
	}
	if _, err := proxy.Resolve(ctx, bad.ID, time.Now()); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("err = %v, want ErrStoreUnavailable", err)
	}
}
