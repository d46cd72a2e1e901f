package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/certs"
	"github.com/alter-sidecar/alter/config"
	"github.com/alter-sidecar/alter/proxy"
	"github.com/alter-sidecar/alter/secretstore"
)

// sidecar holds what lives as long as the process: the store, the CA's
// leaf cache, the audit sink, the metrics and the listeners. A config
// reload builds a new proxy.Proxy from these and swaps it in.
type sidecar struct {
	log      *zap.Logger
	level    zap.AtomicLevel
	store    grantStore // the file store or the control plane (remote)
	shipper  *auditShipper
	forward  *forward.Forwarders
	leaves   *certs.LeafCache
	sink     audit.Sink
	ready    func() error
	metrics  *proxy.Metrics
	registry *prometheus.Registry
	ln       net.Listener
	adminLn  net.Listener
	current  atomic.Pointer[proxy.Proxy]
	cfg      config.Config // the config in force
	govern   *governing
}

// Current returns the proxy built from the config in force: each request
// goes to it (proxy.Source).
func (s *sidecar) Current() *proxy.Proxy { return s.current.Load() }

// runProxy wires the packages together and serves until ctx is done.
func (a *app) runProxy(ctx context.Context, cfg config.Config, configFile, home string) error {
	s, err := openSidecar(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.close()
	srv, err := s.newServer(cfg)
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(s.ln) }()
	var admin *http.Server
	var stopping stopGate
	if s.adminLn != nil {
		admin = newAdminServer(adminHandler(readiness(stopping.Ready, s.store.Ready, s.ready), s.registry), defaultAdminLimits,
			zap.NewStdLog(s.log.Named("admin_http")))
		go func() { errc <- admin.Serve(defaultAdminLimits.listener(s.adminLn)) }()
	}
	fmt.Fprintf(a.stderr, "alter proxy listening on %s (admin %s); CA for clients: %s\n", s.ln.Addr(), addrOrOff(s.adminLn), cfg.MITM.CACert)
	s.log.Info("proxy started", zap.String("listen", s.ln.Addr().String()), zap.String("store", storeName(cfg.Store)))

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case err := <-errc:
			if !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			running = false
		case <-hup:
			a.reload(s, configFile, home)
		}
	}

	// Drain: stop accepting, let in-flight requests (plain and inside
	// terminated tunnels) finish up to the deadline, then flush the audit
	// log (deferred close).
	stopping.begin()
	s.log.Info("stopping: draining in-flight requests", zap.Duration("timeout", s.cfg.ShutdownTimeout))
	drain, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.drain(drain, srv)
	if admin != nil {
		_ = admin.Shutdown(drain)
	}
	s.log.Info("proxy stopped")
	return nil
}

// newServer builds the proxy for cfg, makes it the current one and
// returns the server for the sidecar's listener, not yet serving.
func (s *sidecar) newServer(cfg config.Config) (*proxy.Server, error) {
	p, err := s.build(cfg)
	if err != nil {
		return nil, err
	}
	s.current.Store(p)
	return proxy.NewServer(s), nil
}

// drain stops srv accepting, lets in-flight requests (plain and inside
// terminated tunnels) finish until ctx ends, then closes idle upstream
// connections.
func (s *sidecar) drain(ctx context.Context, srv *proxy.Server) {
	_ = srv.Shutdown(ctx)
	p := s.current.Load()
	_ = p.Shutdown(ctx)
	p.CloseIdleConnections()
}

// reload re-reads the config file. An invalid file, or one that changes
// what only a restart can change, is logged and the running config kept.
func (a *app) reload(s *sidecar, configFile, home string) {
	next, _, fromFile, err := a.loadConfig(configFile)
	if err == nil && !fromFile {
		err = errors.New("no config file to reload (running on the defaults)")
	}
	if err == nil {
		next.Listen, next.AdminListen = s.cfg.Listen, s.cfg.AdminListen // flags may have overridden them
		err = restartOnly(s.cfg, next)
	}
	var p *proxy.Proxy
	if err == nil {
		p, err = s.build(next)
	}
	if err != nil {
		s.log.Error("config reload refused; keeping the running config", zap.Error(err))
		if lerr := s.recordReload(configFile, err); lerr != nil {
			s.log.Error("config reload: admin audit log", zap.Error(lerr))
		}
		return
	}
	// A reload the admin log cannot record does not happen (with the file
	// store; see recordReload).
	if lerr := s.recordReload(configFile, nil); lerr != nil {
		p.CloseIdleConnections()
		s.log.Error("config reload refused: it cannot be recorded; keeping the running config", zap.Error(lerr))
		return
	}
	old := s.current.Swap(p)
	if !reflect.DeepEqual(s.cfg.ProxyAuth, next.ProxyAuth) || s.cfg.Passthrough != next.Passthrough || !reflect.DeepEqual(s.cfg.MITM, next.MITM) {
		old.CloseRawTunnels()
	}
	s.cfg = next
	// Tunnels opened under the old config are closed once idle (in-flight
	// requests finish), so clients reconnect under the new one: a client
	// removed from proxy_auth keeps no tunnel.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), next.ShutdownTimeout)
		defer cancel()
		_ = old.Shutdown(ctx)
		old.CloseIdleConnections()
	}()
	s.log.Info("config reloaded")
}

// recordReload writes a reload, accepted (refused nil) or refused, to the
// admin log of the running config. The actor is the process's OS user
// and host: a signal does not say who sent it. With a remote store the
// sidecar's home may hold no admin log; a failure to write there is
// returned only with the file store, whose admin log is the record of
// every change (the caller then refuses the reload).
func (s *sidecar) recordReload(configFile string, refused error) error {
	ev := audit.AdminEvent{Event: audit.EventConfigReload, EventID: uuid.NewString(), Outcome: audit.OutcomeSucceeded,
		Actor: "sidecar " + localActor(), Target: configFile}
	if refused != nil {
		ev.Outcome, ev.Error = audit.OutcomeFailed, refused.Error() // config errors name keys and files, never a secret
	}
	err := audit.AppendAdmin(s.cfg.Audit.AdminPath, ev)
	if err != nil && s.cfg.Store.Type != config.StoreFile {
		s.log.Warn("config reload not written to the admin audit log", zap.Error(err))
		return nil
	}
	return err
}

// restartOnly refuses a reload that changes what the process opened once.
func restartOnly(running, next config.Config) error {
	for _, c := range []struct {
		key  string
		a, b any
	}{
		{"store", running.Store, next.Store},
		{"mitm.ca_cert/ca_key", [2]string{running.MITM.CACert, running.MITM.CAKey}, [2]string{next.MITM.CACert, next.MITM.CAKey}},
		{"mitm.leaf_cache_size", running.MITM.LeafCacheSize, next.MITM.LeafCacheSize},
		{"audit", running.Audit, next.Audit},
		{"lock_memory", running.LockMemory, next.LockMemory},
		{"timeouts (the listener's)", running.Timeouts, next.Timeouts},
		{"approvals.notify/portal_url", [2]any{running.Approvals.Notify, running.Approvals.PortalURL}, [2]any{next.Approvals.Notify, next.Approvals.PortalURL}},
	} {
		if !reflect.DeepEqual(c.a, c.b) {
			return fmt.Errorf("%s changed: that needs a restart", c.key)
		}
	}
	return nil
}

// openSidecar opens the long-lived parts.
func openSidecar(ctx context.Context, cfg config.Config) (_ *sidecar, err error) {
	if err := hardenProcess(cfg.LockMemory); err != nil {
		return nil, err
	}
	s := &sidecar{cfg: cfg}
	s.level = zap.NewAtomicLevel()
	if s.log, err = newLogger(cfg.Log.Level, s.level); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.store, err = openGrantStore(ctx, cfg, s.log); err != nil {
		return nil, err
	}
	ca, err := certs.LoadCA(cfg.MITM.CACert, cfg.MITM.CAKey)
	if err != nil {
		return nil, err
	}
	s.leaves = certs.NewLeafCache(ca, cfg.MITM.LeafCacheSize)
	if s.sink, s.ready, err = openAuditSink(cfg.Audit, s.log); err != nil {
		return nil, err
	}
	if rs, ok := s.store.(*remoteStore); ok {
		if s.shipper, err = startShipper(cfg.Audit.Path, rs.client, s.log); err != nil {
			return nil, err
		}
	}
	if s.forward, err = startForwarders(cfg.Audit, s.log); err != nil {
		return nil, err
	}
	if s.govern, err = openGoverning(cfg, s.store, s.log); err != nil {
		return nil, err
	}
	if s.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	if cfg.AdminListen != "" {
		if s.adminLn, err = net.Listen("tcp", cfg.AdminListen); err != nil {
			return nil, fmt.Errorf("admin_listen %s: %w", cfg.AdminListen, err)
		}
	}
	s.registry = prometheus.NewRegistry()
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics, err = proxy.NewMetrics(s.registry, proxy.MetricSources{
		GrantCache: func() proxy.CacheStats {
			st := s.store.Stats()
			return proxy.CacheStats{Hits: st.CacheHits, Misses: st.CacheMisses, Size: st.CacheSize}
		},
		LeafCache: func() proxy.CacheStats {
			st := s.leaves.Stats()
			return proxy.CacheStats{Hits: st.Hits, Misses: st.Misses, Size: st.Size}
		},
	})
	if err == nil {
		s.registerControlPlaneMetrics()
		s.registerAuditMetrics()
	}
	return s, err
}

// registerControlPlaneMetrics exports how a sidecar on the remote store is
// doing: how long since the control plane answered (alert well before
// store.max_stale), how often a cached grant was served because it could
// not be reached, and how far audit shipping has got.
func (s *sidecar) registerControlPlaneMetrics() {
	rs, ok := s.store.(*remoteStore)
	if !ok {
		return
	}
	s.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "alter_store_contact_age_seconds",
			Help: "Seconds since the control plane last answered (-1: never); grants fail at store.max_stale."},
			func() float64 {
				last := rs.LastContact()
				if last.IsZero() {
					return -1
				}
				return time.Since(last).Seconds()
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "alter_store_stale_served_total",
			Help: "Grant uses served from the cache past its TTL because the control plane could not be reached."},
			func() float64 { return float64(rs.StaleServed()) }),
	)
	if sh := s.shipper; sh != nil {
		s.registry.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "alter_audit_shipped_seq",
				Help: "Sequence number of the last audit record the control plane acknowledged."},
				func() float64 { return float64(sh.s.Shipped()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "alter_audit_ship_failing",
				Help: "1 while audit shipping fails (records wait in the durable log), else 0."},
				func() float64 {
					if sh.s.Failing() {
						return 1
					}
					return 0
				}),
		)
	}
}

// build makes a proxy from cfg with the sidecar's long-lived parts.
func (s *sidecar) build(cfg config.Config) (*proxy.Proxy, error) {
	roots, err := proxy.LoadRootCAs(cfg.Upstream.CAFile)
	if err != nil {
		return nil, err
	}
	var clients []proxy.AuthClient
	for _, pc := range cfg.ProxyAuth {
		d, err := proxy.ParseDigest(pc.SHA256)
		if err != nil {
			return nil, fmt.Errorf("proxy_auth %s: %w", pc.Name, err)
		}
		clients = append(clients, proxy.AuthClient{Name: pc.Name, Digest: d, Profile: pc.Profile})
	}
	profiles, _ := s.store.(secretstore.ProfileResolver) // both stores have profiles
	s.checkClientProfiles(cfg, profiles)
	if err := s.level.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	return proxy.New(proxy.Options{
		Store:         s.store,
		Leaves:        s.leaves,
		Metrics:       s.metrics,
		Audit:         s.sink,
		Log:           s.log,
		MITM:          proxy.MITMMode{All: cfg.MITM.Hosts.All, Auto: cfg.MITM.Hosts.Auto, Hosts: cfg.MITM.Hosts.List},
		Passthrough:   cfg.Passthrough == config.PassthroughAllow,
		MaxSignedBody: cfg.MaxSignedBody,
		AuditFirst:    cfg.Audit.Durable,
		ScrubEcho:     cfg.ScrubEcho,
		Timeouts:      proxy.Timeouts{Handshake: cfg.Timeouts.Handshake, Header: cfg.Timeouts.Header, Idle: cfg.Timeouts.Idle, WebSocketIdle: cfg.Timeouts.WebSocketIdle},
		Identity:      identity(cfg.Identity),
		Clients:       clients,
		Profiles:      profiles,
		Approvals:     s.govern.approvals,
		ApprovalHold:  holdOrNow(cfg.Approvals.Hold),
		ApprovalTTL:   cfg.Approvals.Expire,
		Notify:        s.govern.notifyFunc(),
		Limiter:       s.govern.limiter,
		Upstream: proxy.UpstreamOptions{
			RootCAs:               roots,
			Resolve:               cfg.Upstream.Resolve,
			AllowPrivate:          cfg.Upstream.AllowPrivate,
			Self:                  listenAddrs(s.ln, s.adminLn),
			DialTimeout:           cfg.Upstream.DialTimeout,
			ResponseHeaderTimeout: cfg.Upstream.ResponseHeaderTimeout,
			HTTP2:                 cfg.Upstream.HTTP2,
			Proxy:                 upstreamProxy(cfg.Upstream.Proxy),
		},
	})
}

// upstreamProxy is upstream.proxy for the proxy package, nil for none.
func upstreamProxy(u config.UpstreamProxy) *proxy.UpstreamProxy {
	if u.Addr == "" {
		return nil
	}
	return &proxy.UpstreamProxy{Addr: u.Addr, Username: u.Username, Password: u.Password()}
}

// checkClientProfiles warns of proxy_auth clients whose profile cannot be
// used now: their requests get grant_unavailable until it can.
func (s *sidecar) checkClientProfiles(cfg config.Config, profiles secretstore.ProfileResolver) {
	for _, pc := range cfg.ProxyAuth {
		if pc.Profile == "" {
			continue
		}
		if profiles == nil {
			s.log.Warn("proxy_auth client names a profile, but this store has no profiles: its requests are refused", zap.String("client", pc.Name), zap.String("profile", pc.Profile))
			continue
		}
		if _, err := profiles.ResolveProfileName(context.Background(), pc.Profile, time.Now()); err != nil {
			s.log.Warn("proxy_auth client's profile cannot be used: its requests are refused until it can", zap.String("client", pc.Name), zap.String("profile", pc.Profile), zap.Error(err))
		}
	}
}

func (s *sidecar) close() {
	s.govern.close()
	if s.ln != nil {
		s.ln.Close()
	}
	if s.adminLn != nil {
		s.adminLn.Close()
	}
	if s.sink != nil {
		if err := s.sink.Close(); err != nil && s.log != nil {
			s.log.Error("closing the audit log", zap.Error(err))
		}
	}
	if s.shipper != nil {
		s.shipper.stop() // after the sink: the last records go out now, not at the next start
	}
	if s.forward != nil {
		s.forward.Stop(5 * time.Second) // likewise
	}
	if s.store != nil {
		s.store.Close()
	}
	if s.log != nil {
		_ = s.log.Sync()
	}
}

// checkConfig validates everything the proxy would open, without serving.
func (a *app) checkConfig(cfg config.Config) error {
	if err := checkGrantStore(cfg); err != nil {
		return err
	}
	if _, err := certs.LoadCA(cfg.MITM.CACert, cfg.MITM.CAKey); err != nil {
		return err
	}
	if _, err := proxy.LoadRootCAs(cfg.Upstream.CAFile); err != nil {
		return err
	}
	for _, pc := range cfg.ProxyAuth {
		if _, err := proxy.ParseDigest(pc.SHA256); err != nil {
			return fmt.Errorf("proxy_auth %s: %w", pc.Name, err)
		}
	}
	fmt.Fprintln(a.stderr, "config OK")
	return nil
}

// holdOrNow maps approvals.hold: 0s (answer at once) to the shortest hold
// the proxy takes: it treats zero as "the default".
func holdOrNow(d time.Duration) time.Duration {
	if d == 0 {
		return time.Nanosecond
	}
	return d
}
