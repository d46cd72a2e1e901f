package remote_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/approval/approvaltest"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/internal/testapprovals"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/internal/testkeys"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/secretstore/remote"
	"github.com/alter-sidecar/alter/server/api"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// approvaltest's clock: the server decides by its own clock, so it runs
// on the same one.
var approvalT0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// approvalServer is the real API over storage on addr, with a sidecar
// client of app "billing" and admin clients named after the people of
// approvaltest, so a decision's By is the deciding token's name.
type approvalServer struct {
	db      storage.Storage
	api     *api.Handler
	sidecar *client.Client
	admins  map[string]*client.Client
}

func newApprovalServer(t *testing.T, addr string) *approvalServer {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, addr, testkeys.Fixed(7))
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(api.Options{Store: db, Now: func() time.Time { return approvalT0 }})
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.CloseClientConnections(); h.Close(); srv.Close(); db.Close() })
	mk := func(kind, name, app string) *client.Client {
		_, tok, err := db.CreateToken(ctx, storage.NewToken{Kind: kind, Name: name, App: app})
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.New(client.Options{URL: srv.URL, Token: client.Token(tok), Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	s := &approvalServer{db: db, api: h, sidecar: mk(wire.KindSidecar, "pod", "billing"), admins: map[string]*client.Client{}}
	for _, who := range []string{"alice", "bob", "agent"} {
		s.admins[who] = mk(wire.KindAdmin, who, "")
	}
	return s
}

func (s *approvalServer) grant(t *testing.T, app string) string {
	t.Helper()
	g, err := s.db.AddFor(context.Background(), app, secretstore.NewSecret{Spec: inject.Spec{Type: inject.TypeBearer},
		Fields: inject.Fields{"token": "t"}, Name: "n", Policy: policy.Spec{Destinations: []string{"api.example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	return g.ID
}

// decidedBy is the sidecar's store, deciding through the admin API as the
// person the decision names.
type decidedBy struct {
	*remote.Approvals
	admins map[string]*client.Client
}

func (d decidedBy) Decide(ctx context.Context, id string, dec approval.Decision) (approval.Approval, error) {
	body := wire.ApprovalDecide{Decision: wire.DecisionDeny, Note: dec.Note}
	if dec.Approve {
		body.Decision = wire.DecisionApprove
	}
	if dec.For > 0 {
		body.For = dec.For.String()
	}
	return d.admins[dec.By].DecideApproval(ctx, id, body)
}

// TestApprovalStoreOverAPI: the remote store passes the behaviour every
// approval store has, through the real API, on SQLite and PostgreSQL.
func TestApprovalStoreOverAPI(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		s := newApprovalServer(t, addr)
		approvaltest.Run(t, func(t *testing.T) approval.Store {
			ids := map[string]string{"g1": s.grant(t, "billing"), "g2": s.grant(t, "billing")}
			return testapprovals.Rename(decidedBy{remote.NewApprovals(s.sidecar), s.admins}, ids)
		})
	})
}

func heldRequest(grantID string) approval.Request {
	return approval.Request{GrantID: grantID, Actor: "agent", Method: "POST", Scheme: "https", Host: "api.example.com", Port: 443,
		Path: "/v1/refunds", RequestID: "req-1", Match: approval.MatchKey(grantID, "POST", "https://api.example.com/v1/refunds", nil)}
}

// A sidecar token reaches only its app's approvals, cannot decide, and
// the admin API refuses a decision by the request's own client.
func TestApprovalAPIBoundaries(t *testing.T) {
	s := newApprovalServer(t, testdb.SQLite(t))
	ctx := context.Background()
	other, mine := s.grant(t, "search"), s.grant(t, "billing")
	theirs, err := s.db.Approvals("search").Create(ctx, heldRequest(other), approvalT0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	st := remote.NewApprovals(s.sidecar)
	if _, err := st.Create(ctx, heldRequest(other), approvalT0, time.Hour); !errors.Is(err, secretstore.ErrGrantUnavailable) {
		t.Errorf("Create for another app's grant: %v", err)
	}
	if _, err := st.Get(ctx, theirs.ID); !errors.Is(err, approval.ErrNotFound) {
		t.Errorf("Get of another app's approval: %v", err)
	}
	if err := st.Use(ctx, theirs.ID, "r", approvalT0); !errors.Is(err, approval.ErrNotFound) {
		t.Errorf("Use of another app's approval: %v", err)
	}
	if _, err := st.Decide(ctx, theirs.ID, approval.Decision{Approve: true, By: "pod", At: approvalT0}); !errors.Is(err, remote.ErrDecideOnServer) {
		t.Errorf("Decide through the sidecar store: %v", err)
	}
	if _, err := s.sidecar.DecideApproval(ctx, theirs.ID, wire.ApprovalDecide{Decision: wire.DecisionApprove}); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("a sidecar token on the decide endpoint: %v", err)
	}
	mineA, err := st.Create(ctx, heldRequest(mine), approvalT0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.admins["agent"].DecideApproval(ctx, mineA.ID, wire.ApprovalDecide{Decision: wire.DecisionApprove}); !errors.Is(err, approval.ErrSelfApproval) {
		t.Errorf("self approval: %v", err)
	}
	for name, body := range map[string]wire.ApprovalDecide{
		"no decision":      {},
		"for on a denial":  {Decision: wire.DecisionDeny, For: "1h"},
		"for too long":     {Decision: wire.DecisionApprove, For: "721h"},
		"note too long":    {Decision: wire.DecisionDeny, Note: string(make([]byte, approval.MaxNote+1))},
		"unknown decision": {Decision: "maybe"},
	} {
		if _, err := s.admins["alice"].DecideApproval(ctx, mineA.ID, body); !errors.Is(err, secretstore.ErrInvalid) {
			t.Errorf("%s: %v, want invalid_request", name, err)
		}
	}
	got, err := s.admins["alice"].DecideApproval(ctx, mineA.ID, wire.ApprovalDecide{Decision: wire.DecisionApprove, Note: "ok", For: "15m"})
	if err != nil || got.Decision.By != "alice" || !got.Decision.At.Equal(approvalT0) || got.CoversUntil == nil {
		t.Fatalf("decide = %+v, %v", got, err)
	}
	if _, err := s.admins["bob"].DecideApproval(ctx, mineA.ID, wire.ApprovalDecide{Decision: wire.DecisionDeny}); !errors.Is(err, approval.ErrDecided) {
		t.Errorf("second decision: %v", err)
	}
	list, err := s.admins["bob"].ListApprovals(ctx, approval.Filter{Status: approval.StatusPending})
	if err != nil || len(list) != 1 || list[0].ID != theirs.ID {
		t.Errorf("admin list of pending = %v, %v", list, err)
	}
	if _, err := s.admins["bob"].ListApprovals(ctx, approval.Filter{Status: "later"}); !errors.Is(err, secretstore.ErrInvalid) {
		t.Errorf("bad status filter: %v", err)
	}
}

// A sidecar's wait ends within a second of a decision made through the
// admin API, and a wait bounded by its context still says what the
// approval is.
func TestApprovalWaitOverAPI(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		s := newApprovalServer(t, addr)
		ctx := context.Background()
		st := remote.NewApprovals(s.sidecar)
		a, err := st.Create(ctx, heldRequest(s.grant(t, "billing")), approvalT0, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if got, err := st.Wait(short, a.ID); !errors.Is(err, context.DeadlineExceeded) || got.Status != approval.StatusPending {
			t.Fatalf("bounded Wait = %+v, %v", got, err)
		}
		type result struct {
			a   approval.Approval
			err error
			at  time.Time
		}
		done := make(chan result, 1)
		go func() {
			got, err := st.Wait(ctx, a.ID)
			done <- result{got, err, time.Now()}
		}()
		// The decision comes once the wait is parked on the server.
		waitFor(t, "the wait parked", func() bool { return s.api.OpenWaits() == 1 })
		decided := time.Now()
		if _, err := s.admins["alice"].DecideApproval(ctx, a.ID, wire.ApprovalDecide{Decision: wire.DecisionDeny, Note: "no"}); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil || r.a.Status != approval.StatusDenied || r.a.Decision.Note != "no" {
			t.Fatalf("Wait = %+v, %v", r.a, r.err)
		}
		if d := r.at.Sub(decided); d > time.Second {
			t.Errorf("the sidecar learnt of the decision %v after it", d)
		}
	})
}
