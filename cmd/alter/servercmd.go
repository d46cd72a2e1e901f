package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/config"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/api"
	"github.com/alter-sidecar/alter/server/portal"
	"github.com/alter-sidecar/alter/server/serverconfig"
	"github.com/alter-sidecar/alter/server/storage"
)

// serverCommand is "alter server": the control plane (server/API.md), its
// bootstrap token commands and the portal's user commands.
func (a *app) serverCommand() *cobra.Command {
	var configFile, listen string
	var checkOnly bool
	cmd := &cobra.Command{
		Use:   "server [--config FILE] [--listen ADDR]",
		Short: "Run the control plane: the /v1 API for admins and sidecars",
		Long: "server serves the control plane API (grants, secrets, audit, the sidecars' change stream)\n" +
			"over a database: SQLite ($ALTER_HOME/server.db) by default, PostgreSQL (database_url) when\n" +
			"several replicas share one. Without --config it reads server.yaml from the home if there is\n" +
			"one, else runs on the defaults (127.0.0.1:8443, plain HTTP on loopback only) and creates the\n" +
			"master key on first run. server.example.yaml documents every key.\n\n" +
			"The first admin token comes from `alter server token create --kind admin --name NAME`.\n" +
			"The developer portal (/portal) takes admin tokens and the users of `alter server user add`;\n" +
			"its sessions live in the database, so every replica accepts them.\n" +
			"SIGTERM (or Ctrl-C) stops accepting, ends open change streams and lets other requests\n" +
			"finish for up to shutdown_timeout.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, home, err := a.loadServerConfig(configFile)
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.Listen = listen
				if err := cfg.Check(); err != nil {
					return usageError{fmt.Errorf("--listen: %w", err)}
				}
			}
			files, err := loadServerFiles(cfg)
			if err != nil {
				return err
			}
			db, err := a.openServerDB(cmd.Context(), cfg, home)
			if err != nil {
				return err
			}
			defer db.Close()
			if checkOnly {
				admin := ""
				if cfg.AdminListen != "" {
					admin = ", admin " + cfg.AdminListen
				}
				fmt.Fprintf(a.stderr, "config OK: listen %s (%s)%s, database %s\n", cfg.Listen, scheme(cfg), admin, cfg.DatabaseEngine())
				return nil
			}
			log, err := newLogger(cfg.LogLevel, zap.NewAtomicLevel())
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServer(ctx, cfg, files, db, log, a.stderr)
		},
	}
	cmd.PersistentFlags().StringVar(&configFile, "config", "", "server config file (default: server.yaml in the home, else built-in defaults)")
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on, overriding the config (e.g. 127.0.0.1:8443)")
	cmd.Flags().BoolVar(&checkOnly, "check-config", false, "validate the config, key, TLS files and database (migrating it), then exit")
	cmd.AddCommand(a.serverTokenCommand(&configFile), a.serverUserCommand(&configFile))
	return cmd
}

func scheme(cfg serverconfig.Config) string {
	if cfg.TLS() {
		return "https"
	}
	return "http"
}

// loadServerConfig reads --config, else server.yaml in the home if it
// exists, else the defaults.
func (a *app) loadServerConfig(file string) (serverconfig.Config, string, error) {
	home, err := config.Home(a.homeFlag)
	if err != nil {
		return serverconfig.Config{}, "", err
	}
	if file == "" {
		candidate := filepath.Join(home, serverconfig.FileName)
		if _, err := os.Stat(candidate); err == nil {
			file = candidate
		}
	}
	if file == "" {
		return serverconfig.Default(home), home, nil
	}
	cfg, err := serverconfig.Load(file, home)
	return cfg, home, err
}

// openServerDB loads the keyring (creating the default key file on first
// run, as `alter init` does) and opens and migrates the database.
func (a *app) openServerDB(ctx context.Context, cfg serverconfig.Config, home string) (*storage.DB, error) {
	var keys *secretstore.Keyring
	var err error
	switch {
	case cfg.KeyEnv != "":
		keys, err = secretstore.KeyringFromEnv(cfg.KeyEnv)
	default:
		if cfg.KeyFileIsDefault {
			if err := os.MkdirAll(home, 0o700); err != nil {
				return nil, fmt.Errorf("create %s: %w", home, err)
			}
			created, err := ensure(cfg.KeyFile, func() error { return secretstore.GenerateKeyFile(cfg.KeyFile) })
			if err != nil {
				return nil, fmt.Errorf("master key: %w", err)
			}
			if created {
				fmt.Fprintf(a.stderr, "created master key %s (keep it secret; mode 0600)\n", cfg.KeyFile)
			}
		}
		keys, err = secretstore.LoadKeyFile(cfg.KeyFile)
	}
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// storage.Open's errors never hold the address's password.
	return storage.Open(ctx, cfg.DatabaseURL, keys, storage.WithMaxConns(cfg.DatabaseMaxConns))
}

// serverTLS loads the certificate, so a bad pair fails before the
// database is touched. The private key file is refused, as the master key
// is, when its group or others may read or change it: whoever reads it can
// impersonate the server to sidecars and collect their tokens.
func serverTLS(cfg serverconfig.Config) (*tls.Config, error) {
	if !cfg.TLS() {
		return nil, nil
	}
	fi, err := os.Stat(cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("tls.key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("tls.key %s: mode %04o lets others read or change it; run: chmod 600 %s", cfg.TLSKey, perm, cfg.TLSKey)
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("tls.cert/tls.key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// Portal session limits, given to the portal and to its session store
// alike so the database's expiry matches the one the portal enforces.
const (
	portalIdle   = 30 * time.Minute
	portalMaxAge = 12 * time.Hour
)

// serverRoutes sends /portal and everything below it to the portal and the
// rest to the API, without a ServeMux of its own: its redirects (for
// "/portal", or a path with "//" or "..") would answer in text/html,
// without the API's JSON error shape or the portal's security headers.
// Each side answers those itself. The portal also takes portal.LinkPrefix,
// where an approval notification links when approvals.portal_url is the
// server's address (it redirects to the approval's page).
func serverRoutes(apiHandler, portalHandler http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == portal.Prefix || strings.HasPrefix(p, portal.Prefix+"/") || strings.HasPrefix(p, portal.LinkPrefix) {
			portalHandler.ServeHTTP(w, r)
			return
		}
		apiHandler.ServeHTTP(w, r)
	})
}

// runServer serves until ctx ends, then shuts down gracefully: long polls
// and event streams end at once (sidecars reconnect to another replica),
// other requests get up to shutdown_timeout.
// It says where it listens on announce too, in the proxy's words, for
// people and scripts that wait for "listening on ADDR". files is what
// server.yaml names that is read before the database is opened.
func runServer(ctx context.Context, cfg serverconfig.Config, files serverFiles, db *storage.DB, log *zap.Logger, announce io.Writer) error {
	tlsConf := files.tls
	// The admin listener is opened first: a taken address stops the start
	// before anything else is.
	admin, err := listenServerAdmin(cfg.AdminListen)
	if err != nil {
		return err
	}
	defer admin.close()
	handler := api.New(api.Options{Store: db, Logger: log, SidecarApproval: cfg.SidecarApproval, MintTrust: files.mintTrust,
		ForwardTargets: forwardNames(files.forward), ObserveRequest: admin.observeRequest()})
	// The developer portal beside the API: logins by admin token
	// or by the users of `alter server user`, and sessions in the database,
	// so a browser may land on any replica.
	mux := serverRoutes(handler, portal.New(portal.Config{
		Backend:        &portal.StorageBackend{Store: db, CheckUser: portal.DBUsers{Store: db}.Check},
		Sessions:       portal.NewDBSessions(db, portal.DBSessionsConfig{IdleTimeout: portalIdle, MaxAge: portalMaxAge}),
		Log:            log.Named("portal"),
		SecureCookies:  cfg.PortalSecureCookies,
		TrustedProxies: cfg.TrustedProxies,
		IdleTimeout:    portalIdle,
		MaxAge:         portalMaxAge,
	}))
	srv := &http.Server{
		Handler:           mux,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second, // bodies are at most 1 MiB
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: long polls (60 s) and event streams stay open.
		ErrorLog: zap.NewStdLog(log.Named("http")),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	log.Info("control plane listening", zap.String("addr", ln.Addr().String()), zap.Bool("tls", tlsConf != nil),
		zap.String("database", cfg.DatabaseEngine()))
	fmt.Fprintf(announce, "alter server listening on %s (%s, database %s)\n", ln.Addr(), scheme(cfg), cfg.DatabaseEngine())
	trail, err := startServerAudit(cfg.Audit, files.forward, db, log)
	if err != nil {
		_ = ln.Close()
		return err
	}
	admin.serve(handler.Ready, db, trail, log, announce)
	// Stopped last, so the records of requests that finish during the
	// shutdown go in its final pass, within what is left of the one
	// shutdown_timeout (an orchestrator's grace period is set to it).
	deadline := time.Now().Add(cfg.ShutdownTimeout)
	defer func() { trail.stop(time.Until(deadline)) }()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", zap.Duration("timeout", cfg.ShutdownTimeout))
	deadline = time.Now().Add(cfg.ShutdownTimeout)
	admin.beginStop()
	handler.Close()
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	trail.stop(time.Until(deadline))
	log.Info("stopped")
	return nil
}
