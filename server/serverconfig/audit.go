package serverconfig

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/alter-sidecar/alter/audit/forward"
)

// Lease bounds: how soon another replica takes over a target whose
// forwarding replica died (its lease runs out); a live replica renews it.
const (
	DefaultForwardLease = 60 * time.Second
	MinForwardLease     = 4 * time.Second
	MaxForwardLease     = time.Hour
)

// MinRetention is the shortest audit.retention accepted: a typo ("30s"
// for "30d") must not delete the trail.
const MinRetention = time.Hour

// Audit configures what happens to the control plane's audit trail
// beyond the database: where it is also sent, and how long it is kept.
//
//	audit:
//	  retention: 400d        # or hours: 9600h; absent: kept forever
//	  forward:               # the same entries as the sidecar's audit.forward
//	    - name: siem
//	      type: webhook
//	      url: https://siem.example.com/alter
//	      secret_env: ALTER_AUDIT_WEBHOOK_SECRET
type Audit struct {
	// Forward lists the SIEM targets (audit/forward entries).
	Forward []forward.Config
	// Retention deletes records older than this (0: never). Records a
	// target has not acknowledged stay until it has.
	Retention time.Duration
	// ForwardLease is how long a target stays with a replica that stops
	// renewing it (killed, cut off from the database) before another
	// replica takes it over.
	ForwardLease time.Duration
}

type wireAudit struct {
	Forward      []forward.WireConfig `yaml:"forward"`
	ForwardLease string               `yaml:"forward_lease"`
	Retention    string               `yaml:"retention"`
}

// compileAudit checks the audit section; every error names its key.
func compileAudit(w wireAudit, abs func(string) string) (Audit, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	path := func(key, p string, required bool) string {
		if p == "" && required {
			bad(key, "must not be empty")
		}
		return abs(p)
	}
	a := Audit{Forward: forward.Compile("audit.forward", w.Forward, path, bad), ForwardLease: DefaultForwardLease}
	if w.ForwardLease != "" {
		d, err := time.ParseDuration(w.ForwardLease)
		if err != nil || d < MinForwardLease || d > MaxForwardLease {
			bad("audit.forward_lease", "%q is not a duration from %s to %s", w.ForwardLease, short(MinForwardLease), short(MaxForwardLease))
		}
		a.ForwardLease = d
	}
	if w.Retention != "" {
		d, err := parseRetention(w.Retention)
		switch {
		case err != nil:
			bad("audit.retention", "%q is not a duration such as 400d or 9600h", w.Retention)
		case d < MinRetention:
			bad("audit.retention", "%s is shorter than %s: a typo must not delete the trail (absent: keep every record)", w.Retention, short(MinRetention))
		}
		a.Retention = d
	}
	return a, errors.Join(errs...)
}

// parseRetention reads a Go duration, or a whole number of days ("400d").
func parseRetention(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*366 {
			return 0, errors.New("bad day count")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// short prints a duration without its zero minutes and seconds ("1h").
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
