package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newTestCA(t testing.TB) (ca *CA, certPath, keyPath string) {
	t.Helper()
	dir := t.TempDir()
	certPath = filepath.Join(dir, "sub", "ca.pem")
	keyPath = filepath.Join(dir, "sub", "ca-key.pem")
	ca, err := CreateCA(certPath, keyPath)
	if err != nil {
		t.Fatalf("CreateCA: %v", err)
	}
	return ca, certPath, keyPath
}

func TestCreateCAProfileAndModes(t *testing.T) {
	ca, certPath, keyPath := newTestCA(t)
	c := ca.Certificate()
	if !c.IsCA || !c.BasicConstraintsValid || !c.MaxPathLenZero || c.MaxPathLen != 0 {
		t.Errorf("basic constraints: IsCA=%v valid=%v maxPathLenZero=%v", c.IsCA, c.BasicConstraintsValid, c.MaxPathLenZero)
	}
	wantKU := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	if c.KeyUsage != wantKU {
		t.Errorf("KeyUsage = %v, want %v", c.KeyUsage, wantKU)
	}
	if c.Subject.CommonName != "Alter sidecar CA" || len(c.Subject.OrganizationalUnit) != 1 {
		t.Errorf("subject = %v", c.Subject)
	}
	if len(c.SubjectKeyId) == 0 {
		t.Error("no SubjectKeyId")
	}
	if c.SerialNumber.BitLen() < 64 {
		t.Errorf("serial too short: %d bits", c.SerialNumber.BitLen())
	}
	if _, ok := c.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("public key %T, want ECDSA", c.PublicKey)
	}
	if d := time.Until(c.NotAfter); d < 9*365*24*time.Hour {
		t.Errorf("valid for only %v", d)
	}
	for path, want := range map[string]os.FileMode{certPath: 0o644, keyPath: 0o600, filepath.Dir(keyPath): 0o700} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode %04o, want %04o", filepath.Base(path), got, want)
		}
	}
	keyPEM, _ := os.ReadFile(keyPath)
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
		t.Errorf("key file is not a PKCS#8 PEM block")
	}
	// No temporary files left behind.
	entries, _ := os.ReadDir(filepath.Dir(keyPath))
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want 2", len(entries))
	}
	if s := fmt.Sprintf("%v %+v %#v %s", ca, ca, ca, ca); !strings.Contains(s, "REDACTED") || strings.Contains(s, "PRIVATE") {
		t.Errorf("CA prints as %q", s)
	}
}

func TestCreateCADiffersPerCall(t *testing.T) {
	a, _, _ := newTestCA(t)
	b, _, _ := newTestCA(t)
	if a.Certificate().Subject.String() == b.Certificate().Subject.String() {
		t.Error("two CAs share a subject")
	}
}

func TestCreateCARefusesOverwrite(t *testing.T) {
	_, certPath, keyPath := newTestCA(t)
	before, _ := os.ReadFile(keyPath)
	if _, err := CreateCA(certPath, keyPath); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("CreateCA over existing files: err = %v", err)
	}
	// Only one of the two exists: still refused, and the other is not created.
	other := filepath.Join(t.TempDir(), "new-key.pem")
	if _, err := CreateCA(certPath, other); err == nil {
		t.Fatal("CreateCA over existing cert succeeded")
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("key file created despite refusal: %v", err)
	}
	after, _ := os.ReadFile(keyPath)
	if !bytes.Equal(before, after) {
		t.Error("key file changed")
	}
}

func TestLoadCARoundTrip(t *testing.T) {
	ca, certPath, keyPath := newTestCA(t)
	got, err := LoadCA(certPath, keyPath)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if !got.Certificate().Equal(ca.Certificate()) || !bytes.Equal(got.CertPEM(), ca.CertPEM()) {
		t.Error("loaded CA differs from created CA")
	}
	// The loaded key can sign leaves that chain to the cert.
	if _, err := NewLeafCache(got, 1).Get("example.com"); err != nil {
		t.Errorf("issue with loaded CA: %v", err)
	}
}

// writeCA writes a self-signed CA for key, valid until notAfter, with the
// key in the given PEM form.
func writeCA(t *testing.T, key crypto.Signer, notAfter time.Time, keyForm string) (certPath, keyPath string) {
	t.Helper()
	tmpl, err := caTemplate(key.Public(), time.Now().Add(-48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.NotAfter = notAfter
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	switch keyForm {
	case "PRIVATE KEY":
		b, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: keyForm, Bytes: b}
	case "EC PRIVATE KEY":
		b, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: keyForm, Bytes: b}
	case "RSA PRIVATE KEY":
		block = &pem.Block{Type: keyForm, Bytes: x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))}
	}
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	writeFile(t, certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	writeFile(t, keyPath, pem.EncodeToMemory(block), 0o600)
	return certPath, keyPath
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile is subject to umask
		t.Fatal(err)
	}
}

func TestLoadCAKeyForms(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	future := time.Now().Add(24 * time.Hour)
	tests := []struct {
		name string
		key  crypto.Signer
		form string
	}{
		{"ecdsa pkcs8", ecKey, "PRIVATE KEY"},
		{"ecdsa sec1", ecKey, "EC PRIVATE KEY"},
		{"rsa pkcs8", rsaKey, "PRIVATE KEY"},
		{"rsa pkcs1", rsaKey, "RSA PRIVATE KEY"},
		{"ed25519 pkcs8", edKey, "PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPath, keyPath := writeCA(t, tt.key, future, tt.form)
			ca, err := LoadCA(certPath, keyPath)
			if err != nil {
				t.Fatalf("LoadCA: %v", err)
			}
			leaf, err := NewLeafCache(ca, 1).Get("example.com")
			if err != nil {
				t.Fatalf("issue leaf: %v", err)
			}
			if err := leaf.Leaf.CheckSignatureFrom(ca.Certificate()); err != nil {
				t.Errorf("leaf signature: %v", err)
			}
		})
	}
}

func TestLoadCAErrors(t *testing.T) {
	_, goodCert, goodKey := newTestCA(t)
	_, _, otherKey := newTestCA(t)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	expiredCert, expiredKey := writeCA(t, ecKey, time.Now().Add(-time.Hour), "PRIVATE KEY")

	dir := t.TempDir()
	path := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, data, mode)
		return p
	}
	garbage := path("garbage.pem", []byte("not pem at all\n"), 0o600)
	keyAsCert := path("key-as-cert.pem", mustRead(t, goodKey), 0o600)
	badDER := path("bad-der.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), 0o644)
	loose := path("loose-key.pem", mustRead(t, goodKey), 0o640)
	leaf, err := NewLeafCache(mustLoad(t, goodCert, goodKey), 1).Get("leaf.example")
	if err != nil {
		t.Fatal(err)
	}
	leafCert := path("leaf.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Certificate[0]}), 0o644)
	leafKeyDER, _ := x509.MarshalPKCS8PrivateKey(leaf.PrivateKey)
	leafKey := path("leaf-key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: leafKeyDER}), 0o600)

	tests := []struct {
		name      string
		cert, key string
		want      []string // substrings of the error
	}{
		{"missing cert", filepath.Join(dir, "nope.pem"), goodKey, []string{"nope.pem", "no such file"}},
		{"cert no PEM", garbage, goodKey, []string{garbage, "no PEM block"}},
		{"cert is a key", keyAsCert, goodKey, []string{keyAsCert, "not a certificate"}},
		{"cert bad DER", badDER, goodKey, []string{badDER, "not a valid certificate"}},
		{"not a CA", leafCert, leafKey, []string{leafCert, "not a CA"}},
		{"expired", expiredCert, expiredKey, []string{expiredCert, "expired"}},
		{"key mismatch", goodCert, otherKey, []string{otherKey, "does not match"}},
		{"key no PEM", goodCert, garbage, []string{garbage, "no private key PEM block"}},
		{"key group readable", goodCert, loose, []string{loose, "chmod 600"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadCA(tt.cert, tt.key)
			if err == nil {
				t.Fatal("LoadCA succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustLoad(t *testing.T, certPath, keyPath string) *CA {
	t.Helper()
	ca, err := LoadCA(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}
