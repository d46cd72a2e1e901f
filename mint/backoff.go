package mint

import (
	"sync"
	"time"
)

// After a failed token request the same credential is not tried again at
// once: every request for it in the next moments gets the same error
// without a call to the token endpoint. Without this, a token endpoint
// that is down or refusing is asked once per proxied request (one at a
// time, but back to back), which can get the client locked out by the
// issuer and turns an outage into a flood. The pause starts at
// minFailPause and doubles with each failure in a row up to maxFailPause;
// a success, or a new version of the secret, ends it.
const (
	minFailPause = time.Second
	maxFailPause = 30 * time.Second
)

// failures remembers the last failure of each secret, with the version
// it was for: a failure of another version is history.
type failures struct {
	mu sync.Mutex
	m  map[string]*failure // by secret id
}

type failure struct {
	version int
	err     error
	until   time.Time
	pause   time.Duration
}

// recent returns the error of r's last failure while its pause lasts.
func (f *failures) recent(r Request, now time.Time) (error, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if x, ok := f.m[r.SecretID]; ok && x.version == r.Version && now.Before(x.until) {
		return x.err, true
	}
	return nil, false
}

// record notes a failure of r: the pause before the next try grows.
func (f *failures) record(r Request, err error, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]*failure{}
	}
	x, ok := f.m[r.SecretID]
	if !ok || x.version != r.Version {
		x = &failure{version: r.Version}
		f.m[r.SecretID] = x
	}
	x.pause = min(max(x.pause*2, minFailPause), maxFailPause)
	x.err, x.until = err, now.Add(x.pause)
}

// clear forgets r's failures after a success.
func (f *failures) clear(r Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if x, ok := f.m[r.SecretID]; ok && x.version == r.Version {
		delete(f.m, r.SecretID)
	}
}
