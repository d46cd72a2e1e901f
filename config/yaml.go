package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/profile"
)

// document is the YAML file as written. It is private so that only a
// validated Config ever leaves this package.
type document struct {
	Version     *int      `yaml:"version"`
	Identity    string    `yaml:"identity"`
	Listen      string    `yaml:"listen"`
	AdminListen string    `yaml:"admin_listen"`
	Store       wireStore `yaml:"store"`
	MITM        wireMITM  `yaml:"mitm"`
	Passthrough string    `yaml:"passthrough"`
	MaxSigned   size      `yaml:"max_signed_body"`
	Shutdown    duration  `yaml:"shutdown_timeout"`
	ScrubEcho   string    `yaml:"scrub_echo"`
	LockMemory  bool      `yaml:"lock_memory"`
	Timeouts    struct {
		Handshake duration `yaml:"handshake"`
		Header    duration `yaml:"header"`
		Idle      duration `yaml:"idle"`
		WebSocket duration `yaml:"websocket_idle"`
	} `yaml:"timeouts"`
	Upstream  wireUpstream  `yaml:"upstream"`
	Audit     wireAudit     `yaml:"audit"`
	Approvals wireApprovals `yaml:"approvals"`
	Log       wireLog       `yaml:"log"`
	ProxyAuth struct {
		Clients []struct {
			Name    string `yaml:"name"`
			SHA256  string `yaml:"sha256"`
			Profile string `yaml:"profile"`
		} `yaml:"clients"`
	} `yaml:"proxy_auth"`
}

// wireStore: pointers tell a key the file sets from one it leaves out, so
// that each store type can refuse the other's keys.
type wireStore struct {
	Type     string    `yaml:"type"`
	Cache    wireCache `yaml:"cache"`
	Path     *string   `yaml:"path"`
	KeyFile  *string   `yaml:"key_file"`
	KeyEnv   *string   `yaml:"key_env"`
	Interval *duration `yaml:"poll_interval"`

	URL       *string   `yaml:"url"`
	TokenFile *string   `yaml:"token_file"`
	TokenEnv  *string   `yaml:"token_env"`
	CAFile    *string   `yaml:"ca_file"`
	MaxStale  *duration `yaml:"max_stale"`
}

type wireCache struct {
	Size int      `yaml:"size"`
	TTL  duration `yaml:"ttl"`
}

type wireMITM struct {
	CACert        string   `yaml:"ca_cert"`
	CAKey         string   `yaml:"ca_key"`
	Hosts         hostMode `yaml:"hosts"`
	LeafCacheSize int      `yaml:"leaf_cache_size"`
}

type wireUpstream struct {
	CAFile                string            `yaml:"ca_file"`
	Resolve               map[string]string `yaml:"resolve"`
	AllowPrivate          []string          `yaml:"allow_private"`
	DialTimeout           duration          `yaml:"dial_timeout"`
	ResponseHeaderTimeout duration          `yaml:"response_header_timeout"`
	HTTP2                 bool              `yaml:"http2"`
	Proxy                 string            `yaml:"proxy"`
}

type wireAudit struct {
	Path    string   `yaml:"path"`
	Durable bool     `yaml:"durable"`
	Sync    syncMode `yaml:"sync"`
	MaxSize size     `yaml:"max_size"`
	// AdminPath is the file store's admin log (default under the home).
	AdminPath string `yaml:"admin_path"`
	// MaxFiles keeps at most this many rotated files; 0 keeps them all.
	MaxFiles int                  `yaml:"max_files"`
	Forward  []forward.WireConfig `yaml:"forward"`
}

// syncMode accepts "record" (fsync every record) or a duration.
type syncMode time.Duration

func (m *syncMode) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == "record" {
		*m = 0
		return nil
	}
	var d duration
	if err := d.UnmarshalYAML(n); err != nil {
		return fmt.Errorf("line %d: audit.sync must be record or a duration such as 100ms", n.Line)
	}
	*m = syncMode(d)
	return nil
}

type wireLog struct {
	Level string `yaml:"level"`
}

// duration accepts Go duration strings ("10s", "5m").
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 10s or 5m", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (write e.g. 10s or 5m)", n.Line, n.Value)
	}
	*d = duration(v)
	return nil
}

// size accepts a byte count: 1048576, "512KiB", "10MiB", "1GiB".
type size int64

func (s *size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a size such as 10MiB", n.Line)
	}
	v := strings.TrimSpace(n.Value)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	num, err := strconv.ParseInt(v, 10, 64)
	if err != nil || num < 0 || num > (1<<40)/mult {
		return fmt.Errorf("line %d: %q is not a size (write e.g. 10MiB, 512KiB or a number of bytes)", n.Line, n.Value)
	}
	*s = size(num * mult)
	return nil
}

// hostMode accepts "auto", "all" or a list of hosts.
type hostMode HostMode

func (h *hostMode) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Value {
		case "auto":
			*h = hostMode{Auto: true}
		case "all":
			*h = hostMode{All: true}
		default:
			return fmt.Errorf("line %d: mitm.hosts must be auto, all or a list of hosts, not %q", n.Line, n.Value)
		}
		return nil
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return fmt.Errorf("line %d: mitm.hosts: %v", n.Line, err)
		}
		*h = hostMode{List: list}
		return nil
	}
	return fmt.Errorf("line %d: mitm.hosts must be auto, all or a list of hosts", n.Line)
}

func defaultDocument(d Config) document {
	w := document{
		Listen:      d.Listen,
		AdminListen: d.AdminListen,
		Store: wireStore{
			Type:  d.Store.Type,
			Cache: wireCache{Size: d.Store.Cache.Size, TTL: duration(d.Store.Cache.TTL)},
		},
		MITM: wireMITM{
			CACert: d.MITM.CACert, CAKey: d.MITM.CAKey,
			Hosts: hostMode(d.MITM.Hosts), LeafCacheSize: d.MITM.LeafCacheSize,
		},
		Passthrough: d.Passthrough,
		MaxSigned:   size(d.MaxSignedBody),
		Shutdown:    duration(d.ShutdownTimeout),
		ScrubEcho:   d.ScrubEcho,
		Upstream: wireUpstream{
			DialTimeout:           duration(d.Upstream.DialTimeout),
			ResponseHeaderTimeout: duration(d.Upstream.ResponseHeaderTimeout),
		},
		Audit: wireAudit{Path: d.Audit.Path, AdminPath: d.Audit.AdminPath},
		Log:   wireLog{Level: d.Log.Level},
	}
	w.Timeouts.Handshake = duration(d.Timeouts.Handshake)
	w.Timeouts.Header = duration(d.Timeouts.Header)
	w.Timeouts.Idle = duration(d.Timeouts.Idle)
	w.Timeouts.WebSocket = duration(d.Timeouts.WebSocketIdle)
	return w
}

// compile validates the whole document and returns the Config. Every error
// names the key it is about.
func (w document) compile(home, base string) (Config, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	c := Config{Passthrough: w.Passthrough}
	switch {
	case w.Version == nil:
		bad("version", "missing; this build reads \"version: %d\"", Version)
	case *w.Version != Version:
		bad("version", "%d is not supported; this build reads version %d", *w.Version, Version)
	default:
		c.Version = *w.Version
	}
	c.Identity = w.Identity
	if len(w.Identity) > 200 || !printable(w.Identity) {
		bad("identity", "must be printable text of at most 200 bytes")
	}
	c.Listen = w.Listen
	if err := CheckListen(w.Listen); err != nil {
		bad("listen", "%v", err)
	}
	c.AdminListen = w.AdminListen
	if w.AdminListen != "" {
		if err := CheckListen(w.AdminListen); err != nil {
			bad("admin_listen", "%v", err)
		} else if _, port, _ := net.SplitHostPort(w.AdminListen); w.AdminListen == w.Listen && port != "0" {
			bad("admin_listen", "%s is the proxy's listen address; give the admin listener its own port", w.AdminListen)
		}
	}
	path := func(key, p string, required bool) string {
		if p == "" {
			if required {
				bad(key, "must not be empty")
			}
			return ""
		}
		abs, err := resolvePath(p, base)
		if err != nil {
			bad(key, "%v", err)
		}
		return abs
	}

	c.Store = w.Store.compile(Default(home).Store, path, bad)
	c.Approvals = w.Approvals.compile(path, bad)

	c.MITM = MITM{Hosts: HostMode(w.MITM.Hosts), LeafCacheSize: w.MITM.LeafCacheSize}
	c.MITM.CACert = path("mitm.ca_cert", w.MITM.CACert, true)
	c.MITM.CAKey = path("mitm.ca_key", w.MITM.CAKey, true)
	for i, h := range c.MITM.Hosts.List {
		if h == "" || strings.ContainsAny(h, "/ ") {
			bad(fmt.Sprintf("mitm.hosts[%d]", i), "%q is not a host name", h)
		}
	}
	if c.MITM.LeafCacheSize < 1 {
		bad("mitm.leaf_cache_size", "must be at least 1")
	}

	switch w.Passthrough {
	case PassthroughAllow, PassthroughDeny:
	default:
		bad("passthrough", "must be allow or deny, not %q", w.Passthrough)
	}

	c.LockMemory = w.LockMemory
	c.ScrubEcho = w.ScrubEcho
	if w.ScrubEcho != "headers" && w.ScrubEcho != "body" {
		bad("scrub_echo", "must be headers or body, not %q", w.ScrubEcho)
	}
	c.Timeouts = Timeouts{Handshake: time.Duration(w.Timeouts.Handshake), Header: time.Duration(w.Timeouts.Header), Idle: time.Duration(w.Timeouts.Idle),
		WebSocketIdle: time.Duration(w.Timeouts.WebSocket)}
	for name, d := range map[string]time.Duration{"handshake": c.Timeouts.Handshake, "header": c.Timeouts.Header, "idle": c.Timeouts.Idle} {
		if d <= 0 || d > time.Hour {
			bad("timeouts."+name, "must be a duration between 1ns and 1h")
		}
	}
	if d := c.Timeouts.WebSocketIdle; d < time.Second || d > 24*time.Hour {
		bad("timeouts.websocket_idle", "must be a duration between 1s and 24h")
	}
	c.ShutdownTimeout = time.Duration(w.Shutdown)
	if c.ShutdownTimeout <= 0 || c.ShutdownTimeout > 10*time.Minute {
		bad("shutdown_timeout", "must be a duration between 1ns and 10m")
	}
	c.MaxSignedBody = int64(w.MaxSigned)
	if c.MaxSignedBody < 1 || c.MaxSignedBody > 1<<30 {
		bad("max_signed_body", "must be between 1 byte and 1GiB")
	}

	c.Upstream = Upstream{
		DialTimeout:           time.Duration(w.Upstream.DialTimeout),
		ResponseHeaderTimeout: time.Duration(w.Upstream.ResponseHeaderTimeout),
		HTTP2:                 w.Upstream.HTTP2,
		Resolve:               map[string]string{},
	}
	if w.Upstream.CAFile != "" {
		c.Upstream.CAFile = path("upstream.ca_file", w.Upstream.CAFile, false)
	}
	keys := make([]string, 0, len(w.Upstream.Resolve))
	for k := range w.Upstream.Resolve {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		from, to, err := policy.ParsePin(k, w.Upstream.Resolve[k])
		if err != nil {
			bad(fmt.Sprintf("upstream.resolve[%q]", k), "%v", err)
			continue
		}
		c.Upstream.Resolve[from] = to
	}
	for i, s := range w.Upstream.AllowPrivate {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if ip, ipErr := netip.ParseAddr(s); ipErr == nil {
				p = netip.PrefixFrom(ip, ip.BitLen())
			} else {
				bad(fmt.Sprintf("upstream.allow_private[%d]", i), "%q is not a CIDR such as 10.1.0.0/16", s)
				continue
			}
		}
		c.Upstream.AllowPrivate = append(c.Upstream.AllowPrivate, p.Masked())
	}
	if p, err := parseUpstreamProxy(w.Upstream.Proxy); err != nil {
		bad("upstream.proxy", "%v", err)
	} else {
		c.Upstream.Proxy = p
	}
	if c.Upstream.DialTimeout <= 0 {
		bad("upstream.dial_timeout", "must be a positive duration")
	}
	if c.Upstream.ResponseHeaderTimeout <= 0 {
		bad("upstream.response_header_timeout", "must be a positive duration")
	}

	c.Audit = Audit{Path: w.Audit.Path, Durable: w.Audit.Durable, SyncInterval: time.Duration(w.Audit.Sync), MaxSize: int64(w.Audit.MaxSize)}
	switch w.Audit.Path {
	case "":
		bad("audit.path", "must be stdout, stderr or a file path")
	case "stdout", "stderr":
	default:
		c.Audit.Path = path("audit.path", w.Audit.Path, true)
	}
	if w.Audit.AdminPath == "" {
		bad("audit.admin_path", "must be a file path")
	} else {
		c.Audit.AdminPath = path("audit.admin_path", w.Audit.AdminPath, true)
	}
	if w.Audit.Durable && (w.Audit.Path == "stdout" || w.Audit.Path == "stderr") {
		bad("audit.durable", "needs audit.path to be a file, not %s", w.Audit.Path)
	}
	if c.Store.Type == StoreRemote && !w.Audit.Durable {
		// The durable log is what the sidecar ships to the control plane:
		// without it records could not survive a restart or an outage.
		bad("audit.durable", "store.type remote ships the durable audit log to the control plane: set audit.durable: true and audit.path to a file")
	}
	if c.Audit.SyncInterval < 0 || c.Audit.SyncInterval > time.Minute {
		bad("audit.sync", "must be record or a duration up to 1m")
	}
	if c.Audit.MaxSize != 0 && c.Audit.MaxSize < 4096 {
		bad("audit.max_size", "must be 0 (never rotate) or at least 4KiB")
	}
	c.Audit.MaxFiles = w.Audit.MaxFiles
	if w.Audit.MaxFiles < 0 {
		bad("audit.max_files", "must be 0 (keep every rotated file) or more")
	}
	if w.Audit.MaxFiles > 0 && (!w.Audit.Durable || c.Audit.MaxSize == 0) {
		bad("audit.max_files", "needs audit.durable: true and audit.max_size: only the durable log rotates")
	}
	c.Audit.Forward = forward.Compile("audit.forward", w.Audit.Forward, path, bad)
	if len(c.Audit.Forward) > 0 && !w.Audit.Durable {
		// The durable log is the forwarders' buffer and their cursor's
		// reference: without it an outage would lose records.
		bad("audit.forward", "needs audit.durable: true and audit.path to a file")
	}

	names := map[string]bool{}
	for i, pc := range w.ProxyAuth.Clients {
		key := fmt.Sprintf("proxy_auth.clients[%d]", i)
		if pc.Name == "" || strings.ContainsAny(pc.Name, ": \t") || !printable(pc.Name) {
			bad(key+".name", "must be a non-empty name without ':' or spaces")
		} else if names[pc.Name] {
			bad(key+".name", "%q is listed twice", pc.Name)
		}
		names[pc.Name] = true
		if d, err := hex.DecodeString(pc.SHA256); err != nil || len(d) != 32 {
			bad(key+".sha256", "must be 64 hex digits (alter auth hash < secret prints it)")
		}
		if pc.Profile != "" {
			if err := profile.CheckName(pc.Profile); err != nil {
				bad(key+".profile", "%v", err)
			}
		}
		c.ProxyAuth = append(c.ProxyAuth, ProxyClient{Name: pc.Name, SHA256: strings.ToLower(pc.SHA256), Profile: pc.Profile})
	}

	c.Log.Level = w.Log.Level
	switch w.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, not %q", w.Log.Level)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// CheckListen refuses a listen address that is not host:port with a valid
// port and an IP address (or localhost, or no host) as the host.
func CheckListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:8080)", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q has an invalid port", addr)
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q: listen on an IP address (or localhost)", addr)
		}
	}
	return nil
}

func resolvePath(p, base string) (string, error) {
	if strings.HasPrefix(p, "~/") || p == "~" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cannot expand ~: %v", err)
		}
		p = filepath.Join(home, strings.TrimPrefix(p, "~"))
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	return filepath.Clean(p), nil
}
