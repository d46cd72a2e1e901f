package config

import "github.com/alter-sidecar/alter/audit/forward"

// Forward is one audit.forward entry: where the durable audit log is
// also sent (a SIEM). The entries are audit/forward's, so the sidecar and
// `alter server` read, check and build them alike.
type Forward = forward.Config

// Forward types.
const (
	ForwardWebhook = forward.TypeWebhook
	ForwardSyslog  = forward.TypeSyslog
)
