package attack

import (
	"strings"
	"testing"
)

// A CONNECT made the instant `secret add` returns, to a host only the new
// grant covers, is terminated: with mitm.hosts auto the proxy would
// otherwise learn the host at its next poll and, until then, tunnel blind,
// so the grant id would reach the real host. The poll here is a minute, so
// only the check made before a blind tunnel can catch the new grant.
func TestAttackConnectRightAfterSecretAdd(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOpts{pollInterval: "1m"})
	for i, host := range []string{"api.attack.test", "q.attack.test"} {
		g := e.addGrant("fresh"+host, "--type", "bearer", "--allow-host", host)
		hits := e.good.hits.Load()
		r := e.sendTLS(host+":443", host, "GET /fresh HTTP/1.1\r\nHost: "+host+"\r\nX-Alter-Grant: "+g+"\r\n\r\n")
		if r.err != nil || r.status != 200 || !strings.Contains(r.body, "ok from good") {
			t.Fatalf("grant %d: a CONNECT right after secret add was not intercepted: %s", i, r)
		}
		s := e.good.lastSeen()
		if e.good.hits.Load() != hits+1 || s.Header.Get("Authorization") != "Bearer "+e.secret("fresh"+host) || s.Header.Get("X-Alter-Grant") != "" {
			t.Fatalf("grant %d: the upstream did not get the injected credential alone", i)
		}
	}
}
