package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/audit"
)

// An approval decided with the file store is in the admin log, attempted
// then succeeded, with the decider, the grant, the verdict and the note;
// a decision the log cannot record is not made.
func TestApprovalDecisionLogged(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	mem := approval.NewMemory()
	ap, err := mem.Create(ctx, approval.Request{GrantID: "g-1", Actor: "billing", Method: "POST", Scheme: "https",
		Host: "api.example.com", Port: 443, Path: "/v1/charges"}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "admin-audit.log")
	s := loggedApprovals{mem, adminRecorder{path: path, actor: "ops@host"}}
	if _, err := s.Decide(ctx, ap.ID, approval.Decision{Approve: true, By: "ops@host", Note: "ok for now", At: now}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), raw)
	}
	for i, want := range []string{audit.OutcomeAttempted, audit.OutcomeSucceeded} {
		var m map[string]any
		if err := json.Unmarshal(lines[i], &m); err != nil {
			t.Fatal(err)
		}
		d, _ := m[audit.FieldDetail].(map[string]any)
		if m["event"] != audit.EventApprovalDecide || m["outcome"] != want || m["actor"] != "ops@host" || m["grant_id"] != "g-1" ||
			d["approval"] != "approve" || d["note"] != "ok for now" || d["host"] != "api.example.com" {
			t.Errorf("line %d: %s", i+1, lines[i])
		}
	}

	// The log's directory is gone: the decision is refused and the
	// approval stays pending.
	ap2, err := mem.Create(ctx, approval.Request{GrantID: "g-1", Method: "GET", Scheme: "https", Host: "api.example.com", Port: 443, Path: "/v1/x"}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	broken := loggedApprovals{mem, adminRecorder{path: filepath.Join(t.TempDir(), "gone", "admin-audit.log"), actor: "ops@host"}}
	if _, err := broken.Decide(ctx, ap2.ID, approval.Decision{Approve: false, By: "ops@host", At: now}); err == nil {
		t.Fatal("a decision the admin log could not record was made")
	}
	got, err := mem.Get(ctx, ap2.ID)
	if err != nil || got.StatusAt(now) != approval.StatusPending {
		t.Fatalf("after a refused decision: %v %v", got.StatusAt(now), err)
	}
}
