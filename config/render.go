package config

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Render writes c as a config document that Parse reads back to the same
// Config. alter init uses it to write the home's config.yaml.
func Render(c Config) []byte {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# alter proxy reads this file when it is started without --config.\n")
	p("# config.example.yaml in the alter repository documents every key.\n")
	p("version: %d\n", c.Version)
	if c.Identity != "" {
		p("identity: %q\n", c.Identity)
	}
	p("listen: %q\n", c.Listen)
	p("admin_listen: %q\n", c.AdminListen)
	p("store:\n  type: %s\n", c.Store.Type)
	if c.Store.Type == StoreRemote {
		p("  url: %q\n", c.Store.URL)
		if c.Store.TokenEnv != "" {
			p("  token_env: %s\n", c.Store.TokenEnv)
		} else {
			p("  token_file: %q\n", c.Store.TokenFile)
		}
		if c.Store.CAFile != "" {
			p("  ca_file: %q\n", c.Store.CAFile)
		}
		p("  max_stale: %s\n", c.Store.MaxStale)
		p("  cache: {size: %d, ttl: %s}\n", c.Store.Cache.Size, c.Store.Cache.TTL)
	} else {
		p("  path: %q\n", c.Store.Path)
		if c.Store.KeyEnv != "" {
			p("  key_env: %s\n", c.Store.KeyEnv)
		} else {
			p("  key_file: %q\n", c.Store.KeyFile)
		}
		p("  cache: {size: %d, ttl: %s}\n", c.Store.Cache.Size, c.Store.Cache.TTL)
		p("  poll_interval: %s\n", c.Store.Interval)
	}
	p("mitm:\n  ca_cert: %q\n  ca_key: %q\n", c.MITM.CACert, c.MITM.CAKey)
	switch {
	case c.MITM.Hosts.All:
		p("  hosts: all\n")
	case c.MITM.Hosts.Auto:
		p("  hosts: auto\n")
	default:
		p("  hosts: [%s]\n", quoteList(c.MITM.Hosts.List))
	}
	p("  leaf_cache_size: %d\n", c.MITM.LeafCacheSize)
	p("passthrough: %s\n", c.Passthrough)
	p("max_signed_body: %d\n", c.MaxSignedBody)
	p("shutdown_timeout: %s\n", c.ShutdownTimeout)
	p("scrub_echo: %s\n", c.ScrubEcho)
	p("lock_memory: %t\n", c.LockMemory)
	p("timeouts: {handshake: %s, header: %s, idle: %s, websocket_idle: %s}\n", c.Timeouts.Handshake, c.Timeouts.Header, c.Timeouts.Idle, c.Timeouts.WebSocketIdle)
	p("upstream:\n  ca_file: %q\n", c.Upstream.CAFile)
	if len(c.Upstream.Resolve) == 0 {
		p("  resolve: {}\n")
	} else {
		p("  resolve:\n")
		keys := make([]string, 0, len(c.Upstream.Resolve))
		for k := range c.Upstream.Resolve {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p("    %q: %q\n", k, c.Upstream.Resolve[k])
		}
	}
	p("  allow_private: [%s]\n", quoteList(prefixStrings(c.Upstream.AllowPrivate)))
	p("  dial_timeout: %s\n  response_header_timeout: %s\n", c.Upstream.DialTimeout, c.Upstream.ResponseHeaderTimeout)
	p("  http2: %t\n", c.Upstream.HTTP2)
	if c.Upstream.Proxy.Addr != "" {
		p("  proxy: %q\n", c.Upstream.Proxy.url().String()) // the password too: this is the config file
	}
	p("audit:\n  path: %q\n  durable: %t\n", c.Audit.Path, c.Audit.Durable)
	if c.Audit.SyncInterval == 0 {
		p("  sync: record\n")
	} else {
		p("  sync: %s\n", c.Audit.SyncInterval)
	}
	p("  max_size: %d\n", c.Audit.MaxSize)
	p("  admin_path: %q\n", c.Audit.AdminPath)
	if c.Audit.MaxFiles > 0 {
		p("  max_files: %d\n", c.Audit.MaxFiles)
	}
	if len(c.Audit.Forward) > 0 {
		p("  forward:\n")
		for _, f := range c.Audit.Forward {
			p("    - {name: %q, type: %q", f.Name, f.Type)
			for _, kv := range [...]struct{ k, v string }{{"url", f.URL}, {"address", f.Address}, {"ca_file", f.CAFile},
				{"cert_file", f.CertFile}, {"hostname", f.Hostname}, {"secret_file", f.SecretFile}, {"secret_env", f.SecretEnv}} {
				if kv.v != "" {
					p(", %s: %q", kv.k, kv.v)
				}
			}
			if f.TLS {
				p(", tls: true")
			}
			if f.Batch > 0 {
				p(", batch: %d", f.Batch)
			}
			p("}\n")
		}
	}
	p("log:\n  level: %s\n", c.Log.Level)
	if len(c.ProxyAuth) > 0 {
		p("proxy_auth:\n  clients:\n")
		for _, pc := range c.ProxyAuth {
			if pc.Profile != "" {
				p("    - {name: %q, sha256: %q, profile: %q}\n", pc.Name, pc.SHA256, pc.Profile)
				continue
			}
			p("    - {name: %q, sha256: %q}\n", pc.Name, pc.SHA256)
		}
	}
	return []byte(b.String())
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
