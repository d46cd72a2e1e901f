package attack

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testbin"
)

// Class 8: a tampered or swapped record, a wrong or short key are errors
// (503, or a refusal to start), never a wrong credential; rotation keeps old
// records readable; concurrent writers lose nothing; changes apply without
// a restart; the decrypted cache stays bounded.
func TestAttackStoreAndKeys(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOpts{cache: "{size: 2, ttl: 5m}", setup: func(e *env) {
		e.addGrant("old", "--type", "bearer", "--allow-host", "api.attack.test")
		// Rotate the master key: append a key line; the last one seals.
		other := t.TempDir()
		if _, err := e.alter("", "--home", other, "init"); err != nil {
			t.Fatal(err)
		}
		k, err := os.ReadFile(other + "/master.key")
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(e.home+"/master.key", os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "\n%s\n", lastKeyLine(string(k)))
		f.Close()
		e.addGrant("new", "--type", "bearer", "--allow-host", "api.attack.test")
		for i := 0; i < 3; i++ {
			e.addGrant(fmt.Sprint("c", i), "--type", "bearer", "--allow-host", "api.attack.test")
		}
	}})
	get := func(id string) *resp { return e.send(absGet("https://api.attack.test/s", "api.attack.test", id)) }
	sees := func(t *testing.T, tag string) {
		t.Helper()
		s := e.allowed(t, e.good, func() *resp { return get(e.grants[tag]) })
		if s.Header.Get("Authorization") != "Bearer "+e.secret(tag) {
			t.Errorf("grant %s injected another value", tag)
		}
	}

	t.Run("key rotation keeps old records readable", func(t *testing.T) {
		sees(t, "old")
		sees(t, "new")
		if ids := keyIDs(t, e); len(ids) < 2 {
			t.Errorf("the new secret was not sealed with the new key: key ids %v", ids)
		}
	})
	t.Run("decrypted cache bounded by store.cache.size", func(t *testing.T) {
		for _, tag := range []string{"old", "new", "c0", "c1", "c2", "old"} {
			sees(t, tag)
		}
		if v := e.metric("alter_grant_cache_size"); v == "" || v > "2" || len(v) > 1 {
			t.Errorf("alter_grant_cache_size = %q, want at most 2", v)
		}
	})
	// tamper edits the sealed records; the grants on them must answer 503
	// and no other value, while the untouched grant keeps working.
	tamper := func(t *testing.T, broken []string, edit func(secrets []any)) {
		orig, err := os.ReadFile(e.home + "/grants.json")
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(orig, &doc); err != nil {
			t.Fatal(err)
		}
		edit(doc["secrets"].([]any))
		b, _ := json.Marshal(doc)
		writeAtomic(t, e.home+"/grants.json", b)
		defer func() {
			writeAtomic(t, e.home+"/grants.json", orig)
			eventually(t, func() bool { return get(e.grants[broken[0]]).status == 200 })
		}()
		eventually(t, func() bool { return get(e.grants[broken[0]]).status != 200 })
		for _, tag := range broken {
			e.refused(t, 503, "store_unavailable", func() *resp { return get(e.grants[tag]) })
		}
		sees(t, "new")
	}
	t.Run("flipped ciphertext byte", func(t *testing.T) {
		tamper(t, []string{"old"}, func(secrets []any) {
			s := secrets[0].(map[string]any)
			ct, _ := base64.StdEncoding.DecodeString(s["ciphertext"].(string))
			ct[len(ct)/2] ^= 1
			s["ciphertext"] = base64.StdEncoding.EncodeToString(ct)
		})
	})
	t.Run("sealed records swapped between secrets", func(t *testing.T) {
		tamper(t, []string{"c0", "c1"}, func(secrets []any) {
			a, b := secrets[2].(map[string]any), secrets[3].(map[string]any) // c0, c1: same key
			for _, k := range []string{"nonce", "ciphertext"} {
				a[k], b[k] = b[k], a[k]
			}
		})
	})
	t.Run("wrong or short key: the proxy refuses to serve grants", func(t *testing.T) {
		other := t.TempDir()
		if _, err := e.alter("", "--home", other, "init"); err != nil {
			t.Fatal(err)
		}
		short := other + "/short.key"
		_ = os.WriteFile(short, []byte(base64.StdEncoding.EncodeToString(make([]byte, 16))+"\n"), 0o600)
		for name, key := range map[string]string{"wrong key": other + "/master.key", "short key": short} {
			cfg, _ := os.ReadFile(e.cfgPath)
			e2 := *e
			e2.t, e2.proxyAddr, e2.adminAddr = t, "", ""
			e2.stderr, e2.stdout = &testbin.SyncBuffer{}, &testbin.SyncBuffer{}
			e2.cfgPath = e.dir + "/" + strings.ReplaceAll(name, " ", "-") + ".yaml"
			_ = os.WriteFile(e2.cfgPath, []byte(strings.Replace(string(cfg), e.home+"/master.key", key, 1)), 0o600)
			if !e2.tryStart() {
				t.Logf("%s: the proxy refuses to start: %s", name, strings.TrimSpace(e2.stderr.String()))
				continue // a fine answer
			}
			ready := -1
			if r, err := http.Get("http://" + e2.adminAddr + "/readyz"); err == nil {
				ready = r.StatusCode
				r.Body.Close()
			}
			t.Logf("%s: the proxy starts (/readyz %d); grant requests must fail closed", name, ready)
			for _, tag := range []string{"old", "new"} {
				e2.refused(t, 503, "store_unavailable", func() *resp {
					return e2.send(absGet("https://api.attack.test/s", "api.attack.test", e.grants[tag]))
				})
			}
			if strings.Contains(e2.stderr.String(), e.sentinel) {
				t.Errorf("LEAK: the secret is in the %s proxy's log", name)
			}
		}
	})
	t.Run("concurrent writers lose no grant", func(t *testing.T) {
		var wg sync.WaitGroup
		ids := make([]string, 8)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := e.alter(e.secret(fmt.Sprint("w", i)), "secret", "add", "--type", "bearer", "--allow-host", "api.attack.test")
				if err != nil {
					t.Error(err)
				}
				ids[i] = strings.TrimSpace(out)
			}()
		}
		wg.Wait()
		list, err := e.alter("", "grant", "list", "--json")
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if id == "" || !strings.Contains(list, id) {
				t.Errorf("grant %q lost", id)
			}
		}
	})
	t.Run("rotation and revocation apply without restart", func(t *testing.T) {
		id := e.grants["c2"]
		if _, err := e.alter(e.secret("rotated"), "grant", "rotate", id); err != nil {
			t.Fatal(err)
		}
		eventually(t, func() bool {
			s := e.good.lastSeen()
			return get(id).status == 200 && e.good.lastSeen() != s && e.good.lastSeen().Header.Get("Authorization") == "Bearer "+e.secret("rotated")
		})
		if _, err := e.alter("", "grant", "revoke", id); err != nil {
			t.Fatal(err)
		}
		eventually(t, func() bool { return get(id).status == 403 })
		e.refused(t, 403, "grant_unavailable", func() *resp { return get(id) })
	})
}

func lastKeyLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func keyIDs(t *testing.T, e *env) map[string]bool {
	b, _ := os.ReadFile(e.home + "/grants.json")
	var doc struct {
		Secrets []struct {
			KeyID string `json:"key_id"`
		} `json:"secrets"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, s := range doc.Secrets {
		ids[s.KeyID] = true
	}
	return ids
}

func writeAtomic(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond for up to three seconds: the proxy polls the store.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 3s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
