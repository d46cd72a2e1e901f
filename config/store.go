package config

import (
	"strings"
	"time"

	"github.com/alter-sidecar/alter/server/wire"
)

// compile checks the store section. def holds the file store's defaults
// (paths under the home); path resolves a path key and bad records an
// error naming a key. Keys that belong to the other store type are
// refused, not ignored: a remote store with a key_file left over is a
// config that does not say what it does.
func (w wireStore) compile(def Store, path func(key, p string, required bool) string, bad func(key, format string, args ...any)) Store {
	s := Store{Type: w.Type, Cache: Cache{Size: w.Cache.Size, TTL: time.Duration(w.Cache.TTL)}}
	fileKeys := []struct {
		key string
		set bool
	}{{"store.path", w.Path != nil}, {"store.key_file", w.KeyFile != nil}, {"store.key_env", w.KeyEnv != nil}, {"store.poll_interval", w.Interval != nil}}
	remoteKeys := []struct {
		key string
		set bool
	}{{"store.url", w.URL != nil}, {"store.token_file", w.TokenFile != nil}, {"store.token_env", w.TokenEnv != nil},
		{"store.ca_file", w.CAFile != nil}, {"store.max_stale", w.MaxStale != nil}}
	refuse := func(keys []struct {
		key string
		set bool
	}, other string) {
		for _, k := range keys {
			if k.set {
				bad(k.key, "is a key of store.type %s, not %s", other, w.Type)
			}
		}
	}
	switch w.Type {
	case StoreFile:
		refuse(remoteKeys, StoreRemote)
		s.Path = path("store.path", or(w.Path, def.Path), true)
		s.KeyEnv = or(w.KeyEnv, "")
		if s.KeyEnv == "" {
			s.KeyFile = path("store.key_file", or(w.KeyFile, def.KeyFile), true)
		} else if badEnvName(s.KeyEnv) {
			bad("store.key_env", "%q is not an environment variable name", s.KeyEnv)
		}
		s.Interval = def.Interval
		if w.Interval != nil {
			s.Interval = time.Duration(*w.Interval)
		}
		if s.Interval < 50*time.Millisecond || s.Interval > time.Minute {
			bad("store.poll_interval", "must be between 50ms and 1m")
		}
	case StoreRemote:
		refuse(fileKeys, StoreFile)
		s.URL = or(w.URL, "")
		if s.URL == "" {
			bad("store.url", "is required for store.type remote (e.g. https://alter.internal:8443)")
		} else if _, err := wire.ParseURL(s.URL); err != nil {
			bad("store.url", "%v", err)
		}
		s.TokenEnv = or(w.TokenEnv, "")
		switch {
		case w.TokenFile != nil && w.TokenEnv != nil:
			bad("store.token_file", "give store.token_file or store.token_env, not both")
		case w.TokenFile != nil:
			s.TokenFile = path("store.token_file", *w.TokenFile, true)
		case w.TokenEnv == nil:
			bad("store.token_file", "store.type remote needs the sidecar token: set store.token_file (mode 0600) or store.token_env")
		case badEnvName(s.TokenEnv):
			bad("store.token_env", "%q is not an environment variable name", s.TokenEnv)
		}
		if ca := or(w.CAFile, ""); ca != "" {
			s.CAFile = path("store.ca_file", ca, false)
		}
		s.MaxStale = DefaultMaxStale
		if w.MaxStale != nil {
			s.MaxStale = time.Duration(*w.MaxStale)
		}
		if s.MaxStale < 10*time.Second || s.MaxStale > 24*time.Hour {
			bad("store.max_stale", "must be between 10s and 24h")
		}
	default:
		bad("store.type", "must be file or remote, not %q", w.Type)
	}
	if s.Cache.Size < 1 || s.Cache.Size > 10_000_000 {
		bad("store.cache.size", "must be between 1 and 10000000, not %d", s.Cache.Size)
	}
	if s.Cache.TTL <= 0 {
		bad("store.cache.ttl", "must be a positive duration")
	}
	return s
}

func or(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func badEnvName(s string) bool { return s == "" || strings.ContainsAny(s, "= \t") }
