// Package config loads the proxy's YAML configuration. Loading is strict:
// unknown keys, a missing or unknown version, and values of the wrong shape
// are errors that name the file and the key. A config is validated as a
// whole before anything uses it, so a bad file is never half-applied.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Version is the only config format version this build reads.
const Version = 1

// Passthrough modes for requests that carry no grant.
const (
	PassthroughAllow = "allow"
	PassthroughDeny  = "deny"
)

// Config is a validated configuration. Paths are absolute.
type Config struct {
	Version int
	// Identity names this sidecar in audit records; empty means
	// POD_NAMESPACE/POD_NAME in Kubernetes, else the host name.
	Identity    string
	Listen      string
	AdminListen string
	Store       Store
	MITM        MITM
	Passthrough string
	// ScrubEcho is where a credential an upstream echoes back is masked:
	// "headers" (default) or "body" (headers and body).
	ScrubEcho string
	// Timeouts for clients of the proxy listener and terminated tunnels.
	Timeouts Timeouts
	// LockMemory locks the process's memory (mlockall) so secrets are
	// never swapped out.
	LockMemory bool
	// ShutdownTimeout bounds how long a stopping proxy waits for in-flight
	// requests to finish.
	ShutdownTimeout time.Duration
	// MaxSignedBody bounds the request body held in memory to sign it
	// (AWS SigV4 without a client-supplied payload hash); larger bodies get 413.
	MaxSignedBody int64
	Upstream      Upstream
	Audit         Audit
	Approvals     Approvals
	Log           Log
	// ProxyAuth lists the clients that may use the proxy; empty means no
	// client authentication (a sidecar that only its own pod reaches).
	ProxyAuth []ProxyClient
}

// ProxyClient is one application allowed to use a shared proxy.
type ProxyClient struct {
	Name   string
	SHA256 string // hex SHA-256 of its password or token
	// Profile names the profile whose grants the client's requests use
	// when they name none ("" for none).
	Profile string
}

// Timeouts bound how long a client may hold a connection without progress.
type Timeouts struct {
	Handshake time.Duration // CONNECT to completed TLS handshake
	Header    time.Duration // reading one request's headers
	Idle      time.Duration // between requests on a kept-alive connection
	// WebSocketIdle closes a WebSocket when no byte went either way.
	WebSocketIdle time.Duration
}

// Store says where grants and secrets live: in the encrypted file
// ("file": Path, KeyFile or KeyEnv, Interval) or on the control plane
// ("remote": URL, TokenFile or TokenEnv, CAFile, MaxStale). Cache is for
// both. The keys of one type are refused under the other.
type Store struct {
	Type     string // "file" or "remote"
	Path     string
	KeyFile  string
	KeyEnv   string // when set, the master keyring comes from this variable
	Cache    Cache
	Interval time.Duration // how often the file store looks for changes

	URL       string        // the control plane, https:// (http:// to loopback only)
	TokenFile string        // sidecar token, mode 0600
	TokenEnv  string        // or the variable holding it
	CAFile    string        // roots for the server's certificate; "" for the system's
	MaxStale  time.Duration // how long cached grants outlive contact with the server
}

// Store types.
const (
	StoreFile   = "file"
	StoreRemote = "remote"
)

// DefaultMaxStale is store.max_stale's default.
const DefaultMaxStale = 5 * time.Minute

// Cache bounds the decrypted-material cache.
type Cache struct {
	Size int
	TTL  time.Duration
}

// MITM is the CA used to terminate tunnels and which tunnels to terminate.
type MITM struct {
	CACert string
	CAKey  string
	Hosts  HostMode
	// LeafCacheSize bounds the leaf-certificate cache.
	LeafCacheSize int
}

// HostMode is mitm.hosts: "auto", "all", or an explicit list.
type HostMode struct {
	All  bool
	Auto bool
	List []string
}

// Upstream configures how the proxy reaches APIs.
type Upstream struct {
	CAFile                string
	Resolve               map[string]string // "host:port" -> "ip:port", keys normalised
	AllowPrivate          []netip.Prefix
	DialTimeout           time.Duration
	ResponseHeaderTimeout time.Duration
	// HTTP2 sends grant requests with Go's net/http client, which speaks
	// HTTP/2 to upstreams that offer it; false (the default) uses the
	// proxy's own leaner HTTP/1.1 client.
	HTTP2 bool
	// Proxy is upstream.proxy; the zero value means upstreams are reached
	// directly.
	Proxy UpstreamProxy
}

// Audit configures the audit sink.
type Audit struct {
	Path    string // "stdout", "stderr" or a file
	Durable bool   // fsync'd, hash-chained, fail-closed sink (a file path)
	// SyncInterval 0 fsyncs every record before the request goes on; a
	// positive interval fsyncs at most that often (faster, loses the last
	// records in a crash).
	SyncInterval time.Duration
	// MaxSize rotates the durable log at this many bytes; 0 never rotates.
	MaxSize int64
	// AdminPath is the file store's admin log: the hash-chained record of
	// every change the CLI commands make (who revoked, rotated, cloned...).
	AdminPath string
	// MaxFiles keeps at most this many rotated files (the oldest go
	// first); 0 keeps them all.
	MaxFiles int
	// Forward lists where the durable log is also sent (SIEMs).
	Forward []Forward
}

// Log configures the operational log.
type Log struct {
	Level string
}

// Default returns the embedded defaults with every path under home.
func Default(home string) Config {
	return Config{
		Version:     Version,
		Listen:      "127.0.0.1:8080",
		AdminListen: "127.0.0.1:9090",
		Store: Store{
			Type:     StoreFile,
			Path:     filepath.Join(home, "grants.json"),
			KeyFile:  filepath.Join(home, "master.key"),
			Cache:    Cache{Size: 10000, TTL: 5 * time.Minute},
			Interval: 500 * time.Millisecond,
		},
		MITM: MITM{
			CACert:        filepath.Join(home, "ca.pem"),
			CAKey:         filepath.Join(home, "ca-key.pem"),
			Hosts:         HostMode{Auto: true},
			LeafCacheSize: 1000,
		},
		Passthrough:     PassthroughAllow,
		ShutdownTimeout: 30 * time.Second,
		ScrubEcho:       "headers",
		Timeouts:        Timeouts{Handshake: 10 * time.Second, Header: 30 * time.Second, Idle: 2 * time.Minute, WebSocketIdle: 10 * time.Minute},
		MaxSignedBody:   10 << 20,
		Upstream: Upstream{
			Resolve:               map[string]string{},
			DialTimeout:           10 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
		},
		Audit:     Audit{Path: "stdout", AdminPath: filepath.Join(home, "admin-audit.log")},
		Approvals: defaultApprovals(),
		Log:       Log{Level: "info"},
	}
}

// Load reads and validates the config file at path. Keys the file leaves
// out take their defaults (paths under home). Relative paths in the file are
// taken relative to the file's directory; "~/" means the user's home.
func Load(path, home string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	cfg, err := Parse(data, home, filepath.Dir(path))
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse validates a config document. base is the directory relative paths
// are resolved against.
func Parse(data []byte, home, base string) (Config, error) {
	w := defaultDocument(Default(home))
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&w); err != nil {
		if errors.Is(err, io.EOF) || strings.TrimSpace(string(data)) == "" {
			return Config{}, errors.New("the file is empty; it needs at least \"version: 1\"")
		}
		return Config{}, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return Config{}, errors.New("more than one YAML document; put everything in one")
	}
	return w.compile(home, base)
}
