package secretstore

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/alter-sidecar/alter/grant"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
)

// A snapshot is the store file parsed, checked and compiled once, so that
// Resolve and Policies only read. It is never modified after it is built;
// a reload builds a new one and swaps the pointer.
type snapshot struct {
	err      error     // non-nil: the whole store is unusable; wraps ErrStoreUnavailable
	file     fileID    // the file this snapshot was read from
	loadedAt time.Time // when

	grants   map[string]*grantEntry
	list     []*grantEntry // file order, for List
	policies []*policy.Policy
	live     map[cacheKey]bool // secret versions a usable grant may open
	problems []error           // unusable records, for Watch to report
}

// grantEntry is one grant with everything Resolve needs precomputed,
// including what its chain of parents (for clones) implies.
type grantEntry struct {
	grant  Grant
	policy *policy.Policy // the grant's own rules
	// effective is what Resolve hands out: the grant's own policy AND every
	// ancestor's, so a clone can never reach past any of them.
	effective *policy.Policy
	chain     []string // the chain's grant ids, own first (grant.Chain.IDs)
	secret    *secretEntry
	own       error // this record's own problem; kept for parents' sake
	problem   error // this record or one it depends on cannot be trusted
	// unavailable: the grant or an ancestor is revoked, or an ancestor is
	// missing. Decided from trusted records only.
	unavailable bool
	status      string    // for listings: why unavailable, or StatusActive
	expires     time.Time // earliest ExpiresAt on the chain; zero if none
	// secretErr: the grant's secret is missing or its record is bad. It is
	// checked after revocation and expiry, which do not need the secret.
	secretErr error
	// last caches the Resolved built for this grant (see Resolve).
	last atomic.Pointer[lastResolved]
}

// usable reports whether nothing but time can stop the grant being used.
func (e *grantEntry) usable() bool {
	return e.problem == nil && !e.unavailable && e.secretErr == nil
}

// why is the reason List shows for an unusable record, or "".
func (e *grantEntry) why() string {
	switch {
	case e.problem != nil:
		return e.problem.Error()
	case e.secretErr != nil:
		return e.secretErr.Error()
	}
	return ""
}

// secretEntry is a secret record, checked but still sealed.
type secretEntry struct {
	info     SecretInfo
	nonce    []byte
	sealed   []byte
	injector *inject.Injector
	problem  error
}

// cacheKey names one version of one secret: a rotation changes the key, so
// the cache can never hand out the value it replaced.
type cacheKey struct {
	secretID string
	version  int
}

// buildSnapshot checks and compiles every record of f.
func buildSnapshot(f *storeFile, keys *Keyring, path string, id fileID, now time.Time) *snapshot {
	s := &snapshot{
		file:     id,
		loadedAt: now,
		grants:   make(map[string]*grantEntry, len(f.Grants)),
		live:     make(map[cacheKey]bool),
	}
	secrets := s.addSecrets(f, keys, path)
	s.addGrants(f, keys, path, secrets)
	for _, e := range s.list {
		e.resolveChain(s.grants)
		if e.usable() {
			s.live[cacheKey{e.secret.info.ID, e.secret.info.Version}] = true
		}
		// Revoked and expired grants count too: the proxy keeps terminating
		// their hosts so a client using such a grant gets the common 403
		// answer, not a raw tunnel to the API.
		if e.policy != nil {
			s.policies = append(s.policies, e.policy)
		}
	}
	// Every record failing its integrity check is not a few tampered
	// records but almost certainly the wrong master key: make the whole
	// store unavailable, so /readyz and start-up say so, rather than
	// serving 503 grant by grant behind a healthy-looking proxy.
	if n := len(f.Grants) + len(f.Secrets); n > 0 && len(s.problems) == n {
		s.err = fmt.Errorf("%w: store %s: none of its %d records passes the integrity check with %s (a different master key?)",
			ErrStoreUnavailable, path, n, keys)
	}
	return s
}

// failedSnapshot makes every Resolve fail with err until a good file loads.
func failedSnapshot(id fileID, err error) *snapshot {
	return &snapshot{err: fmt.Errorf("%w: %v", ErrStoreUnavailable, err), file: id}
}

func (s *snapshot) addSecrets(f *storeFile, keys *Keyring, path string) map[string]*secretEntry {
	secrets := make(map[string]*secretEntry, len(f.Secrets))
	for i, raw := range f.Secrets {
		rec, err := keys.openSecretRecord(raw)
		e := &secretEntry{info: rec.SecretInfo, nonce: rec.Nonce, sealed: rec.Ciphertext, problem: err}
		if e.info.ID == "" {
			e.info.ID = recordID(raw)
		}
		if e.problem == nil {
			e.injector, err = inject.Compile(rec.Spec)
			if err != nil {
				e.problem = err
			}
		}
		if prev, dup := secrets[e.info.ID]; dup {
			prev.problem = errors.New("two secret records have this id")
			e = prev
		}
		if e.info.ID == "" {
			if e.problem == nil {
				e.problem = errors.New("record has no id")
			}
		} else {
			secrets[e.info.ID] = e
		}
		if e.problem != nil {
			s.problems = append(s.problems, fmt.Errorf("store %s: secrets[%d] (id %q): %w", path, i, e.info.ID, e.problem))
		}
	}
	return secrets
}

func (s *snapshot) addGrants(f *storeFile, keys *Keyring, path string, secrets map[string]*secretEntry) {
	for i, raw := range f.Grants {
		rec, err := keys.openGrant(raw)
		e := &grantEntry{grant: rec.Grant, own: err}
		if e.grant.ID == "" {
			e.grant.ID = recordID(raw)
		}
		if e.own == nil {
			e.policy, err = policy.Compile(rec.Policy)
			if err != nil {
				e.own = err
			}
		}
		if prev, dup := s.grants[e.grant.ID]; dup {
			prev.own = errors.New("two grant records have this id")
			e = prev
		}
		switch {
		case e.grant.ID == "":
			if e.own == nil {
				e.own = errors.New("record has no id")
			}
		case s.grants[e.grant.ID] == nil:
			s.grants[e.grant.ID] = e
			s.list = append(s.list, e)
		}
		e.secret = secrets[e.grant.SecretID]
		if e.own != nil {
			s.problems = append(s.problems, fmt.Errorf("store %s: grants[%d] (id %q): %w", path, i, e.grant.ID, e.own))
		}
	}
}

// resolveChain applies the chain rule (grant.Evaluate) to the grant and its
// parents, then checks its secret, which revocation and expiry do not need.
func (e *grantEntry) resolveChain(grants map[string]*grantEntry) {
	link := func(g *grantEntry) grant.Link { return grant.Link{Grant: g.grant, Policy: g.policy, Problem: g.own} }
	c := grant.Evaluate(link(e), func(id string) (grant.Link, bool) {
		p, ok := grants[id]
		if !ok {
			return grant.Link{}, false
		}
		return link(p), true
	})
	e.status, e.unavailable, e.expires = c.Status, c.Unavailable, c.Expires
	if c.Problem != nil {
		e.problem = c.Problem
		return
	}
	if !c.Usable() {
		return
	}
	e.effective, e.chain = c.Effective, c.IDs
	switch {
	case e.secret == nil:
		e.secretErr = fmt.Errorf("its secret %s is not in the store", e.grant.SecretID)
	case e.secret.problem != nil:
		e.secretErr = fmt.Errorf("secret %s: %w", e.secret.info.ID, e.secret.problem)
	}
	if e.secretErr != nil {
		e.status = StatusUnusable
	}
}
