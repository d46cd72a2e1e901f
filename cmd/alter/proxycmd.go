package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/certs"
	"github.com/alter-sidecar/alter/config"
	"github.com/alter-sidecar/alter/proxy"
)

func (a *app) proxyCommand() *cobra.Command {
	var configFile, listen, adminListen string
	cmd := &cobra.Command{
		Use:   "proxy [--config FILE] [--listen ADDR]",
		Short: "Run the sidecar proxy",
		Long: "proxy runs the credential-injecting proxy. Without --config it reads config.yaml from the\n" +
			"home directory if there is one, else runs on the defaults and creates the master key, CA and\n" +
			"store on first run.",
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
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return a.runProxy(ctx, cfg)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "config file (default: config.yaml in the home, else built-in defaults)")
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on, overriding the config (e.g. 127.0.0.1:8080)")
	cmd.Flags().StringVar(&adminListen, "admin-listen", "", "address for /healthz and /readyz, overriding the config (\"\" turns it off)")
	return cmd
}

// runProxy wires the packages together and serves until ctx is done.
func (a *app) runProxy(ctx context.Context, cfg config.Config) error {
	log, err := newLogger(cfg.Log.Level)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	store, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	go store.Watch(ctx, cfg.Store.Interval, func(err error) {
		log.Error("store reload failed; grant requests fail closed until the file is fixed", zap.Error(err))
	})

	ca, err := certs.LoadCA(cfg.MITM.CACert, cfg.MITM.CAKey)
	if err != nil {
		return err
	}
	roots, err := proxy.LoadRootCAs(cfg.Upstream.CAFile)
	if err != nil {
		return err
	}
	sink, auditReady, err := openAuditSink(cfg.Audit, log)
	if err != nil {
		return err
	}
	defer sink.Close()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	var adminLn net.Listener
	if cfg.AdminListen != "" {
		if adminLn, err = net.Listen("tcp", cfg.AdminListen); err != nil {
			ln.Close()
			return fmt.Errorf("admin_listen %s: %w", cfg.AdminListen, err)
		}
	}

	var clients []proxy.Client
	for _, pc := range cfg.ProxyAuth {
		d, err := proxy.ParseDigest(pc.SHA256)
		if err != nil {
			return fmt.Errorf("proxy_auth %s: %w", pc.Name, err)
		}
		clients = append(clients, proxy.Client{Name: pc.Name, Digest: d})
	}
	leaves := certs.NewLeafCache(ca, cfg.MITM.LeafCacheSize)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := proxy.NewMetrics(reg, proxy.MetricSources{
		GrantCache: func() proxy.CacheStats {
			s := store.Stats()
			return proxy.CacheStats{Hits: s.CacheHits, Misses: s.CacheMisses, Size: s.CacheSize}
		},
		LeafCache: func() proxy.CacheStats {
			s := leaves.Stats()
			return proxy.CacheStats{Hits: s.Hits, Misses: s.Misses, Size: s.Size}
		},
	})
	if err != nil {
		return err
	}

	p, err := proxy.New(proxy.Options{
		Store:         store,
		Leaves:        leaves,
		Metrics:       metrics,
		Audit:         sink,
		Log:           log,
		MITM:          proxy.MITMMode{All: cfg.MITM.Hosts.All, Auto: cfg.MITM.Hosts.Auto, Hosts: cfg.MITM.Hosts.List},
		Passthrough:   cfg.Passthrough == config.PassthroughAllow,
		MaxSignedBody: cfg.MaxSignedBody,
		AuditFirst:    cfg.Audit.Durable,
		Identity:      identity(cfg.Identity),
		Clients:       clients,
		Upstream: proxy.UpstreamOptions{
			RootCAs:               roots,
			Resolve:               cfg.Upstream.Resolve,
			AllowPrivate:          cfg.Upstream.AllowPrivate,
			Self:                  listenAddrs(ln, adminLn),
			DialTimeout:           cfg.Upstream.DialTimeout,
			ResponseHeaderTimeout: cfg.Upstream.ResponseHeaderTimeout,
		},
	})
	if err != nil {
		return err
	}
	srv := proxy.NewServer(p)
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	var admin *http.Server
	if adminLn != nil {
		admin = &http.Server{Handler: adminHandler(readiness(store.Ready, auditReady), reg), ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- admin.Serve(adminLn) }()
	}
	fmt.Fprintf(a.stderr, "alter proxy listening on %s (admin %s); CA for clients: %s\n", ln.Addr(), addrOrOff(adminLn), cfg.MITM.CACert)
	log.Info("proxy started", zap.String("listen", ln.Addr().String()), zap.String("store", cfg.Store.Path))

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	if admin != nil {
		_ = admin.Shutdown(shutdown)
	}
	p.CloseIdleConnections()
	log.Info("proxy stopped")
	return nil
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
func newLogger(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.OutputPaths = []string{"stderr"}
	cfg.ErrorOutputPaths = []string{"stderr"}
	cfg.EncoderConfig.TimeKey = "ts"
	cfg.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	cfg.DisableStacktrace = true
	cfg.DisableCaller = true
	cfg.Sampling = nil
	return cfg.Build()
}
