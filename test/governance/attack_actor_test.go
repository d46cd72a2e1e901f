package governance

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/approval"
)

// Attacks that need to know who asked: proxy clients (proxy_auth) whose
// names the approvals record as the actor.

// localActor is who `alter approvals approve` decides as in this test's
// shell: the OS user and host, as the CLI names them.
func localActor(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username + "@" + h
}

// actorEnv is an env whose proxy authenticates the named clients, each
// with a password of its own, and a grant requiring approval for POST.
type actorEnv struct {
	*env
	grant     string
	passwords map[string]string
}

func startActorEnv(t *testing.T, names ...string) actorEnv {
	t.Helper()
	ae := actorEnv{passwords: map[string]string{}}
	var auth strings.Builder
	auth.WriteString("proxy_auth:\n  clients:\n")
	for _, name := range names {
		pw := sentinel("pw")
		ae.passwords[name] = pw
		sum := sha256.Sum256([]byte(pw))
		fmt.Fprintf(&auth, "    - {name: %q, sha256: %s}\n", name, hex.EncodeToString(sum[:]))
	}
	ae.env = newEnv(t, options{extra: auth.String()})
	for _, pw := range ae.passwords {
		ae.extraHidden = append(ae.extraHidden, pw)
	}
	ae.grant = ae.env.grant(t, "--require-approval", "POST")
	ae.startProxy()
	return ae
}

// as sends a POST of body as the client name, naming the grant in
// X-Alter-Grant; hdr adds headers.
func (ae actorEnv) as(t *testing.T, name, body string, hdr ...string) answer {
	t.Helper()
	c := ae.clientAs(url.UserPassword(name, ae.passwords[name]))
	return ae.call(t, c, "POST", "/v1/a", body, append([]string{"X-Alter-Grant", ae.grant}, hdr...)...)
}

func TestNobodyApprovesTheirOwnRequest(t *testing.T) {
	me := localActor(t)
	ae := startActorEnv(t, me, strings.ToUpper(me), "bob")
	for _, name := range []string{me, strings.ToUpper(me)} {
		t.Run("client "+name, func(t *testing.T) {
			a := ae.as(t, name, `{"by":"`+name+`"}`, "Prefer", "respond-async")
			if a.status != http.StatusAccepted {
				t.Fatalf("%d %s", a.status, a.body)
			}
			r := ae.alterResult(t, "", "approvals", "approve", a.err.ApprovalID)
			if r.code == 0 || !strings.Contains(r.stderr, "nobody approves their own request") {
				t.Fatalf("approving %s's own request: exit %d: %s", name, r.code, r.stderr)
			}
			for _, x := range ae.approvals(t, "--status", "all") {
				if x.ID == a.err.ApprovalID && x.Status != approval.StatusPending {
					t.Fatalf("the refused approval is %s", x.Status)
				}
			}
		})
	}
	// Another client's request is approved by the same person.
	a := ae.as(t, "bob", `{"by":"bob"}`, "Prefer", "respond-async")
	if r := ae.alterResult(t, "", "approvals", "approve", a.err.ApprovalID); r.code != 0 {
		t.Fatalf("approving bob's request: exit %d: %s", r.code, r.stderr)
	}
	if n := ae.up.bytes.Load(); n != 0 {
		t.Fatalf("the stand-in received %d bytes", n)
	}
}

// A person approved alice's request: bob, who may use the same grant,
// cannot spend that approval by sending the same bytes, named or not.
func TestAnApprovalIsForTheClientThatAsked(t *testing.T) {
	ae := startActorEnv(t, "alice", "bob")
	const body = `{"amount":500}`
	a := ae.as(t, "alice", body, "Prefer", "respond-async", "X-Alter-Reason", "alice's refund")
	if a.status != http.StatusAccepted {
		t.Fatalf("%d %s", a.status, a.body)
	}
	ae.alter(t, "", "approvals", "approve", a.err.ApprovalID)
	for _, hdr := range [][]string{{"Prefer", "respond-async"}, {"Prefer", "respond-async", "X-Alter-Approval", a.err.ApprovalID}} {
		got := ae.as(t, "bob", body, hdr...)
		if got.status == 200 || got.err.ApprovalID == a.err.ApprovalID {
			t.Fatalf("bob with %v: %d %s, want his own approval asked for", hdr, got.status, got.body)
		}
	}
	if n := ae.up.bytes.Load(); n != 0 {
		t.Fatalf("the stand-in received %d bytes from bob's requests", n)
	}
	if got := ae.as(t, "alice", body); got.status != 200 {
		t.Fatalf("alice's retry: %d %s", got.status, got.body)
	}
	reqs := ae.up.requests()
	if len(reqs) != 1 {
		t.Fatalf("the stand-in saw %d requests", len(reqs))
	}
	waitAudit(t, ae.env, func(rec map[string]any) bool {
		return rec["approval_id"] == a.err.ApprovalID && rec["decision"] == "allow" && rec["actor"] == "alice"
	}, "alice's forwarded request in the audit")
}
