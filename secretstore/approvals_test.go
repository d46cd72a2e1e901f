package secretstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/approval/approvaltest"
)

func TestFileApprovals(t *testing.T) {
	approvaltest.Run(t, func(t *testing.T) approval.Store { return newStore(t).Approvals() })
}

// Two stores on one file (two proxies, or a proxy and the CLI) see each
// other's approvals and decisions.
func TestFileApprovalsShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grants.json")
	proxy := openAt(t, path, mustKeyring(t, testKey(1))).Approvals()
	cli := openAt(t, path, mustKeyring(t, testKey(1))).Approvals()
	now := time.Now()
	a, err := proxy.Create(ctx, approval.Request{GrantID: "g", Method: "POST", Match: "m"}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Decide(ctx, a.ID, approval.Decision{Approve: true, By: "alice", At: now}); err != nil {
		t.Fatal(err)
	}
	got, err := proxy.Wait(ctx, a.ID)
	if err != nil || got.Status != approval.StatusApproved {
		t.Fatalf("Wait = %+v, %v", got, err)
	}
}

// An approval forged or edited without the master key is refused, and the
// whole file with it: a held request fails closed rather than trust it.
func TestFileApprovalsTampered(t *testing.T) {
	s := newStore(t)
	now := time.Now()
	a, err := s.Approvals().Create(ctx, approval.Request{GrantID: "g", Method: "POST", Match: "m"}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path := ApprovalsPath(s.path)
	data, _ := os.ReadFile(path)
	edited := bytes.Replace(data, []byte(`"pending"`), []byte(`"approved"`), 1)
	if bytes.Equal(edited, data) {
		t.Fatal("test did not edit the file")
	}
	if err := os.WriteFile(path, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Approvals().Get(ctx, a.ID); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Get after an edit: %v", err)
	}
	if _, _, err := s.Approvals().Find(ctx, approval.Request{GrantID: "g", Method: "POST", Match: "m"}, now); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Find after an edit: %v", err)
	}
	other := openAt(t, filepath.Join(t.TempDir(), "grants.json"), mustKeyring(t, testKey(2)))
	if err := os.WriteFile(ApprovalsPath(other.path), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Approvals().Get(ctx, a.ID); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("an approval signed under another key: %v", err)
	}
}
