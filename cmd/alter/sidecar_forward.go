package main

import (
	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/config"
)

// startForwarders sends the durable audit log to each audit.forward
// target in the background; nil when there are none. A target whose
// secret or certificate cannot be loaded stops the start: forwarding
// half the configured targets would be a silent gap in a SIEM.
func startForwarders(c config.Audit, log *zap.Logger) (*forward.Forwarders, error) {
	if len(c.Forward) == 0 {
		return nil, nil
	}
	targets, err := forward.Targets("audit.forward", c.Forward)
	if err != nil {
		return nil, err
	}
	return forward.Start(c.Path, targets, forward.LogOptions{}, log.Named("audit_forward"))
}
