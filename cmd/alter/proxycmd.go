package main

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/config"
)

func (a *app) proxyCommand() *cobra.Command {
	var configFile, listen, adminListen string
	var checkOnly bool
	cmd := &cobra.Command{
		Use:   "proxy [--config FILE] [--listen ADDR]",
		Short: "Run the sidecar proxy",
		Long: "proxy runs the credential-injecting proxy. Without --config it reads config.yaml from the\n" +
			"home directory if there is one, else runs on the defaults and creates the master key, CA and\n" +
			"store on first run.\n\n" +
			"SIGHUP reloads the config file: an invalid one is logged and the running config kept.\n" +
			"SIGTERM (or Ctrl-C) stops accepting, lets in-flight requests finish for up to\n" +
			"shutdown_timeout, and flushes the audit log.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, home, fromFile, err := a.loadConfig(configFile)
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.Listen = listen
			}
			if cmd.Flags().Changed("admin-listen") {
				cfg.AdminListen = adminListen
			}
			if !fromFile {
				if err := a.ensureHome(cfg, home); err != nil {
					return err
				}
			}
			if checkOnly {
				return a.checkConfig(cfg)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return a.runProxy(ctx, cfg, configFile, home)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "config file (default: config.yaml in the home, else built-in defaults)")
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on, overriding the config (e.g. 127.0.0.1:8080)")
	cmd.Flags().BoolVar(&checkOnly, "check-config", false, "validate the config, key, CA and store, then exit")
	cmd.Flags().StringVar(&adminListen, "admin-listen", "", "address for /healthz and /readyz, overriding the config (\"\" turns it off)")
	return cmd
}

// openAuditSink opens the configured audit sink and returns its readiness
// check (always ready for the plain sink, whose failures are only logged).
func openAuditSink(c config.Audit, log *zap.Logger) (audit.Sink, func() error, error) {
	if !c.Durable {
		s, err := audit.NewZapSink(c.Path)
		return s, func() error { return nil }, err
	}
	s, err := audit.NewDurableSink(c.Path, audit.DurableOptions{SyncInterval: c.SyncInterval, MaxSize: c.MaxSize, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return s, s.Ready, nil
}

// readiness combines checks: the first failure makes /readyz answer 503.
func readiness(checks ...func() error) interface{ Ready() error } {
	return readyFunc(func() error {
		for _, c := range checks {
			if err := c(); err != nil {
				return err
			}
		}
		return nil
	})
}

type readyFunc func() error

func (f readyFunc) Ready() error { return f() }

func adminHandler(store interface{ Ready() error }, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := store.Ready(); err != nil {
			http.Error(w, "not ready: store or audit log unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}

func addrOrOff(ln net.Listener) string {
	if ln == nil {
		return "off"
	}
	return ln.Addr().String()
}

// listenAddrs returns the proxy's own addresses, which grant-bearing
// requests may never be sent to.
func listenAddrs(lns ...net.Listener) []netip.AddrPort {
	var out []netip.AddrPort
	for _, ln := range lns {
		if ln == nil {
			continue
		}
		if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil {
			out = append(out, ap)
		}
	}
	return out
}

// identity is the actor recorded in audit records: the configured
// identity, else the pod when running in Kubernetes, else the host name.
func identity(configured string) string {
	if configured != "" {
		return configured
	}
	if pod := os.Getenv("POD_NAME"); pod != "" {
		if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
			return ns + "/" + pod
		}
		return pod
	}
	h, _ := os.Hostname()
	return h
}

// newLogger builds the operational JSON log on stderr. The audit trail is
// separate (audit.path).
func newLogger(level string, atomic zap.AtomicLevel) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	atomic.SetLevel(lvl)
	cfg := zap.NewProductionConfig()
	cfg.Level = atomic
	cfg.OutputPaths = []string{"stderr"}
	cfg.ErrorOutputPaths = []string{"stderr"}
	cfg.EncoderConfig.TimeKey = "ts"
	cfg.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	cfg.DisableStacktrace = true
	cfg.DisableCaller = true
	cfg.Sampling = nil
	return cfg.Build()
}
