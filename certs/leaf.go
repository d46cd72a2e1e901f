package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

const (
	// leafValidity is short: leaves are regenerated cheaply and a stolen
	// one is useless soon.
	leafValidity = 7 * 24 * time.Hour
	// renewBefore: a cached leaf this close to expiry is replaced rather
	// than handed to a TLS handshake that may outlive it.
	renewBefore = time.Hour
	// DefaultLeafCacheSize is used when NewLeafCache gets a size <= 0.
	DefaultLeafCacheSize = 1024
)

// ErrInvalidHost is returned (wrapped) by LeafCache.Get for an empty host
// or one that is neither a DNS name nor an IP literal.
var ErrInvalidHost = errors.New("invalid host for leaf certificate")

// LeafCache issues leaf certificates signed by a CA and keeps the most
// recently used ones in a bounded LRU keyed by host. It is safe for
// concurrent use.
type LeafCache struct {
	ca  *CA
	now func() time.Time // injectable clock for tests

	mu       sync.Mutex
	lru      *simplelru.LRU[string, *tls.Certificate]
	inflight map[string]*leafCall
	hits     uint64
	misses   uint64
}

// leafCall lets concurrent misses for one host wait for a single
// generation instead of each signing its own leaf.
type leafCall struct {
	done chan struct{}
	cert *tls.Certificate
	err  error
}

// CacheStats is a snapshot of the cache counters, for metrics.
type CacheStats struct {
	Hits   uint64 // Get answered from the cache
	Misses uint64 // Get generated a new leaf (including renewals)
	Size   int    // leaves currently cached
}

// NewLeafCache returns a cache holding at most size leaves signed by ca.
// A size <= 0 means DefaultLeafCacheSize.
func NewLeafCache(ca *CA, size int) *LeafCache {
	if size <= 0 {
		size = DefaultLeafCacheSize
	}
	l, err := simplelru.NewLRU[string, *tls.Certificate](size, nil)
	if err != nil {
		panic(err) // unreachable: size > 0
	}
	return &LeafCache{ca: ca, now: time.Now, lru: l, inflight: make(map[string]*leafCall)}
}

// Get returns a certificate for host (a DNS name or an IP literal, without
// port or brackets), with the chain [leaf, CA] and Leaf set. Names are
// matched case-insensitively and without a trailing dot.
func (c *LeafCache) Get(host string) (*tls.Certificate, error) {
	key, ip, err := normalizeHost(host)
	if err != nil {
		return nil, err
	}

	c.mu.Lock()
	if cert, ok := c.lru.Get(key); ok && c.fresh(cert) {
		c.hits++
		c.mu.Unlock()
		return cert, nil
	}
	if call, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		<-call.done
		return call.cert, call.err
	}
	call := &leafCall{done: make(chan struct{})}
	c.inflight[key] = call
	c.misses++
	c.mu.Unlock()

	// Sign outside the lock so hits for other hosts are not held up.
	call.cert, call.err = c.issue(key, ip)

	c.mu.Lock()
	delete(c.inflight, key)
	if call.err == nil {
		c.lru.Add(key, call.cert)
	}
	c.mu.Unlock()
	close(call.done)
	return call.cert, call.err
}

// Stats returns the current counters.
func (c *LeafCache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Hits: c.hits, Misses: c.misses, Size: c.lru.Len()}
}

// fresh reports whether a cached leaf may be reused now.
func (c *LeafCache) fresh(cert *tls.Certificate) bool {
	now := c.now()
	return !now.Before(cert.Leaf.NotBefore) && now.Add(renewBefore).Before(cert.Leaf.NotAfter)
}

// issue signs a new leaf for host (already normalised).
func (c *LeafCache) issue(host string, ip net.IP) (*tls.Certificate, error) {
	now := c.now()
	caCert := c.ca.cert
	notAfter := now.Add(leafValidity)
	if caCert.NotAfter.Before(notAfter) {
		notAfter = caCert.NotAfter // a leaf cannot outlive its CA
	}
	if !notAfter.After(now) {
		return nil, fmt.Errorf("issue leaf for %s: CA expired on %s", host, caCert.NotAfter.UTC().Format(time.RFC3339))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("issue leaf for %s: generate key: %w", host, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("issue leaf for %s: %w", host, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:   serial,
		Subject:        pkix.Name{CommonName: host, Organization: []string{"Alter sidecar"}},
		NotBefore:      now.Add(-time.Hour), // tolerate client clock skew
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		AuthorityKeyId: caCert.SubjectKeyId,
	}
	if ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), c.ca.key)
	if err != nil {
		return nil, fmt.Errorf("issue leaf for %s: sign: %w", host, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("issue leaf for %s: parse: %w", host, err)
	}
	return &tls.Certificate{
		Certificate: [][]byte{der, caCert.Raw},
		PrivateKey:  key,
		Leaf:        leaf,
	}, nil
}

// normalizeHost validates host and returns its cache key and, for an IP
// literal, the IP. Names are lower-cased and lose a trailing dot; IPs take
// their canonical text form so "::1" and "0:0::1" share one leaf.
func normalizeHost(host string) (string, net.IP, error) {
	if host == "" {
		return "", nil, fmt.Errorf("%w: empty", ErrInvalidHost)
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.Zone() != "" {
			return "", nil, fmt.Errorf("%w: %q has an IPv6 zone", ErrInvalidHost, host)
		}
		return addr.String(), net.IP(addr.AsSlice()), nil
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	// "10.0.0.1." is no IP literal, and as a name it would share the IP's
	// cache key while carrying a DNS SAN: refuse it.
	if _, err := netip.ParseAddr(name); err == nil || !validDNSName(name) {
		return "", nil, fmt.Errorf("%w: %q", ErrInvalidHost, host)
	}
	return name, nil, nil
}

// validDNSName accepts lower-case LDH names (plus '_', which real hosts
// use) with labels of 1-63 bytes and at most 253 bytes in all. Non-ASCII
// names must arrive in punycode.
func validDNSName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	// Scan labels in place: this runs on every handshake, cache hit or not.
	for len(name) > 0 {
		label, rest, found := strings.Cut(name, ".")
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			b := label[i]
			if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
				return false
			}
		}
		if found && rest == "" {
			return false // an empty last label, as in "a.." before trimming
		}
		name = rest
	}
	return true
}
