package certs

import (
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func verifyLeaf(t *testing.T, ca *CA, c *LeafCache, host, name string) error {
	t.Helper()
	cert, err := c.Get(host)
	if err != nil {
		t.Fatalf("Get(%q): %v", host, err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	_, err = cert.Leaf.Verify(x509.VerifyOptions{
		DNSName:   name,
		Roots:     roots,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

func TestLeafVerifies(t *testing.T) {
	ca, _, _ := newTestCA(t)
	c := NewLeafCache(ca, 10)
	tests := []struct {
		name, host, verifyAs string
		ok                   bool
	}{
		{"dns name", "api.example.com", "api.example.com", true},
		{"dns name case and dot", "API.Example.com.", "api.example.com", true},
		{"ipv4", "127.0.0.1", "127.0.0.1", true},
		{"ipv6", "::1", "::1", true},
		{"other name", "api.example.com", "evil.example.com", false},
		{"parent name", "api.example.com", "example.com", false},
		{"other ip", "127.0.0.1", "127.0.0.2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifyLeaf(t, ca, c, tt.host, tt.verifyAs)
			if tt.ok && err != nil {
				t.Errorf("verify: %v", err)
			}
			if !tt.ok && err == nil {
				t.Error("verified for a name it was not issued for")
			}
		})
	}
}

func TestLeafProfile(t *testing.T) {
	ca, _, _ := newTestCA(t)
	c := NewLeafCache(ca, 10)
	cert, err := c.Get("10.1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	l := cert.Leaf
	if len(l.IPAddresses) != 1 || !l.IPAddresses[0].Equal(net.ParseIP("10.1.2.3")) || len(l.DNSNames) != 0 {
		t.Errorf("SANs: ip=%v dns=%v", l.IPAddresses, l.DNSNames)
	}
	if l.IsCA || l.KeyUsage != x509.KeyUsageDigitalSignature || len(l.ExtKeyUsage) != 1 || l.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("usage: isCA=%v ku=%v eku=%v", l.IsCA, l.KeyUsage, l.ExtKeyUsage)
	}
	if string(l.AuthorityKeyId) != string(ca.Certificate().SubjectKeyId) {
		t.Error("AuthorityKeyId does not name the CA")
	}
	if d := l.NotAfter.Sub(l.NotBefore); d != leafValidity+time.Hour {
		t.Errorf("validity %v", d)
	}
	if len(cert.Certificate) != 2 || string(cert.Certificate[1]) != string(ca.Certificate().Raw) {
		t.Error("chain is not [leaf, CA]")
	}
}

func TestLeafCacheRejectsBadHosts(t *testing.T) {
	ca, _, _ := newTestCA(t)
	c := NewLeafCache(ca, 10)
	for _, host := range []string{
		"", ".", "a..", "a..b", "10.0.0.1.", "-a.com", "a-.com", "exa mple.com", "a.com:443", "[::1]",
		"fe80::1%eth0", "a\x00b", "a/b", "é.com", strings.Repeat("a", 64) + ".com",
		strings.Repeat("a.", 127) + "com",
	} {
		if _, err := c.Get(host); !errors.Is(err, ErrInvalidHost) {
			t.Errorf("Get(%q) err = %v, want ErrInvalidHost", host, err)
		}
	}
	if s := c.Stats(); s.Misses != 0 || s.Size != 0 {
		t.Errorf("bad hosts touched the cache: %+v", s)
	}
}

func TestLeafCacheBoundedAndReused(t *testing.T) {
	ca, _, _ := newTestCA(t)
	c := NewLeafCache(ca, 2)
	first, err := c.Get("a.example")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c.Get("A.example.")
	if again != first {
		t.Error("cached leaf not reused")
	}
	c.Get("b.example")
	c.Get("c.example")
	if s := c.Stats(); s.Size != 2 || s.Hits != 1 || s.Misses != 3 {
		t.Errorf("stats = %+v, want size 2, 1 hit, 3 misses", s)
	}
	// a.example was least recently used, so it was evicted and is new now.
	if evicted, _ := c.Get("a.example"); evicted == first {
		t.Error("evicted leaf returned")
	}
}

func TestLeafCacheRenewsNearExpiry(t *testing.T) {
	ca, _, _ := newTestCA(t)
	c := NewLeafCache(ca, 10)
	start := time.Now()
	c.now = func() time.Time { return start }
	first, err := c.Get("renew.example")
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return start.Add(leafValidity - 2*time.Hour) }
	if got, _ := c.Get("renew.example"); got != first {
		t.Error("leaf with 2h left was replaced")
	}
	c.now = func() time.Time { return start.Add(leafValidity - 30*time.Minute) }
	renewed, err := c.Get("renew.example")
	if err != nil {
		t.Fatal(err)
	}
	if renewed == first || renewed.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Fatal("near-expiry leaf reused")
	}
	if !renewed.Leaf.NotAfter.After(first.Leaf.NotAfter) {
		t.Error("renewed leaf does not expire later")
	}
}

func TestLeafNotAfterCappedByCA(t *testing.T) {
	ca, _, _ := newTestCA(t)
	c := NewLeafCache(ca, 10)
	caEnd := ca.Certificate().NotAfter
	c.now = func() time.Time { return caEnd.Add(-3 * 24 * time.Hour) }
	cert, err := c.Get("late.example")
	if err != nil {
		t.Fatal(err)
	}
	if !cert.Leaf.NotAfter.Equal(caEnd) {
		t.Errorf("leaf NotAfter %v, want CA NotAfter %v", cert.Leaf.NotAfter, caEnd)
	}
	c.now = func() time.Time { return caEnd.Add(time.Minute) }
	if _, err := c.Get("after.example"); err == nil {
		t.Error("issued a leaf after the CA expired")
	}
}

func TestLeafCacheConcurrentMissGeneratesOnce(t *testing.T) {
	ca, _, _ := newTestCA(t)
	c := NewLeafCache(ca, 10)
	const n = 32
	results := make([]any, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cert, err := c.Get("same.example")
			if err != nil {
				t.Error(err)
			}
			results[i] = cert
		}()
	}
	wg.Wait()
	for i := range results {
		if results[i] != results[0] {
			t.Fatal("concurrent Gets returned different leaves")
		}
	}
	if s := c.Stats(); s.Misses != 1 {
		t.Errorf("misses = %d, want 1", s.Misses)
	}
}

func BenchmarkLeafCacheHit(b *testing.B) {
	ca, _, _ := newTestCA(b)
	c := NewLeafCache(ca, 10)
	if _, err := c.Get("bench.example"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Get("bench.example"); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzNormalizeHost: whatever the client sends as SNI or CONNECT host, an
// accepted key is stable under renormalisation and holds only safe bytes.
func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{"api.example.com", "API.example.com.", "::1", "10.0.0.1", "a..b", "fe80::1%eth0", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		key, ip, err := normalizeHost(host)
		if err != nil {
			return
		}
		again, ip2, err := normalizeHost(key)
		if err != nil || again != key || !ip.Equal(ip2) {
			t.Fatalf("%q -> %q -> %q, %v", host, key, again, err)
		}
		if strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r > '~' || r == '/' || r == '%' }) {
			t.Fatalf("unsafe key %q", key)
		}
	})
}
