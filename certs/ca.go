// Package certs holds the proxy's own MITM certificate authority and the
// bounded cache of leaf certificates it issues for intercepted hosts.
//
// The CA is created once per machine (CreateCA) and loaded at start-up
// (LoadCA). Its private key never leaves this package in printable form:
// CA has a redacted String. Leaves are short-lived (7 days at most) ECDSA
// P-256 certificates, cached per host in an LRU so that a client naming many
// distinct hosts cannot grow memory without bound.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"
)

// caValidity is how long a newly created CA is valid. Long, because users
// install it in trust stores by hand and should not have to do so often.
const caValidity = 10 * 365 * 24 * time.Hour

// CA is the proxy's certificate authority: its certificate and private key.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

// String describes the CA without its key, so a CA passed to a logger or
// fmt by mistake never prints key material.
func (ca *CA) String() string {
	if ca == nil || ca.cert == nil {
		return "certs.CA{<nil>}"
	}
	return fmt.Sprintf("certs.CA{subject=%q, notAfter=%s, key=REDACTED}",
		ca.cert.Subject.String(), ca.cert.NotAfter.UTC().Format(time.RFC3339))
}

// GoString keeps %#v as redacted as %v.
func (ca *CA) GoString() string { return ca.String() }

// CertPEM returns the CA certificate in PEM form, for users to install in a
// trust store. The caller must not modify it.
func (ca *CA) CertPEM() []byte { return ca.certPEM }

// Certificate returns the parsed CA certificate. The caller must not modify it.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CreateCA makes a new CA (ECDSA P-256, valid 10 years) and writes its
// certificate (PEM, mode 0644) and PKCS#8 private key (PEM, mode 0600).
// Missing parent directories are created with mode 0700. It refuses to
// overwrite either file, so an installed CA is never replaced by accident.
func CreateCA(certPath, keyPath string) (*CA, error) {
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("create CA: %s already exists; refusing to overwrite it", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("create CA: %w", err)
		}
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create CA: generate key: %w", err)
	}
	tmpl, err := caTemplate(key.Public(), time.Now())
	if err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA: sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("create CA: parse certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("create CA: marshal key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})

	if err := writeFiles([]fileSpec{
		{path: keyPath, data: keyPEM, mode: 0o600},
		{path: certPath, data: certPEM, mode: 0o644},
	}); err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	return &CA{cert: cert, certPEM: certPEM, key: key}, nil
}

// caTemplate is the CA certificate profile, modelled on mkcert. The OU
// carries the host name and a random tag so two machines' CAs are told
// apart in a trust store.
func caTemplate(pub crypto.PublicKey, now time.Time) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	tag := make([]byte, 4)
	if _, err := rand.Read(tag); err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         "Alter sidecar CA",
			Organization:       []string{"Alter"},
			OrganizationalUnit: []string{host + " " + hex.EncodeToString(tag)},
		},
		NotBefore:             now.Add(-time.Hour), // tolerate clock skew between hosts
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // this CA signs leaves only, never another CA
		SubjectKeyId:          skid,
	}, nil
}

// randomSerial returns a random 128-bit serial number.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	serial, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, fmt.Errorf("generate serial: %w", err)
	}
	return serial, nil
}

// subjectKeyID is the SHA-1 of the subject public key bits (RFC 5280
// 4.2.1.2, method 1), as mkcert does.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	var info struct {
		Algorithm        pkix.AlgorithmIdentifier
		SubjectPublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		return nil, fmt.Errorf("decode public key: %w", err)
	}
	sum := sha1.Sum(info.SubjectPublicKey.Bytes)
	return sum[:], nil
}

// LoadCA reads a CA certificate and its private key. Errors name the file
// and the problem. The key may be PKCS#8 (ECDSA, RSA, Ed25519), SEC 1 EC or
// PKCS#1 RSA; it must not be readable by group or others.
func LoadCA(certPath, keyPath string) (*CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("load CA certificate: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil, fmt.Errorf("load CA certificate %s: no PEM block found", certPath)
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("load CA certificate %s: PEM block is %q, not a certificate", certPath, block.Type)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load CA certificate %s: not a valid certificate: %w", certPath, err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, fmt.Errorf("load CA certificate %s: not a CA certificate (basic constraints CA:FALSE)", certPath)
	}
	if now := time.Now(); now.After(cert.NotAfter) {
		return nil, fmt.Errorf("load CA certificate %s: expired on %s; create a new CA",
			certPath, cert.NotAfter.UTC().Format(time.RFC3339))
	}

	key, err := loadKey(keyPath)
	if err != nil {
		return nil, err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("load CA key %s: key does not match certificate %s", keyPath, certPath)
	}
	// Keep only the first PEM block, so CertPEM is exactly the CA.
	return &CA{cert: cert, certPEM: pem.EncodeToMemory(block), key: key}, nil
}

// loadKey reads a private key PEM file, refusing one others may read.
func loadKey(keyPath string) (crypto.Signer, error) {
	fi, err := os.Stat(keyPath)
	if err != nil {
		return nil, fmt.Errorf("load CA key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("load CA key %s: mode %04o lets group or others read it; run: chmod 600 %s",
			keyPath, perm, keyPath)
	}
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("load CA key: %w", err)
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("load CA key %s: no private key PEM block found", keyPath)
		}
		var key any
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue // e.g. the "EC PARAMETERS" block openssl writes first
		}
		if err != nil {
			// Do not wrap: parser errors are generic, and the key bytes stay out of it.
			return nil, fmt.Errorf("load CA key %s: cannot parse %s block", keyPath, block.Type)
		}
		switch k := key.(type) {
		case *ecdsa.PrivateKey:
			return k, nil
		case *rsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		default:
			return nil, fmt.Errorf("load CA key %s: unsupported key type %T", keyPath, key)
		}
	}
}
