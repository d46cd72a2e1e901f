package portal

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// blockingBackend is a fake whose password checks park until released,
// standing in for the slow argon2id hash: the tests see how many checks
// run at once without timing anything.
type blockingBackend struct {
	*fakeBackend
	calls   atomic.Int32
	entered chan struct{}
	release chan struct{}
}

func newBlocking() *blockingBackend {
	return &blockingBackend{fakeBackend: newFake(), entered: make(chan struct{}, 1000), release: make(chan struct{})}
}

func (b *blockingBackend) CheckPassword(ctx context.Context, user, _ string) (string, error) {
	b.calls.Add(1)
	b.entered <- struct{}{}
	<-b.release
	return "", ErrBadCredentials
}

// loginForm posts a password login with its own double-submit token (no
// shared cookie jar, so concurrent posts do not overwrite each other's),
// optionally through a proxy that says the client is xff.
func loginForm(t *testing.T, base, user, xff string) int {
	t.Helper()
	form := url.Values{"csrf": {"tok"}, "method": {"password"}, "username": {user}, "password": {"wrong horse battery"}}
	req, err := http.NewRequest(http.MethodPost, base+Prefix+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		t.Error(err)
		return 0
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", cookieLogin+"=tok")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestLoginBurstCountsBeforeHash: 30 concurrent wrong logins from one
// address (for 30 different users) get the address's 10 attempts; the
// other 20 are refused before any hash runs. (They used to all run the
// hash, the limiter counting only the failures that had finished.)
func TestLoginBurstCountsBeforeHash(t *testing.T) {
	b := newBlocking()
	h := newHarness(t, b, false, func(c *Config) { c.MaxConcurrentHashes = 100 })
	var wg sync.WaitGroup
	var refused atomic.Int32
	statuses := make(chan int, 30)
	for i := range 30 {
		wg.Go(func() {
			st := loginForm(t, h.srv.URL, fmt.Sprintf("user%d", i), "")
			if st == http.StatusTooManyRequests {
				refused.Add(1)
			}
			statuses <- st
		})
	}
	// Every request either reaches the check or is refused: wait for
	// all 30 to have done one or the other.
	for range 30 {
		select {
		case <-b.entered:
		case st := <-statuses:
			if st != http.StatusTooManyRequests {
				t.Errorf("a login finished with %d while the checks were parked", st)
			}
		}
	}
	if got := b.calls.Load(); got != loginFailures {
		t.Errorf("%d password checks ran for a burst of 30 from one address, want %d", got, loginFailures)
	}
	close(b.release)
	wg.Wait()
	if got := refused.Load(); got != 30-loginFailures {
		t.Errorf("%d of 30 refused with 429, want %d", got, 30-loginFailures)
	}
}

// TestLoginHashSlots: with two hash slots busy, a third password login is
// refused with 429 (after a short wait) instead of adding a third 19 MiB
// hash; once the slots are free, logins are checked again.
func TestLoginHashSlots(t *testing.T) {
	b := newBlocking()
	h := newHarness(t, b, false, func(c *Config) { c.MaxConcurrentHashes = 2 })
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() { loginForm(t, h.srv.URL, fmt.Sprintf("user%d", i), "") })
	}
	<-b.entered
	<-b.entered
	third := make(chan int, 1)
	go func() { third <- loginForm(t, h.srv.URL, "user3", "") }()
	select {
	case st := <-third:
		if st != http.StatusTooManyRequests {
			t.Errorf("third concurrent password login: %d, want 429", st)
		}
	case <-b.entered:
		t.Error("a third password check ran while both slots were busy")
		close(b.release)
		<-third
		wg.Wait()
		return
	}
	close(b.release)
	wg.Wait()
	if st := loginForm(t, h.srv.URL, "user3", ""); st != http.StatusUnauthorized {
		t.Errorf("login after the slots freed: %d, want 401", st)
	}
}

// TestLoginPerAccountLimit: ten failures for one account from ten
// addresses lock that account (not the others) for the window.
func TestLoginPerAccountLimit(t *testing.T) {
	h := newHarness(t, newFake(), false, func(c *Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	for i := range loginFailures {
		if st := loginForm(t, h.srv.URL, "alice", fmt.Sprintf("198.51.100.%d", i+1)); st != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, st)
		}
	}
	if st := loginForm(t, h.srv.URL, "alice", "203.0.113.9"); st != http.StatusTooManyRequests {
		t.Errorf("11th failure for alice from a fresh address: %d, want 429", st)
	}
	if st := loginForm(t, h.srv.URL, "bob", "203.0.113.9"); st != http.StatusUnauthorized {
		t.Errorf("bob from that address: %d, want 401", st)
	}
}

// TestLoginTrustedProxy: behind a trusted proxy, each client has its own
// budget (ten failures from one user no longer lock out everyone behind
// the proxy); without the setting X-Forwarded-For is ignored, so a client
// cannot pick a fresh address per guess.
func TestLoginTrustedProxy(t *testing.T) {
	t.Run("trusted", func(t *testing.T) {
		h := newHarness(t, newFake(), false, func(c *Config) {
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		})
		for i := range loginFailures {
			loginForm(t, h.srv.URL, fmt.Sprintf("u%d", i), "192.0.2.1, 198.51.100.7")
		}
		if st := loginForm(t, h.srv.URL, "x", "198.51.100.7"); st != http.StatusTooManyRequests {
			t.Errorf("the failing client: %d, want 429", st)
		}
		// The left-most entry is the client's to write: it is not trusted.
		if st := loginForm(t, h.srv.URL, "y", "192.0.2.1, 198.51.100.8"); st != http.StatusUnauthorized {
			t.Errorf("another client behind the proxy: %d, want 401", st)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		h := newHarness(t, newFake(), false, nil)
		for i := range loginFailures {
			loginForm(t, h.srv.URL, fmt.Sprintf("u%d", i), fmt.Sprintf("198.51.100.%d", i))
		}
		if st := loginForm(t, h.srv.URL, "x", "203.0.113.50"); st != http.StatusTooManyRequests {
			t.Errorf("a fresh X-Forwarded-For from an untrusted peer: %d, want 429", st)
		}
	})
}

// serveFrom runs one token login against p in process, from remote.
func serveFrom(p *Portal, remote string) int {
	form := url.Values{"csrf": {"tok"}, "method": {"token"}, "token": {"alt_a_guess"}}
	req := httptest.NewRequest(http.MethodPost, Prefix+"/login", strings.NewReader(form.Encode()))
	req.RemoteAddr = remote
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", cookieLogin+"=tok")
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, req)
	return rec.Code
}

// TestLoginLimiterIPv6Prefix: the addresses of one IPv6 /64 share one
// budget; another /64 has its own.
func TestLoginLimiterIPv6Prefix(t *testing.T) {
	p := New(Config{Backend: newFake()})
	for i := range loginFailures {
		if st := serveFrom(p, fmt.Sprintf("[2001:db8:1:2::%x]:40000", i+1)); st != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, st)
		}
	}
	if st := serveFrom(p, "[2001:db8:1:2:ffff::1]:40000"); st != http.StatusTooManyRequests {
		t.Errorf("another address of the same /64: %d, want 429", st)
	}
	if st := serveFrom(p, "[2001:db8:1:3::1]:40000"); st != http.StatusUnauthorized {
		t.Errorf("another /64: %d, want 401", st)
	}
}

// TestLoginLimiterFullTable: an address that used up its budget stays
// locked out when more addresses than the table holds fail once each
// (the table used to be cleared, unlocking everyone).
func TestLoginLimiterFullTable(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 logins")
	}
	p := New(Config{Backend: newFake()})
	for range loginFailures {
		serveFrom(p, "192.0.2.1:40000")
	}
	for i := range maxLimiterEntries {
		serveFrom(p, fmt.Sprintf("10.%d.%d.%d:40000", i>>16, (i>>8)&255, i&255))
	}
	if st := serveFrom(p, "192.0.2.1:40000"); st != http.StatusTooManyRequests {
		t.Errorf("the locked address after %d others failed once: %d, want 429", maxLimiterEntries, st)
	}
}
