package secretstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
)

// FileStore is the embedded store: one JSON file (see record.go for its
// format) holding grants and sealed secrets, guarded by a keyring. It
// implements both Admin and Resolver.
//
// Reads go to an immutable in-memory snapshot of the file, swapped
// atomically when the file changes (Watch, or this store's own writes), so
// Resolve takes no lock but the cache's. Writes go to the file under a
// cross-process lock (write.go), so any number of FileStores in any number
// of processes can share one path.
type FileStore struct {
	path  string
	keys  *Keyring
	cache *expirable.LRU[cacheKey, *opened]
	snap  atomic.Pointer[snapshot]

	profilesPath string                          // ProfilesPath(path)
	profiles     atomic.Pointer[profileSnapshot] // see profiles.go

	hits, misses atomic.Uint64

	// reloadMu serialises reloads, so snapshots are published in the
	// order the file was read. Resolve never takes it.
	reloadMu sync.Mutex
}

// Options tune a FileStore. Zero fields take the defaults.
type Options struct {
	// CacheSize bounds how many opened secrets are kept in memory
	// (default 10000).
	CacheSize int
	// CacheTTL is how long an opened secret is kept (default 5m). Rotation
	// and revocation take effect at once regardless: they change what the
	// snapshot allows, and the cache is keyed by secret version.
	CacheTTL time.Duration
}

// Defaults for Options.
const (
	DefaultCacheSize = 10000
	DefaultCacheTTL  = 5 * time.Minute
)

// Stats are counters for metrics.
type Stats struct {
	CacheHits   uint64
	CacheMisses uint64 // each miss is one decryption
	CacheSize   int
}

// Create makes a new, empty store file (mode 0600; its directory is made
// 0700 if missing). It fails with an error wrapping fs.ErrExist if the file
// exists: `alter init` must never replace a store.
func Create(path string) error {
	return createStore(context.Background(), path, true)
}

// OpenFile opens the store at path, creating an empty one if the file does
// not exist. It takes zero or one Options. A file that cannot be read or
// parsed is an error naming the path and the problem; nothing is rewritten.
//
// The cache's expiry goroutine (a limitation of golang-lru v2) lives as long
// as the process, so open a store once and keep it.
func OpenFile(path string, keys *Keyring, opts ...Options) (*FileStore, error) {
	if keys == nil || len(keys.keys) == 0 {
		return nil, fmt.Errorf("open store %s: %w", path, errNoKeyring)
	}
	if len(opts) > 1 {
		return nil, fmt.Errorf("open store %s: %w: more than one Options", path, ErrInvalid)
	}
	o := Options{CacheSize: DefaultCacheSize, CacheTTL: DefaultCacheTTL}
	if len(opts) == 1 {
		if opts[0].CacheSize < 0 || opts[0].CacheTTL < 0 {
			return nil, fmt.Errorf("open store %s: %w: negative cache size or TTL", path, ErrInvalid)
		}
		if opts[0].CacheSize > 0 {
			o.CacheSize = opts[0].CacheSize
		}
		if opts[0].CacheTTL > 0 {
			o.CacheTTL = opts[0].CacheTTL
		}
	}
	if err := createStore(context.Background(), path, false); err != nil {
		return nil, err
	}
	s := &FileStore{
		path:         path,
		keys:         keys,
		cache:        expirable.NewLRU[cacheKey, *opened](o.CacheSize, nil, o.CacheTTL),
		profilesPath: ProfilesPath(path),
	}
	s.reload()
	if snap := s.snap.Load(); snap.err != nil {
		return nil, snap.err
	}
	return s, nil
}

// createStore writes an empty store file if none exists, under the write
// lock so it cannot race another process's first write. With mustBeNew an
// existing file is an error.
func createStore(ctx context.Context, path string, mustBeNew bool) error {
	if _, err := os.Stat(path); err == nil && !mustBeNew {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create store: %w", err)
	}
	unlock, err := lockStore(ctx, path)
	if err != nil {
		return err
	}
	defer unlock()
	switch _, err := os.Stat(path); {
	case err == nil && mustBeNew:
		return fmt.Errorf("create store %s: %w", path, fs.ErrExist)
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("create store: %w", err)
	}
	data, err := emptyStoreFile().encode()
	if err != nil {
		return err
	}
	return writeAtomic(path, data)
}

// Resolve returns a usable grant with its opened secret. See Resolver.
//
// Unknown, revoked and expired grants get the bare ErrGrantUnavailable (no
// detail that could reach a client and tell them apart). On a cache hit it
// takes no lock but the cache's and usually allocates nothing. The
// Resolved and everything it points to are shared: treat them as read-only.
func (s *FileStore) Resolve(ctx context.Context, grantID string, now time.Time) (*Resolved, error) {
	snap := s.snap.Load()
	if snap.err != nil {
		return nil, snap.err
	}
	e := snap.grants[grantID]
	if e == nil {
		return nil, ErrGrantUnavailable
	}
	if e.problem != nil {
		return nil, fmt.Errorf("%w: grant %s: %v", ErrStoreUnavailable, grantID, e.problem)
	}
	if e.unavailable || (!e.expires.IsZero() && !now.Before(e.expires)) {
		return nil, ErrGrantUnavailable
	}
	if e.secretErr != nil {
		return nil, fmt.Errorf("%w: grant %s: %v", ErrStoreUnavailable, grantID, e.secretErr)
	}
	sec := e.secret
	key := cacheKey{sec.info.ID, sec.info.Version}
	o, ok := s.cache.Get(key)
	if ok {
		s.hits.Add(1)
	} else {
		s.misses.Add(1)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fields, err := s.keys.open(sec.info.ID, sec.info.KeyID, sec.nonce, sec.sealed)
		if err != nil {
			return nil, err
		}
		// The MAC vouches for the spec and the seal for the values; this
		// catches a record that is authentic but unusable all the same.
		if err := sec.injector.CheckFields(fields); err != nil {
			return nil, fmt.Errorf("%w: secret %s: %v", ErrStoreUnavailable, sec.info.ID, err)
		}
		o = &opened{fields: fields}
		s.cache.Add(key, o)
	}
	// The Resolved built from this cache entry is kept on the grant, so a
	// cache hit hands out the same immutable value without allocating.
	if last := e.last.Load(); last != nil && last.from == o {
		return last.r, nil
	}
	r := &Resolved{Grant: e.grant, Secret: sec.info, Policy: e.effective, Chain: e.chain, Injector: sec.injector, Fields: o.fields}
	e.last.Store(&lastResolved{from: o, r: r})
	return r, nil
}

// opened is one decrypted secret version in the cache. It is a pointer so a
// grant can tell whether the Resolved it built last came from the entry the
// cache holds now (an evicted and re-opened secret is a new *opened).
type opened struct {
	fields inject.Fields
}

// lastResolved is the Resolved a grant handed out last and the cache entry
// it was built from.
type lastResolved struct {
	from *opened
	r    *Resolved
}

// Policies returns the compiled policies of every grant in the store,
// revoked and expired ones included (whether a grant is usable is decided
// per request by Resolve). The slice is shared: do not modify it.
func (s *FileStore) Policies() []*policy.Policy {
	return s.snap.Load().policies
}

// Stats returns the cache counters.
func (s *FileStore) Stats() Stats {
	return Stats{CacheHits: s.hits.Load(), CacheMisses: s.misses.Load(), CacheSize: s.cache.Len()}
}

// Path is the store file's path.
func (s *FileStore) Path() string { return s.path }

var (
	_ Admin    = (*FileStore)(nil)
	_ Resolver = (*FileStore)(nil)
)
