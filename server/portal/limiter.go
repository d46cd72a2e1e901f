package portal

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// limiter bounds failed logins per client address: at most n failures in
// a sliding window of length per, then every attempt from that address is
// refused (429) until the window has room again. The address is the TCP
// peer, never a client-sent header (X-Forwarded-For is the attacker's to
// write). Only failures count, so a user who mistypes once is not locked
// out by their own successful logins. The table is bounded: when it is
// full, entries whose window has passed are dropped, and if none has, the
// whole table is (an attacker with that many addresses is better stopped
// by the slow hash than by this table).
type limiter struct {
	mu   sync.Mutex
	now  func() time.Time
	n    int
	per  time.Duration
	fail map[string][]time.Time
}

const maxLimiterEntries = 10000

func newLimiter(now func() time.Time, n int, per time.Duration) *limiter {
	return &limiter{now: now, n: n, per: per, fail: map[string][]time.Time{}}
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// recent returns addr's failures still inside the window.
func (l *limiter) recent(addr string, t time.Time) []time.Time {
	fs := l.fail[addr]
	i := 0
	for i < len(fs) && t.Sub(fs[i]) >= l.per {
		i++
	}
	return fs[i:]
}

// allow reports whether addr may try to log in now.
func (l *limiter) allow(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	fs := l.recent(addr, l.now())
	if len(fs) == 0 {
		delete(l.fail, addr)
	} else {
		l.fail[addr] = fs
	}
	return len(fs) < l.n
}

// failed records a failed login from addr.
func (l *limiter) failed(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now()
	if len(l.fail) >= maxLimiterEntries {
		for a := range l.fail {
			if len(l.recent(a, t)) == 0 {
				delete(l.fail, a)
			}
		}
		if len(l.fail) >= maxLimiterEntries {
			clear(l.fail)
		}
	}
	l.fail[addr] = append(l.recent(addr, t), t)
}
