package secretstore

import (
	"testing"
	"time"
)

// BenchmarkResolveCacheHit is the proxy's hot path: a known grant whose
// secret is already open.
func BenchmarkResolveCacheHit(b *testing.B) {
	s := newStore(b)
	g := mustAdd(b, s, bearer("tok"))
	now := time.Now()
	if _, err := s.Resolve(ctx, g.ID, now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Resolve(ctx, g.ID, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkResolveUnknown is the cost of refusing a grant that does not exist.
func BenchmarkResolveUnknown(b *testing.B) {
	s := newStore(b)
	mustAdd(b, s, bearer("tok"))
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Resolve(ctx, "00000000-0000-4000-8000-000000000000", now); err != ErrGrantUnavailable {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolveCacheMiss is a grant whose secret must be opened
// (AES-256-GCM and JSON) because the cache does not hold it: two grants
// take turns in a one-entry cache.
func BenchmarkResolveCacheMiss(b *testing.B) {
	s := newStore(b)
	g1 := mustAdd(b, s, bearer("tok1"))
	g2 := mustAdd(b, s, bearer("tok2"))
	s.cache.Resize(1)
	now := time.Now()
	ids := [2]string{g1.ID, g2.ID}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Resolve(ctx, ids[i&1], now); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
