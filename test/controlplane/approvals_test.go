package controlplane

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// heldPost sends a POST with grant through the sidecar; the answer comes
// on the channel once the sidecar lets it through or refuses it.
func (s *sidecar) heldPost(grant, body string) <-chan [2]string {
	out := make(chan [2]string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, "http://"+upstreamHost+"/v1/refunds", strings.NewReader(body))
		req.Header.Set("X-Alter-Grant", grant)
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.client.Do(req)
		if err != nil {
			out <- [2]string{"error", err.Error()}
			return
		}
		resp.Body.Close()
		out <- [2]string{resp.Status, resp.Header.Get("X-Alter-Error")}
	}()
	return out
}

// pendingApproval waits for the one pending approval of grant, listed
// through the CLI against replica, and returns its id.
func (c *cluster) pendingApproval(t *testing.T, replica, grant string) string {
	t.Helper()
	var id string
	_, ok := within(10*time.Second, func() bool {
		var list []struct {
			ID, Status string
		}
		out, err := c.alter(replica, "", "approvals", "list", "--grant", grant, "--json")
		if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 {
			return false
		}
		id = list[0].ID
		return true
	})
	if !ok {
		t.Fatal("no pending approval appeared for the held request")
	}
	return id
}

// A POST held by a sidecar on the remote store is released by `alter
// --server ... approvals approve` on another replica within the hold, and
// a denial reaches the client as approval_denied; both within a second.
func TestApprovalsThroughTheServer(t *testing.T) {
	c := newCluster(t)
	c.startReplica("a")
	c.startReplica("b")
	s := c.startSidecar("s1", "b", c.sidecarToken("billing", "s1"), maxStale)
	secret := newSecret()
	t.Cleanup(func() { c.checkNoLeak(secret, s) })
	g := strings.TrimSpace(c.must(c.alter("a", secret, "secret", "add", "--type", "bearer", "--allow-host", upstreamHost,
		"--app", "billing", "--name", "refunds", "--require-approval", "POST")))
	if code, e := s.use(g); code != http.StatusOK {
		t.Fatalf("a GET needs no approval: %d %s", code, e)
	}

	t.Run("approved through replica a", func(t *testing.T) {
		answer := s.heldPost(g, `{"order":7}`)
		id := c.pendingApproval(t, "a", g)
		select {
		case got := <-answer:
			t.Fatalf("the POST was answered before anyone decided: %v", got)
		default:
		}
		c.must(c.alter("a", "", "approvals", "approve", id, "--note", "refund ok"))
		decided := time.Now()
		got := <-answer
		took := time.Since(decided)
		t.Logf("the held POST was released %v after approve returned", took.Round(time.Millisecond))
		if got[0] != "200 OK" {
			t.Fatalf("held POST after approval: %v", got)
		}
		if a := c.up.lastAuth(); a != "Bearer "+secret {
			t.Fatalf("upstream saw Authorization %q", redact(a, secret))
		}
		if took > propagation {
			t.Errorf("release took %v, want < %v", took, propagation)
		}
		var shown struct {
			Status   string
			Decision struct{ By, Note string }
		}
		if err := json.Unmarshal([]byte(c.must(c.alter("b", "", "approvals", "show", id))), &shown); err != nil {
			t.Fatal(err)
		}
		if shown.Status != "used" || shown.Decision.By != "e2e-operator" || shown.Decision.Note != "refund ok" {
			t.Errorf("approvals show = %+v, want used, decided by e2e-operator with the note", shown)
		}
		audit := c.must(c.alter("a", "", "audit", "query", "--grant", g, "--json"))
		if !strings.Contains(audit, `approval_decide`) || !strings.Contains(audit, `refund ok`) {
			t.Errorf("the audit trail has no approval_decide record with the note: %s", redact(audit, secret))
		}
	})

	t.Run("denied", func(t *testing.T) {
		answer := s.heldPost(g, `{"order":8}`)
		id := c.pendingApproval(t, "b", g)
		c.must(c.alter("b", "", "approvals", "deny", id, "--note", "not today"))
		decided := time.Now()
		got := <-answer
		if took := time.Since(decided); took > propagation {
			t.Errorf("the denial took %v to reach the client", took)
		}
		if got[0] != "403 Forbidden" || got[1] != "approval_denied" {
			t.Fatalf("held POST after denial: %v, want 403 approval_denied", got)
		}
	})
}
