package inject

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ErrNotMinted: a minted type's injector was handed something other than
// one minted token (a bug in the caller; nothing is sent).
var ErrNotMinted = errors.New("a minted credential needs its minted token, not its stored fields")

// checkMultiLine is checkValue for a field that may hold newlines (a PEM
// key, a JSON key file): no NUL or other control bytes but tab, CR and LF.
func checkMultiLine(name, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("field %q is empty", name)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f {
			return fmt.Errorf("field %q contains a NUL or control character", name)
		}
	}
	return nil
}

// checkMintFields checks what a minted type can check before it is used:
// keys parse and fit the algorithm, a key file is a service account's. The
// errors name fields and what is wrong, never a value.
func (in *Injector) checkMintFields(f Fields) error {
	switch in.typ {
	case TypeGoogleServiceAccount:
		if _, err := ParseServiceAccount(f["service_account_json"]); err != nil {
			return fmt.Errorf("%w: field \"service_account_json\": %v", ErrInvalidFields, err)
		}
	case TypeGitHubApp:
		k, err := ParseSigningKey(f["private_key"])
		if err == nil {
			err = checkRSA(k)
		}
		if err != nil {
			return fmt.Errorf("%w: field \"private_key\": %v", ErrInvalidFields, err)
		}
	case TypeJWT:
		if _, err := JWTKey(*in.mint, f["key"]); err != nil {
			return fmt.Errorf("%w: field \"key\": %v", ErrInvalidFields, err)
		}
	}
	return nil
}

// ServiceAccount is the part of a Google service-account key file the JWT
// bearer flow needs. PrivateKey is secret.
type ServiceAccount struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
}

// String never prints the key.
func (s ServiceAccount) String() string {
	return "ServiceAccount{" + s.ClientEmail + ": " + redacted + "}"
}

// GoString keeps %#v from printing the key.
func (s ServiceAccount) GoString() string { return s.String() }

// ParseServiceAccount reads a service-account JSON key. Its errors never
// quote the file.
func ParseServiceAccount(raw string) (ServiceAccount, error) {
	var sa ServiceAccount
	if err := json.Unmarshal([]byte(raw), &sa); err != nil {
		return sa, errors.New("not a JSON key file")
	}
	switch {
	case sa.Type != "service_account":
		return sa, errors.New(`"type" is not "service_account" (download a key for a service account)`)
	case sa.ClientEmail == "" || !validLiteral(sa.ClientEmail):
		return sa, errors.New(`"client_email" is missing`)
	case !validLiteral(sa.PrivateKeyID):
		return sa, errors.New(`"private_key_id" holds a control character`)
	}
	k, err := ParseSigningKey(sa.PrivateKey)
	if err == nil {
		err = checkRSA(k)
	}
	if err != nil {
		return sa, fmt.Errorf(`"private_key": %v`, err)
	}
	return sa, nil
}

// ParseSigningKey reads one PEM private key: PKCS #8, PKCS #1 (RSA) or SEC 1
// (EC). Encrypted keys are refused.
func ParseSigningKey(text string) (crypto.Signer, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil {
		return nil, errors.New("not a PEM private key")
	}
	if block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
		return nil, errors.New("the PEM key is encrypted; store it decrypted")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, errors.New("the PEM private key does not parse")
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("unsupported private key type")
	}
	return s, nil
}

func checkRSA(k crypto.Signer) error {
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return errors.New("want an RSA key")
	}
	if rk.N.BitLen() < 2048 {
		return errors.New("the RSA key is shorter than 2048 bits")
	}
	return nil
}

// JWTKey returns the signing key of a jwt credential: the secret bytes for
// HS256, the parsed private key for RS256 and ES256.
func JWTKey(m MintSpec, v string) (any, error) {
	switch m.Algorithm {
	case "HS256":
		var key []byte
		var err error
		switch m.KeyEncoding {
		case "hex":
			key, err = hex.DecodeString(strings.TrimSpace(v))
		case "base64":
			key, err = base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		default:
			key = []byte(v)
		}
		if err != nil {
			return nil, fmt.Errorf("not valid %s", m.KeyEncoding)
		}
		if len(key) < 16 {
			return nil, errors.New("an HS256 key must be at least 16 bytes")
		}
		return key, nil
	case "RS256":
		k, err := ParseSigningKey(v)
		if err == nil {
			err = checkRSA(k)
		}
		return k, err
	case "ES256":
		k, err := ParseSigningKey(v)
		if err != nil {
			return nil, err
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok || ek.Curve != elliptic.P256() {
			return nil, errors.New("ES256 needs a P-256 EC key")
		}
		return ek, nil
	}
	return nil, fmt.Errorf("unknown algorithm %q", m.Algorithm)
}
