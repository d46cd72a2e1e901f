package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/certs"
	"github.com/alter-sidecar/alter/config"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// Levels of a doctor check. Only FAIL makes the exit status non-zero;
// skip is a check that could not or need not run.
const (
	levelOK   = "ok"
	levelWarn = "warn"
	levelFail = "FAIL"
	levelSkip = "skip"
)

// caWarnBefore is how long before the CA expires doctor starts warning:
// clients must be given a new CA before the old one stops working.
const caWarnBefore = 30 * 24 * time.Hour

func (a *app) doctorCommand() *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "doctor [--config FILE]",
		Short: "Check the set-up: config, master key, store, CA, the running proxy and upstream DNS",
		Long: "doctor runs each check and prints one line for it, starting ok, warn, FAIL or skip:\n" +
			"the config parses (if there is one); the master key is readable and mode 0600; the store is\n" +
			"readable, every record passes its integrity check and every active grant's secret opens with\n" +
			"the key; the CA is valid (warn under 30 days left); the proxy answers at listen and\n" +
			"admin_listen (/healthz, /readyz); and each host an active grant may reach resolves (names\n" +
			"pinned with upstream.resolve are not looked up, wildcards are skipped; a failed lookup is a\n" +
			"warning). It never prints a secret. The exit status is 1 when any check FAILs.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			d := &doctor{out: a.stdout}
			a.runDoctor(ctx, d, configFile)
			fmt.Fprintf(a.stdout, "doctor: %d ok, %d warn, %d FAIL, %d skip\n", d.n[levelOK], d.n[levelWarn], d.n[levelFail], d.n[levelSkip])
			if d.n[levelFail] > 0 {
				return fmt.Errorf("doctor: %d check(s) failed", d.n[levelFail])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "config file (default: config.yaml in the home, else built-in defaults)")
	return cmd
}

// doctor prints check results and counts them by level.
type doctor struct {
	out io.Writer
	n   map[string]int
}

// report prints one check: its level, what was checked, and the finding.
func (d *doctor) report(level, what, format string, args ...any) {
	if d.n == nil {
		d.n = map[string]int{}
	}
	d.n[level]++
	// One line each, also for errors that span several (YAML's).
	msg := strings.Join(strings.Fields(fmt.Sprintf(format, args...)), " ")
	fmt.Fprintf(d.out, "%-4s  %s: %s\n", level, what, msg)
}

func (a *app) runDoctor(ctx context.Context, d *doctor, configFile string) {
	cfg, ok := a.doctorConfig(d, configFile)
	if !ok {
		return
	}
	var grants []secretstore.GrantInfo
	if cfg.Store.Type == config.StoreRemote {
		grants = doctorRemoteStore(ctx, d, cfg)
	} else {
		keys := doctorKey(d, cfg.Store)
		grants = doctorStore(ctx, d, cfg.Store, keys)
	}
	doctorCA(d, cfg.MITM, time.Now())
	doctorListeners(ctx, d, cfg)
	doctorDNS(ctx, d, cfg.Upstream, grants)
	doctorUpstreamProxy(ctx, d, cfg.Upstream, grants)
}

// doctorConfig loads the config as `alter proxy` would. A config that
// does not parse fails, and the other checks run on the defaults.
func (a *app) doctorConfig(d *doctor, file string) (config.Config, bool) {
	cfg, home, fromFile, err := a.loadConfig(file)
	switch {
	case home == "":
		d.report(levelFail, "home", "%v", err)
		return cfg, false
	case err != nil:
		d.report(levelFail, "config", "%v (the checks below use the defaults)", err)
		return config.Default(home), true
	case fromFile:
		name := file
		if name == "" {
			name = filepath.Join(home, config.FileName)
		}
		d.report(levelOK, "config", "%s parses", name)
	default:
		d.report(levelOK, "config", "no config file in %s: the defaults apply", home)
	}
	return cfg, true
}

// doctorKey checks the master keyring and returns it (nil when unusable).
// LoadKeyFile refuses a file whose mode lets others read it.
func doctorKey(d *doctor, st config.Store) *secretstore.Keyring {
	keys, err := loadKeyring(st)
	if err != nil {
		d.report(levelFail, "master key", "%v", err)
		return nil
	}
	if st.KeyEnv != "" {
		d.report(levelOK, "master key", "$%s holds %d key(s)", st.KeyEnv, len(keys.IDs()))
		return keys
	}
	mode := "mode unknown"
	if fi, err := os.Stat(st.KeyFile); err == nil {
		mode = fmt.Sprintf("mode %04o", fi.Mode().Perm())
	}
	d.report(levelOK, "master key", "%s (%s, %d key(s))", st.KeyFile, mode, len(keys.IDs()))
	return keys
}

// doctorStore opens the file store read-only (a missing store is not
// created) and checks every record; each active grant's secret is opened
// once, as the proxy would, and never shown. It returns the grants.
func doctorStore(ctx context.Context, d *doctor, st config.Store, keys *secretstore.Keyring) []secretstore.GrantInfo {
	if _, err := os.Stat(st.Path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			d.report(levelFail, "store", "no store at %s: run \"alter init\" (or \"alter proxy\", which creates it)", st.Path)
		} else {
			d.report(levelFail, "store", "%v", err)
		}
		return nil
	}
	if keys == nil {
		d.report(levelSkip, "store", "%s not opened: it needs the master key", st.Path)
		return nil
	}
	s, err := secretstore.OpenFile(st.Path, keys, secretstore.Options{CacheSize: 1, CacheTTL: time.Second})
	if err != nil {
		d.report(levelFail, "store", "%v", err)
		return nil
	}
	defer s.Close()
	grants, err := s.List(ctx)
	if err != nil {
		d.report(levelFail, "store", "%v", err)
		return nil
	}
	active, bad := 0, 0
	now := time.Now()
	for _, g := range grants {
		if g.Problem != "" {
			bad++
			d.report(levelFail, "store", "grant %s is unusable: %s", g.ID, g.Problem)
			continue
		}
		if g.Status != secretstore.StatusActive {
			continue
		}
		active++
		if _, err := s.Resolve(ctx, g.ID, now); err != nil {
			bad++
			d.report(levelFail, "store", "grant %s: its secret does not open: %v", g.ID, err)
		}
	}
	if bad == 0 {
		d.report(levelOK, "store", "%s: %d grant(s), %d active; every record passes its integrity check and every active secret opens", st.Path, len(grants), active)
	}
	return grants
}

// doctorRemoteStore asks the control plane for the sidecar's policies,
// as alter proxy --check-config does, and returns them as grants for the
// DNS checks.
func doctorRemoteStore(ctx context.Context, d *doctor, cfg config.Config) []secretstore.GrantInfo {
	p, err := remotePolicies(ctx, cfg.Store)
	if err != nil {
		d.report(levelFail, "store", "remote %s: %v", cfg.Store.URL, err)
		return nil
	}
	d.report(levelOK, "store", "remote %s answers with the sidecar token (policies of %d grant(s))", cfg.Store.URL, len(p.Policies))
	out := make([]secretstore.GrantInfo, 0, len(p.Policies))
	for _, gp := range p.Policies {
		out = append(out, secretstore.GrantInfo{Grant: secretstore.Grant{ID: gp.GrantID, Policy: gp.Policy}, Status: secretstore.StatusActive})
	}
	return out
}

// doctorCA loads the CA as the proxy does and warns when it is near its end.
func doctorCA(d *doctor, m config.MITM, now time.Time) {
	ca, err := certs.LoadCA(m.CACert, m.CAKey)
	if errors.Is(err, fs.ErrNotExist) {
		d.report(levelFail, "CA", "%v: run \"alter init\" (or \"alter proxy\", which creates it)", err)
		return
	}
	if err != nil {
		d.report(levelFail, "CA", "%v", err)
		return
	}
	level, msg := caExpiry(ca.Certificate().NotAfter, now)
	d.report(level, "CA", "%s %s", m.CACert, msg)
}

// caExpiry judges a CA's expiry at now.
func caExpiry(notAfter, now time.Time) (level, msg string) {
	left := notAfter.Sub(now)
	when := notAfter.UTC().Format(time.RFC3339)
	switch {
	case left <= 0:
		return levelFail, "expired on " + when
	case left < caWarnBefore:
		return levelWarn, fmt.Sprintf("expires in %d day(s), on %s: make a new CA and have clients trust it before then", int(left.Hours()/24), when)
	}
	return levelOK, fmt.Sprintf("valid until %s (%d days)", when, int(left.Hours()/24))
}

// grantHosts lists the distinct destinations of the active grants, in
// the order first seen.
func grantHosts(grants []secretstore.GrantInfo) []policy.Destination {
	seen := map[string]bool{}
	var out []policy.Destination
	for _, g := range grants {
		if g.Status != secretstore.StatusActive {
			continue
		}
		for _, raw := range g.Policy.Destinations {
			dst, err := policy.ParseDestination(raw)
			if err != nil || seen[dst.String()] {
				continue
			}
			seen[dst.String()] = true
			out = append(out, dst)
		}
	}
	return out
}
