// Package serverconfig is the configuration of `alter server`, the control
// plane: a small, strict YAML file (server.example.yaml at the repository
// root documents every key). A bad file refuses to start; errors name the
// key. The database address may hold a password, so Config never prints it.
package serverconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	"gopkg.in/yaml.v3"

	"github.com/alter-sidecar/alter/config"
	apiwire "github.com/alter-sidecar/alter/server/wire"
)

// FileName is the config file `alter server` reads from the home when no
// --config is given.
const FileName = "server.yaml"

// Defaults.
const (
	// DefaultListen is loopback only: without TLS the server may not
	// listen anywhere else, so the default works out of the box and
	// exposes nothing.
	DefaultListen          = "127.0.0.1:8443"
	DefaultDatabase        = "server.db" // in the home, SQLite
	DefaultKeyFile         = "master.key"
	DefaultShutdownTimeout = 30 * time.Second
)

// maxDatabaseConns bounds database_max_connections: a typo must not
// become a pool that can exhaust the database's max_connections.
const maxDatabaseConns = 1000

// Config is a validated server configuration.
type Config struct {
	Listen string
	// AdminListen is where /metrics, /healthz and /readyz are served in
	// plain HTTP, apart from the API; "" means nowhere.
	AdminListen string
	// DatabaseURL is "postgres://..." or "sqlite:///path". Never print
	// it: it may hold a password (String redacts it).
	DatabaseURL string
	// DatabaseMaxConns is the database connection pool's ceiling; 0 means
	// the engine's default (storage.DefaultSQLiteConns,
	// storage.DefaultPostgresConns).
	DatabaseMaxConns int
	// KeyFile or KeyEnv: where the master keyring comes from.
	KeyFile string
	KeyEnv  string
	// KeyFileIsDefault: KeyFile was not configured, so a missing one may be
	// created (as `alter init` does); a configured one must exist.
	KeyFileIsDefault bool
	TLSCert, TLSKey  string
	// Insecure allows plain HTTP on a non-loopback address (behind a
	// TLS-terminating proxy in a private network).
	Insecure        bool
	LogLevel        string
	ShutdownTimeout time.Duration
	// PortalSecureCookies marks the portal's cookies Secure on plain HTTP
	// too (TLS ends at a proxy in front of the server).
	PortalSecureCookies bool
	// TrustedProxies are the proxies whose X-Forwarded-For the portal's
	// login limiter believes (portal.trusted_proxies).
	TrustedProxies []netip.Prefix
	// SidecarApproval: sidecar tokens made through the API wait for a
	// second admin token's approval (tokens.sidecar_approval).
	SidecarApproval bool
	// Mint: where the server's token requests for minted credentials may
	// go beyond public addresses (mint.resolve, mint.allow_private,
	// mint.ca_file).
	Mint Mint
	// Audit: forwarding the trail to SIEMs and its retention (audit.*).
	Audit Audit
}

// TLS reports whether the server serves HTTPS.
func (c Config) TLS() bool { return c.TLSCert != "" }

// String describes the config without the database address.
func (c Config) String() string {
	return fmt.Sprintf("serverconfig.Config{listen %s, database %s, tls %t}", c.Listen, c.DatabaseEngine(), c.TLS())
}

// DatabaseEngine is "postgres" or "sqlite": what may be logged of the
// database address.
func (c Config) DatabaseEngine() string {
	if strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return "postgres"
	}
	return "sqlite"
}

// Default is the config without a file: SQLite and the master key in home.
func Default(home string) Config {
	return Config{
		Listen:           DefaultListen,
		DatabaseURL:      "sqlite://" + filepath.Join(home, DefaultDatabase),
		KeyFile:          filepath.Join(home, DefaultKeyFile),
		KeyFileIsDefault: true,
		LogLevel:         "info",
		ShutdownTimeout:  DefaultShutdownTimeout,
	}
}

// wire is the file as written; only a validated Config leaves the package.
type wire struct {
	Version        *int   `yaml:"version"`
	Listen         string `yaml:"listen"`
	AdminListen    string `yaml:"admin_listen"`
	DatabaseURL    string `yaml:"database_url"`
	DatabaseURLEnv string `yaml:"database_url_env"`
	DatabaseConns  int    `yaml:"database_max_connections"`
	KeyFile        string `yaml:"key_file"`
	KeyEnv         string `yaml:"key_env"`
	TLS            struct {
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
	Insecure bool `yaml:"insecure"`
	Log      struct {
		Level string `yaml:"level"`
	} `yaml:"log"`
	ShutdownTimeout string `yaml:"shutdown_timeout"`
	Tokens          struct {
		SidecarApproval bool `yaml:"sidecar_approval"`
	} `yaml:"tokens"`
	Portal struct {
		SecureCookies  bool     `yaml:"secure_cookies"`
		TrustedProxies []string `yaml:"trusted_proxies"`
	} `yaml:"portal"`
	Mint  wireMint  `yaml:"mint"`
	Audit wireAudit `yaml:"audit"`
}

// Load reads and validates the file at path.
func Load(path, home string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("server config %s: %w", path, err)
	}
	c, err := Parse(data, home, filepath.Dir(path), os.Getenv)
	if err != nil {
		return Config{}, fmt.Errorf("server config %s: %w", path, err)
	}
	return c, nil
}

// Parse validates a config document. Relative paths are resolved against
// base; getenv reads database_url_env.
func Parse(data []byte, home, base string, getenv func(string) string) (Config, error) {
	var w wire
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&w); err != nil {
		if errors.Is(err, io.EOF) {
			return Config{}, errors.New("the file is empty; it needs at least \"version: 1\"")
		}
		return Config{}, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return Config{}, errors.New("more than one YAML document; put everything in one")
	}
	switch {
	case w.Version == nil:
		return Config{}, errors.New("version: required (version: 1)")
	case *w.Version != 1:
		return Config{}, fmt.Errorf("version: %d is not supported (want 1)", *w.Version)
	}
	c := Default(home)
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	if w.Listen != "" {
		c.Listen = w.Listen
	}
	if w.AdminListen != "" {
		if err := checkAdminListen(w.AdminListen); err != nil {
			return Config{}, err
		}
		c.AdminListen = w.AdminListen
	}
	switch {
	case w.DatabaseURL != "" && w.DatabaseURLEnv != "":
		return Config{}, errors.New("database_url and database_url_env: give one, not both")
	case w.DatabaseURLEnv != "":
		v := getenv(w.DatabaseURLEnv)
		if v == "" {
			return Config{}, fmt.Errorf("database_url_env: the environment variable %s is empty or unset", w.DatabaseURLEnv)
		}
		c.DatabaseURL = v
	case w.DatabaseURL != "":
		c.DatabaseURL = w.DatabaseURL
	}
	if err := checkDatabase(&c, abs); err != nil {
		return Config{}, err
	}
	if w.DatabaseConns < 0 || w.DatabaseConns > maxDatabaseConns {
		return Config{}, fmt.Errorf("database_max_connections: %d is not between 1 and %d (0 or absent: the engine's default)", w.DatabaseConns, maxDatabaseConns)
	}
	c.DatabaseMaxConns = w.DatabaseConns
	switch {
	case w.KeyFile != "" && w.KeyEnv != "":
		return Config{}, errors.New("key_file and key_env: give one, not both")
	case w.KeyEnv != "":
		c.KeyFile, c.KeyEnv, c.KeyFileIsDefault = "", w.KeyEnv, false
	case w.KeyFile != "":
		c.KeyFile, c.KeyFileIsDefault = abs(w.KeyFile), false
	}
	if (w.TLS.Cert == "") != (w.TLS.Key == "") {
		return Config{}, errors.New("tls.cert and tls.key: give both or neither")
	}
	c.TLSCert, c.TLSKey = abs(w.TLS.Cert), abs(w.TLS.Key)
	c.Insecure = w.Insecure
	if w.Log.Level != "" {
		if _, err := zapcore.ParseLevel(w.Log.Level); err != nil {
			return Config{}, fmt.Errorf("log.level: %q is not debug, info, warn or error", w.Log.Level)
		}
		c.LogLevel = w.Log.Level
	}
	if w.ShutdownTimeout != "" {
		d, err := time.ParseDuration(w.ShutdownTimeout)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("shutdown_timeout: must be a positive duration such as 30s, got %q", w.ShutdownTimeout)
		}
		c.ShutdownTimeout = d
	}
	c.PortalSecureCookies = w.Portal.SecureCookies
	c.SidecarApproval = w.Tokens.SidecarApproval
	for i, p := range w.Portal.TrustedProxies {
		pr, err := parsePrefix(p)
		if err != nil {
			return Config{}, fmt.Errorf("portal.trusted_proxies[%d]: %q is not an IP address or CIDR", i, p)
		}
		c.TrustedProxies = append(c.TrustedProxies, pr)
	}
	mint, err := compileMint(w.Mint, abs)
	if err != nil {
		return Config{}, err
	}
	c.Mint = mint
	if c.Audit, err = compileAudit(w.Audit, abs); err != nil {
		return Config{}, err
	}
	return c, c.Check()
}

// parsePrefix reads a CIDR, or one address as its own /32 or /128.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// checkDatabase accepts PostgreSQL URLs and SQLite paths; a relative
// SQLite path is resolved against the config's directory. The error never
// quotes the address (it may hold a password).
func checkDatabase(c *Config, abs func(string) string) error {
	u := c.DatabaseURL
	switch {
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		return nil
	case strings.HasPrefix(u, "sqlite://"):
		p := strings.TrimPrefix(u, "sqlite://")
		if p == "" {
			return errors.New("database_url: sqlite:// needs a file path, e.g. sqlite:///var/lib/alter/server.db")
		}
		c.DatabaseURL = "sqlite://" + abs(p)
		return nil
	case strings.HasPrefix(u, "sqlite:"):
		c.DatabaseURL = "sqlite://" + abs(strings.TrimPrefix(u, "sqlite:"))
		return nil
	case strings.Contains(u, "://"):
		scheme, _, _ := strings.Cut(u, "://")
		return fmt.Errorf("database_url: scheme %q is not supported (want postgres:// or sqlite://)", scheme)
	}
	return errors.New("database_url: want postgres://... or sqlite:///path/to/server.db")
}

// checkAdminListen refuses an admin address that does not parse (Check
// refuses the API's own).
func checkAdminListen(addr string) error {
	if err := config.CheckListen(addr); err != nil {
		return fmt.Errorf("admin_listen: %w", err)
	}
	return nil
}

// Check validates what an override (--listen) can change: the address
// parses and is not admin_listen's, and plain HTTP is only allowed on
// loopback unless Insecure says otherwise. Tokens and a sidecar's secrets
// cross this connection.
func (c Config) Check() error {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil || port == "" {
		return fmt.Errorf("listen: %q is not host:port", c.Listen)
	}
	if c.AdminListen == c.Listen && port != "0" {
		return fmt.Errorf("admin_listen: %s is the API's listen address; give the admin listener its own port", c.AdminListen)
	}
	if !c.TLS() && !c.Insecure && !apiwire.LoopbackHost(host) {
		return fmt.Errorf("listen: %s is not a loopback address and tls is not set: tokens and secrets would cross the network in clear; set tls.cert and tls.key (or insecure: true behind a TLS-terminating proxy)", c.Listen)
	}
	return nil
}
