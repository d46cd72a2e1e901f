package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/config"
)

// TestStartForwarders: audit.forward as parsed from YAML, with its key
// from secret_file, delivers signed batches of the durable log.
func TestStartForwarders(t *testing.T) {
	const key = "cmd-forward-test-key-0123456789"
	var mu sync.Mutex
	ids := map[string]bool{}
	got := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := forward.Verify([]byte(key), r.Header.Get(forward.HeaderTimestamp), r.Header.Get(forward.HeaderSignature), body, time.Now(), time.Minute); err != nil {
			t.Errorf("signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var b forward.Batch
		_ = json.Unmarshal(body, &b)
		mu.Lock()
		for _, rec := range b.Records {
			ids[rec.ID] = true
		}
		mu.Unlock()
		select {
		case got <- struct{}{}:
		default:
		}
	}))
	defer srv.Close()
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "hook.key"), []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte("version: 1\naudit:\n  path: audit.log\n  durable: true\n  forward:\n"+
		"    - {name: siem, type: webhook, url: '"+srv.URL+"/h', secret_file: hook.key}\n"), home, home)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := audit.NewDurableSink(cfg.Audit.Path, audit.DurableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	for i := 0; i < 5; i++ {
		if err := sink.Write(audit.Record{RequestID: "r", Decision: audit.DecisionAllow}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := startForwarders(cfg.Audit, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		mu.Lock()
		n := len(ids)
		mu.Unlock()
		if n == 5 {
			break
		}
		select {
		case <-got:
		case <-deadline:
			t.Fatalf("receiver has %d records", n)
		}
	}
	f.Stop(time.Second)
	if _, err := os.Stat(forward.StatePath(cfg.Audit.Path, "siem")); err != nil {
		t.Fatalf("no position file: %v", err)
	}
}
