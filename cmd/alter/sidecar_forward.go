package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/audit"
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

// registerAuditMetrics exports how far the durable log has got and how
// far each forward target is behind it: alert on a target failing for
// minutes, or on alter_audit_written_seq minus its forwarded seq growing.
func (s *sidecar) registerAuditMetrics() {
	if d, ok := s.sink.(*audit.DurableSink); ok {
		s.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "alter_audit_written_seq",
			Help: "Sequence number of the last record written to the durable audit log."},
			func() float64 { return float64(d.Seq()) }))
	}
	if s.forward == nil {
		return
	}
	for i, st := range s.forward.States() {
		target := prometheus.Labels{"target": st.Name}
		s.registry.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "alter_audit_forward_seq", ConstLabels: target,
				Help: "Sequence number of the last durable audit record the forward target acknowledged."},
				func() float64 { return float64(s.forward.States()[i].Forwarded) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "alter_audit_forward_failing", ConstLabels: target,
				Help: "1 while sending to the forward target fails (the records wait in the durable log), else 0."},
				func() float64 { return flag(s.forward.States()[i].Failing) }),
		)
	}
}
