package controlplane

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// localAudit counts the records for grant in the sidecar's durable audit
// log, rotated files included.
func (s *sidecar) localAudit(t *testing.T, grant string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(s.home, "audit.log*"))
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".head") || strings.Contains(filepath.Base(f), "ship") {
			continue // the chain's head file and the shipper's position
		}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["grant_id"] == grant {
				n++
			}
		}
		fh.Close()
	}
	return n
}

// serverAudit counts the records for grant the sidecars shipped, reading
// every page (the server's own records of each resolve are left out).
func (c *cluster) serverAudit(t *testing.T, replica, grant string) int {
	t.Helper()
	out, err := c.alter(replica, "", "audit", "query", "--grant", grant, "--limit", "1000000", "--json")
	if err != nil {
		t.Logf("audit query: %v", err)
		return -1
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.TrimSpace(line) != "" && !strings.Contains(line, `"msg":"control plane `) {
			n++
		}
	}
	return n
}

// checkNoLeak fails the test if the secret appears in anything a process
// printed.
func (c *cluster) checkNoLeak(secret string, sidecars ...*sidecar) {
	for name, p := range c.replicas {
		if strings.Contains(p.out.String(), secret) {
			c.t.Errorf("LEAK: replica %s printed the secret", name)
		}
	}
	for _, s := range sidecars {
		if strings.Contains(s.out.String(), secret) {
			c.t.Errorf("LEAK: sidecar %s printed the secret", s.name)
		}
		if data, err := os.ReadFile(filepath.Join(s.home, "audit.log")); err == nil && strings.Contains(string(data), secret) {
			c.t.Errorf("LEAK: sidecar %s's audit log holds the secret", s.name)
		}
	}
}
