package portal

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// limiter bounds login attempts per key (a client address, an account):
// at most n failures in a sliding window of length per, then every
// attempt for that key is refused (429) until the window has room again.
//
// An attempt is counted before the slow password hash, not after it
// (reserve): a burst of concurrent guesses from one address gets n hashes,
// not one per request. A login that succeeds, or that never reaches a
// check (a missing CSRF token, no free hash slot), gives its reservation
// back, so a user who mistypes once is not locked out by their own
// successful logins.
//
// The table is bounded: it is kept in least-recently-failed order and,
// when full, the least recently failed entry that is not locked out is
// dropped (an entry whose window has passed first of all); only when every
// entry is locked out does the oldest of them go. Fresh addresses making
// one failure each so only push out each other: they cannot unlock an
// address that used up its budget (the table used to be cleared whole
// when 10,000 addresses had failed once).
type limiter struct {
	mu  sync.Mutex
	now func() time.Time
	n   int
	per time.Duration
	max int
	// order holds *limitEntry, most recently failed first.
	order *list.List
	byKey map[string]*list.Element
}

type limitEntry struct {
	key  string
	fail []time.Time // oldest first
}

const maxLimiterEntries = 10000

func newLimiter(now func() time.Time, n int, per time.Duration) *limiter {
	return &limiter{now: now, n: n, per: per, max: maxLimiterEntries, order: list.New(), byKey: map[string]*list.Element{}}
}

// addrKey is the limiter key of a client address: an IPv4 address as
// is, an IPv6 address by its /64 (one subscriber's usual allocation, so
// rotating through a prefix's 2^64 addresses buys nothing). An IPv4-mapped
// IPv6 address is its IPv4 address.
func addrKey(host string) string {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}

// recent drops e's failures that have left the window.
func (l *limiter) recent(e *limitEntry, t time.Time) {
	i := 0
	for i < len(e.fail) && t.Sub(e.fail[i]) >= l.per {
		i++
	}
	e.fail = e.fail[i:]
}

// reserve counts an attempt for key now, before it is checked. ok is
// false when key has no attempt left (nothing is counted then); else
// release gives the attempt back (call it when the login succeeded or was
// never checked). release may be called more than once.
func (l *limiter) reserve(key string) (release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now()
	el := l.byKey[key]
	if el != nil {
		e := el.Value.(*limitEntry)
		l.recent(e, t)
		if len(e.fail) >= l.n {
			return nil, false
		}
		e.fail = append(e.fail, t)
		l.order.MoveToFront(el)
	} else {
		for l.order.Len() >= l.max {
			l.evict(t)
		}
		el = l.order.PushFront(&limitEntry{key: key, fail: []time.Time{t}})
		l.byKey[key] = el
	}
	var once sync.Once
	return func() { once.Do(func() { l.unreserve(key, t) }) }, true
}

// evict drops one entry: the least recently failed one that is not locked
// out at t, else the least recently failed.
func (l *limiter) evict(t time.Time) {
	victim := l.order.Back()
	for el := victim; el != nil; el = el.Prev() {
		e := el.Value.(*limitEntry)
		l.recent(e, t)
		if len(e.fail) < l.n {
			victim = el
			break
		}
	}
	delete(l.byKey, victim.Value.(*limitEntry).key)
	l.order.Remove(victim)
}

// unreserve removes one failure at t from key's entry, if still there.
func (l *limiter) unreserve(key string, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.byKey[key]
	if el == nil {
		return
	}
	e := el.Value.(*limitEntry)
	for i := len(e.fail) - 1; i >= 0; i-- {
		if e.fail[i].Equal(t) {
			e.fail = append(e.fail[:i:i], e.fail[i+1:]...)
			break
		}
	}
	if len(e.fail) == 0 {
		delete(l.byKey, key)
		l.order.Remove(el)
	}
}
