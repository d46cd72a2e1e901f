package secretstore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// KeySize is the length of a master key in bytes (AES-256).
const KeySize = 32

// maxKeyFileSize bounds what LoadKeyFile reads: a key line is 45 bytes, so
// this allows thousands of rotations plus comments.
const maxKeyFileSize = 1 << 20

// macKeyLabel derives the record MAC key from a master key. Using a separate
// key for integrity keeps the AES key used only by AES-GCM.
const macKeyLabel = "alter record mac v1"

// Keyring holds the master keys. The last key is the active one: it seals
// new secrets and signs new records. Older keys are kept so records they
// sealed or signed still open; that is how a key is rotated (append a new
// line to the key file, restart or re-open). A Keyring is immutable and safe
// for concurrent use; it never prints its keys.
type Keyring struct {
	source string
	keys   []*masterKey // file order; the last is active
	byID   map[string]*masterKey
}

// masterKey is one key line, ready to use. The raw key bytes are not kept:
// only the AEAD built from them and the derived MAC key.
type masterKey struct {
	id     string
	aead   cipher.AEAD
	macKey []byte
}

// KeyID is the identifier of a master key: the first 16 hex digits of its
// SHA-256. It is stored beside every record so the right key is picked.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// ParseKeyring parses a keyring in its text form: one key per line, each the
// standard base64 of exactly 32 bytes; blank lines and lines starting with
// '#' are ignored. source names where the text came from (a file path or an
// environment variable) and appears in errors, which never contain key bytes.
func ParseKeyring(data []byte, source string) (*Keyring, error) {
	return parseKeyLines(strings.Split(string(data), "\n"), source, "line")
}

// parseKeyLines does the work of ParseKeyring; unit is what an entry is
// called in errors ("line" for files, "entry" for comma-separated values).
func parseKeyLines(lines []string, source, unit string) (*Keyring, error) {
	kr := &Keyring{source: source, byID: make(map[string]*masterKey)}
	firstLine := make(map[string]int)
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n := i + 1
		raw, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			return nil, fmt.Errorf("keyring %s: %s %d: not base64 (want the standard base64 of %d random bytes)", source, unit, n, KeySize)
		}
		if len(raw) != KeySize {
			return nil, fmt.Errorf("keyring %s: %s %d: key is %d bytes, want %d", source, unit, n, len(raw), KeySize)
		}
		k, err := newMasterKey(raw)
		clear(raw)
		if err != nil {
			return nil, fmt.Errorf("keyring %s: %s %d: %v", source, unit, n, err)
		}
		if prev, dup := firstLine[k.id]; dup {
			return nil, fmt.Errorf("keyring %s: %s %d: same key as %s %d", source, unit, n, unit, prev)
		}
		firstLine[k.id] = n
		kr.keys = append(kr.keys, k)
		kr.byID[k.id] = k
	}
	if len(kr.keys) == 0 {
		return nil, fmt.Errorf("keyring %s: no key found (want one base64 key per %s)", source, unit)
	}
	return kr, nil
}

func newMasterKey(raw []byte) (*masterKey, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte(macKeyLabel))
	return &masterKey{id: KeyID(raw), aead: aead, macKey: mac.Sum(nil)}, nil
}

// LoadKeyFile reads a keyring from a file. It refuses a file that grants
// its group or others any permission: a readable master key is a leaked one.
func LoadKeyFile(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s: mode %04o lets others read or change it; run: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	defer clear(data)
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("key file %s: larger than %d bytes", path, maxKeyFileSize)
	}
	return ParseKeyring(data, path)
}

// KeyringFromEnv reads a keyring from the environment variable name, in the
// same format as a key file; entries may be separated by newlines or commas
// (a single line is easier to pass to a container).
func KeyringFromEnv(name string) (*Keyring, error) {
	v, ok := os.LookupEnv(name)
	if !ok || strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("keyring $%s: not set", name)
	}
	lines := strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == ',' })
	return parseKeyLines(lines, "$"+name, "entry")
}

// GenerateKeyFile writes a keyring file holding one fresh random key, mode
// 0600. It never overwrites: an existing file is an error wrapping
// fs.ErrExist, because replacing a master key loses every secret it sealed.
func GenerateKeyFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("key file %s: %w", path, err)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# alter master keyring, created %s.\n", time.Now().UTC().Format(time.RFC3339))
	buf.WriteString("# Keep it secret and backed up: losing it loses every stored secret.\n")
	buf.WriteString("# To rotate, append a new key line; the last line seals new secrets.\n")
	buf.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
	clear(raw)
	defer clear(buf.Bytes())

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	_, werr := f.Write(buf.Bytes())
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		// A half-written key file would be refused later anyway; remove it
		// so a retry can succeed.
		_ = os.Remove(path)
		return fmt.Errorf("key file %s: %w", path, werr)
	}
	return syncDir(filepath.Dir(path))
}

// ActiveID is the id of the key that seals new secrets.
func (k *Keyring) ActiveID() string { return k.active().id }

// IDs lists the key ids, oldest first.
func (k *Keyring) IDs() []string {
	ids := make([]string, len(k.keys))
	for i, m := range k.keys {
		ids[i] = m.id
	}
	return ids
}

func (k *Keyring) active() *masterKey { return k.keys[len(k.keys)-1] }

// key returns the key with the given id.
func (k *Keyring) key(id string) (*masterKey, error) {
	if m, ok := k.byID[id]; ok {
		return m, nil
	}
	return nil, fmt.Errorf("key %s is not in keyring %s", id, k.source)
}

// String names the keyring by source and key ids, never key material.
// It has a value receiver so that printing a Keyring value, not only a
// pointer, is redacted too.
func (k Keyring) String() string {
	if len(k.keys) == 0 {
		return "Keyring{}"
	}
	return fmt.Sprintf("Keyring{source: %s, keys: %s, active: %s}", k.source, strings.Join(k.IDs(), ","), k.ActiveID())
}

// GoString keeps %#v from dumping the ciphers' internal state.
func (k Keyring) GoString() string { return k.String() }

// errNoKeyring is returned when a store is opened without keys.
var errNoKeyring = errors.New("no keyring")

// syncDir fsyncs a directory so a rename or create in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
