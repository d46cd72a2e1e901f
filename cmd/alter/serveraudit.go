package main

import (
	"crypto/tls"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/server/api"
	"github.com/alter-sidecar/alter/server/auditforward"
	"github.com/alter-sidecar/alter/server/serverconfig"
	"github.com/alter-sidecar/alter/server/storage"
)

// serverFiles is what server.yaml names that is read from files and the
// environment before the database opens, so that a bad one stops the
// start (and --check-config) before anything runs.
type serverFiles struct {
	tls       *tls.Config
	mintTrust api.MintTrust
	// forward are the audit.forward targets, their secrets loaded.
	forward []forward.Target
}

func loadServerFiles(cfg serverconfig.Config) (serverFiles, error) {
	var f serverFiles
	var err error
	if f.tls, err = serverTLS(cfg); err != nil {
		return serverFiles{}, err
	}
	if f.mintTrust, err = serverMintTrust(cfg.Mint); err != nil {
		return serverFiles{}, err
	}
	if f.forward, err = forward.Targets("audit.forward", cfg.Audit.Forward); err != nil {
		return serverFiles{}, err
	}
	return f, nil
}

// serverTrail runs what the server does with its audit trail in the
// background: forwarding to SIEMs and retention.
type serverTrail struct {
	forwarder *auditforward.Forwarder
	retention *auditforward.Retention
	log       *zap.Logger
	once      sync.Once
}

// startServerAudit starts forwarding (when targets are configured) and
// retention (when audit.retention is set).
func startServerAudit(c serverconfig.Audit, targets []forward.Target, db *storage.DB, log *zap.Logger) (*serverTrail, error) {
	t := &serverTrail{log: log.Named("audit_forward")}
	names := forwardNames(targets)
	if len(targets) > 0 {
		f, err := auditforward.Start(auditforward.Options{Store: db, Targets: targets, Lease: c.ForwardLease, Log: t.log})
		if err != nil {
			return nil, err
		}
		t.forwarder = f
		log.Info("forwarding the audit trail", zap.Strings("targets", names), zap.String("holder", f.Holder()))
	}
	if c.Retention > 0 {
		r, err := auditforward.StartRetention(auditforward.RetentionOptions{Store: db, Retention: c.Retention, Targets: names,
			Log: log.Named("audit_retention")})
		if err != nil {
			t.stop(time.Second)
			return nil, err
		}
		t.retention = r
	}
	return t, nil
}

// stop ends retention, then gives forwarding up to timeout for a last
// pass. Only the first call does anything (runServer's deferred one is
// for the paths that return early).
func (t *serverTrail) stop(timeout time.Duration) {
	t.once.Do(func() {
		if t.retention != nil {
			t.retention.Stop()
		}
		if t.forwarder != nil {
			t.forwarder.Stop(timeout)
			for _, st := range t.forwarder.Status() {
				t.log.Info("audit forwarding stopped", zap.String("forward", st.Name),
					zap.Uint64("forwarded", st.Forwarded), zap.Int64("acknowledged_seq", st.Position.Seq), zap.Bool("failing", st.Failing))
			}
		}
	})
}

func forwardNames(targets []forward.Target) []string {
	var names []string
	for _, t := range targets {
		names = append(names, t.Name)
	}
	return names
}
