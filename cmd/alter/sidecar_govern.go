package main

import (
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/approval/notify"
	"github.com/alter-sidecar/alter/config"
	"github.com/alter-sidecar/alter/ratelimit"
	"github.com/alter-sidecar/alter/secretstore/remote"
)

// governing is what the sidecar keeps for grants' governing rules across
// config reloads: the rate counter (a reload must not reset the counts),
// the approvals store and the webhook that announces new approvals.
type governing struct {
	limiter   ratelimit.Counter
	approvals approval.Store // nil: the store keeps no approvals (the control plane, for now)
	notifier  *notify.Webhook
}

// openGoverning opens them for the store the sidecar uses.
func openGoverning(cfg config.Config, store grantStore, log *zap.Logger) (*governing, error) {
	g := &governing{limiter: ratelimit.NewLocal()}
	if rs, ok := store.(*remoteStore); ok {
		// alter server counts for every sidecar of the app.
		g.limiter = remote.NewCounter(rs.client)
	}
	if s, ok := store.(interface{ Approvals() approval.Store }); ok {
		g.approvals = s.Approvals()
	}
	n := cfg.Approvals.Notify
	if n.URL == "" {
		return g, nil
	}
	secret, err := webhookSecret(n)
	if err != nil {
		return nil, err
	}
	g.notifier = notify.New(notify.Options{URL: n.URL, Secret: secret, PortalURL: cfg.Approvals.PortalURL, Log: log.Named("approvals")})
	return g, nil
}

func webhookSecret(n config.ApprovalNotify) ([]byte, error) {
	var v string
	switch {
	case n.SecretEnv != "":
		v = os.Getenv(n.SecretEnv)
		if v == "" {
			return nil, fmt.Errorf("approvals.notify.secret_env: $%s is empty or not set", n.SecretEnv)
		}
	default:
		data, err := os.ReadFile(n.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("approvals.notify.secret_file: %w", err)
		}
		v = strings.TrimSpace(string(data))
		if v == "" {
			return nil, fmt.Errorf("approvals.notify.secret_file %s is empty", n.SecretFile)
		}
	}
	if len(v) < 16 {
		return nil, fmt.Errorf("approvals.notify: the webhook secret is shorter than 16 bytes")
	}
	return []byte(v), nil
}

// notifyFunc is the proxy's Notify option, nil without a webhook.
func (g *governing) notifyFunc() func(approval.Approval) {
	if g == nil || g.notifier == nil {
		return nil
	}
	return g.notifier.Notify
}

func (g *governing) close() {
	if g != nil && g.notifier != nil {
		g.notifier.Close()
	}
}
