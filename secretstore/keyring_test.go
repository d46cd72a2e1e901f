package secretstore

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testKey returns the base64 of a deterministic 32-byte key.
func testKey(seed byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{seed}, KeySize))
}

func mustKeyring(t testing.TB, lines ...string) *Keyring {
	t.Helper()
	kr, err := ParseKeyring([]byte(strings.Join(lines, "\n")), "test")
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestParseKeyring(t *testing.T) {
	short := base64.StdEncoding.EncodeToString(make([]byte, 17))
	long := base64.StdEncoding.EncodeToString(make([]byte, 33))
	tests := []struct {
		name    string
		text    string
		wantErr string // substring; "" means success
		keys    int
	}{
		{name: "one key", text: testKey(1) + "\n", keys: 1},
		{name: "comments and blanks", text: "# master\n\n  " + testKey(1) + "  \r\n# next\n" + testKey(2), keys: 2},
		{name: "short key", text: short, wantErr: "test: line 1: key is 17 bytes, want 32"},
		{name: "long key", text: "# c\n" + long, wantErr: "line 2: key is 33 bytes, want 32"},
		{name: "not base64", text: testKey(1) + "\nnot*base64!", wantErr: "line 2: not base64"},
		{name: "url base64 refused", text: strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))), wantErr: "line 1: not base64"},
		{name: "empty", text: "# nothing\n\n", wantErr: "no key found"},
		{name: "duplicate", text: testKey(1) + "\n" + testKey(1), wantErr: "line 2: same key as line 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kr, err := ParseKeyring([]byte(tc.text), "test")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(kr.IDs()) != tc.keys {
				t.Fatalf("got %d keys, want %d", len(kr.IDs()), tc.keys)
			}
		})
	}
}

func TestKeyringErrorsNeverShowKeyMaterial(t *testing.T) {
	// 31 bytes: valid base64, wrong length.
	bad := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xab}, 31))
	_, err := ParseKeyring([]byte(bad), "f")
	if err == nil || strings.Contains(err.Error(), bad[:10]) {
		t.Fatalf("err = %v", err)
	}
}

func TestKeyringActiveIsLast(t *testing.T) {
	kr := mustKeyring(t, testKey(1), testKey(2))
	want := KeyID(bytes.Repeat([]byte{2}, KeySize))
	if kr.ActiveID() != want || len(kr.ActiveID()) != 16 {
		t.Fatalf("ActiveID = %q, want %q", kr.ActiveID(), want)
	}
}

func TestKeyringStringIsRedacted(t *testing.T) {
	kr := mustKeyring(t, testKey(7))
	raw := string(bytes.Repeat([]byte{7}, KeySize))
	for _, s := range []string{fmt.Sprint(kr), fmt.Sprintf("%+v", kr), fmt.Sprintf("%#v", kr), fmt.Sprintf("%v", *kr), fmt.Sprintf("%#v", *kr)} {
		if strings.Contains(s, testKey(7)[:12]) || strings.Contains(s, raw) {
			t.Fatalf("keyring printed key material: %q", s)
		}
		if !strings.Contains(s, kr.ActiveID()) {
			t.Fatalf("keyring string %q does not name its key id", s)
		}
	}
}

func TestKeyringFromEnv(t *testing.T) {
	t.Setenv("ALTER_TEST_KEYS", testKey(1)+","+testKey(2)+"\n")
	kr, err := KeyringFromEnv("ALTER_TEST_KEYS")
	if err != nil {
		t.Fatal(err)
	}
	if len(kr.IDs()) != 2 || kr.ActiveID() != KeyID(bytes.Repeat([]byte{2}, KeySize)) {
		t.Fatalf("keys %v active %s", kr.IDs(), kr.ActiveID())
	}
	t.Setenv("ALTER_TEST_KEYS", testKey(1)+",short")
	if _, err := KeyringFromEnv("ALTER_TEST_KEYS"); err == nil || !strings.Contains(err.Error(), "$ALTER_TEST_KEYS: entry 2") {
		t.Fatalf("err = %v", err)
	}
	if _, err := KeyringFromEnv("ALTER_TEST_UNSET_VARIABLE"); err == nil || !strings.Contains(err.Error(), "not set") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadKeyFile(t *testing.T) {
	tests := []struct {
		name    string
		mode    fs.FileMode
		wantErr string
	}{
		{name: "0600 accepted", mode: 0o600},
		{name: "0400 accepted", mode: 0o400},
		{name: "0644 refused", mode: 0o644, wantErr: "chmod 600"},
		{name: "0640 refused", mode: 0o640, wantErr: "chmod 600"},
		{name: "0602 refused", mode: 0o602, wantErr: "chmod 600"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "master.key")
			if err := os.WriteFile(path, []byte(testKey(1)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKeyFile(path)
			if tc.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path)) {
				t.Fatalf("err = %v, want it to name %s and contain %q", err, path, tc.wantErr)
			}
		})
	}
}

func TestGenerateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "home", "master.key")
	if err := GenerateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	kr, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := GenerateKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second GenerateKeyFile: err = %v, want fs.ErrExist", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("GenerateKeyFile overwrote an existing key file")
	}
	other := filepath.Join(filepath.Dir(path), "other.key")
	if err := GenerateKeyFile(other); err != nil {
		t.Fatal(err)
	}
	kr2, err := LoadKeyFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if kr.ActiveID() == kr2.ActiveID() {
		t.Fatal("two generated keys are equal")
	}
}
