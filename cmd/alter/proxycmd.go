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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/audit/ship"
	"github.com/alter-sidecar/alter/config"
	"github.com/alter-sidecar/alter/proxy"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/secretstore/remote"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/wire"
)

func (a *app) proxyCommand() *cobra.Command {
	var configFile, listen, adminListen string
	var checkOnly bool
	cmd := &cobra.Command{
		Use:   "proxy [--config FILE] [--listen ADDR]",
		Short: "Run the sidecar proxy",
		Long: "proxy runs the credential-injecting proxy. Without --config it reads config.yaml from the\n" +
			"home directory if there is one, else runs on the defaults and creates the master key, CA and\n" +
			"store on first run. With store.type remote it resolves grants from the control plane\n" +
			"(alter server) and ships its durable audit log there.\n\n" +
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
			proxy.TuneGC()
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
	s, err := audit.NewDurableSink(c.Path, audit.DurableOptions{SyncInterval: c.SyncInterval, MaxSize: c.MaxSize, MaxFiles: c.MaxFiles, Logger: log})
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

// stopGate fails readiness once a stop has begun, so a balancer stops
// sending new requests while those under way drain. The sidecar and
// alter server put it first among their /readyz checks.
type stopGate struct{ stopping atomic.Bool }

// begin marks the stop as begun.
func (g *stopGate) begin() { g.stopping.Store(true) }

// Ready fails from begin on.
func (g *stopGate) Ready() error {
	if g.stopping.Load() {
		return errors.New("stopping")
	}
	return nil
}

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

// grantStore is what the sidecar needs of its store, file or remote.
type grantStore interface {
	secretstore.Resolver
	Ready() error
	Stats() secretstore.Stats
	Close() error
}

// remoteStore is the control plane's resolver with the client it uses,
// which the audit shipper shares.
type remoteStore struct {
	*remote.Resolver
	client *client.Client
}

// openGrantStore opens the configured store. The file store is watched
// for changes other processes make; the remote store follows the
// server's change stream. Both stop when ctx ends.
func openGrantStore(ctx context.Context, cfg config.Config, log *zap.Logger) (grantStore, error) {
	if cfg.Store.Type == config.StoreRemote {
		c, err := remoteClient(cfg.Store)
		if err != nil {
			return nil, err
		}
		r, err := remote.New(c, remote.Options{CacheSize: cfg.Store.Cache.Size, TTL: cfg.Store.Cache.TTL,
			MaxStale: cfg.Store.MaxStale, Logger: log.Named("remote_store")})
		if err != nil {
			return nil, err
		}
		r.Start(ctx)
		// Until the policies arrive, mitm.hosts auto knows no host to
		// terminate: give the server a moment before serving, then serve
		// anyway (not ready) rather than crash-loop while it is away.
		deadline := time.Now().Add(5 * time.Second)
		for r.Ready() != nil && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
		if err := r.Ready(); err != nil {
			log.Warn("starting before the control plane answered; /readyz fails until it does", zap.Error(err))
		}
		return &remoteStore{Resolver: r, client: c}, nil
	}
	st, err := openStore(cfg)
	if err != nil {
		return nil, err
	}
	go st.Watch(ctx, cfg.Store.Interval, func(err error) {
		log.Error("store reload failed; grant requests fail closed until the file is fixed", zap.Error(err))
	})
	return st, nil
}

// remoteClient builds the sidecar's client of the control plane.
func remoteClient(c config.Store) (*client.Client, error) {
	key, load := "store.token_file", func() (client.Token, error) { return client.LoadTokenFile(c.TokenFile) }
	if c.TokenEnv != "" {
		key, load = "store.token_env", func() (client.Token, error) { return client.TokenFromEnv(c.TokenEnv) }
	}
	tok, err := load()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return client.New(client.Options{URL: c.URL, Token: tok, CAFile: c.CAFile})
}

// checkGrantStore opens the store as the proxy would, for --check-config:
// the file store must read, the control plane must answer with the token.
func checkGrantStore(cfg config.Config) error {
	if cfg.Store.Type == config.StoreRemote {
		_, err := remotePolicies(context.Background(), cfg.Store)
		return err
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	return st.Ready()
}

// remotePolicies asks the control plane for the sidecar's grant policies
// with its token, which shows it answers and accepts the token.
func remotePolicies(ctx context.Context, st config.Store) (wire.Policies, error) {
	c, err := remoteClient(st)
	if err != nil {
		return wire.Policies{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	p, err := c.Policies(ctx)
	if err != nil {
		return wire.Policies{}, fmt.Errorf("store.url: %w", err)
	}
	return p, nil
}

// storeName says where grants come from, for the start-up log line.
func storeName(c config.Store) string {
	if c.Type == config.StoreRemote {
		return c.URL
	}
	return c.Path
}

// auditShipper runs audit/ship in the background while the sidecar
// serves.
type auditShipper struct {
	s      *ship.Shipper
	log    *zap.Logger
	cancel context.CancelFunc
	done   chan struct{}
}

// startShipper ships the durable audit log at path to the control plane.
// It runs on its own context, so SIGTERM's drain still ships: stop ends
// it after the audit sink is closed, with one last pass.
func startShipper(path string, c *client.Client, log *zap.Logger) (*auditShipper, error) {
	s, err := ship.New(ship.Options{Path: path, Sender: c, Logger: log.Named("audit_ship")})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &auditShipper{s: s, log: log, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		s.Run(ctx)
	}()
	return a, nil
}

// stop ends the background loop and ships what is left, for a few
// seconds at most; anything not shipped then goes at the next start.
func (a *auditShipper) stop() {
	a.cancel()
	<-a.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := a.s.ShipOnce(ctx); err != nil {
		a.log.Warn("audit records not shipped before stopping; they go at the next start", zap.Error(err))
	}
}
