package forward

import (
	"fmt"
	"net"
	"net/url"
	"regexp"

	"github.com/alter-sidecar/alter/approval/notify"
)

// Forward types.
const (
	TypeWebhook = "webhook"
	TypeSyslog  = "syslog"
)

// Config is one audit.forward entry: where audit records are also sent
// (a SIEM). The sidecar's config and the server's read the same entries.
// Secrets come from SecretEnv or SecretFile, never from the file itself:
// the webhook's HMAC key, or the syslog TLS client key (PEM). The URL can
// be a secret itself (it may carry a token): it is never logged, and
// errors about it do not repeat it.
//
//	audit:
//	  forward:
//	    - name: siem
//	      type: webhook
//	      url: https://siem.example.com/alter
//	      secret_env: ALTER_AUDIT_WEBHOOK_SECRET
//	    - name: collector
//	      type: syslog
//	      address: syslog.example.com:6514
//	      tls: true
//	      ca_file: /etc/alter/syslog-ca.pem
type Config struct {
	// Name identifies the target in logs and keys its cursor: renaming
	// a target starts it over.
	Name string
	Type string // TypeWebhook or TypeSyslog
	// Batch is the most records per send (a webhook splits a send into
	// POSTs of at most MaxPostBytes); 0 means 1000.
	Batch int

	URL string // webhook

	Address  string // syslog host:port
	TLS      bool
	CAFile   string // syslog TLS: the collector's CA; empty uses the system roots
	CertFile string // syslog TLS client certificate; its key is the secret
	Hostname string // syslog HOSTNAME; empty is the machine's name

	SecretFile string
	SecretEnv  string
}

// String describes the entry without its URL's path and query, which
// may hold a token (and never with a secret: it holds none).
func (c Config) String() string {
	where := c.Address
	if c.Type == TypeWebhook {
		where = "<unparsable url>"
		if u, err := url.Parse(c.URL); err == nil {
			where = u.Scheme + "://" + u.Host + "/…"
		}
	}
	return fmt.Sprintf("audit.forward %s (%s to %s)", c.Name, c.Type, where)
}

// WireConfig is an entry as written in YAML; Compile checks it.
type WireConfig struct {
	Name       string `yaml:"name"`
	Type       string `yaml:"type"`
	Batch      int    `yaml:"batch"`
	URL        string `yaml:"url"`
	Address    string `yaml:"address"`
	TLS        bool   `yaml:"tls"`
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	Hostname   string `yaml:"hostname"`
	SecretFile string `yaml:"secret_file"`
	SecretEnv  string `yaml:"secret_env"`
}

// MaxBatch is the most records one send may carry.
const MaxBatch = 1000

var targetName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// Compile checks the list at key ("audit.forward"). path resolves a
// relative file name against the config's directory (and reports a bad
// one); bad records an error naming its key. Every problem is reported,
// not only the first.
func Compile(key string, ws []WireConfig, path func(key, p string, required bool) string, bad func(key, format string, args ...any)) []Config {
	var out []Config
	seen := map[string]bool{}
	for i, w := range ws {
		k := fmt.Sprintf("%s[%d]", key, i)
		f := Config{Name: w.Name, Type: w.Type, Batch: w.Batch, Hostname: w.Hostname, SecretEnv: w.SecretEnv}
		if !targetName.MatchString(w.Name) {
			bad(k+".name", "must be 1-32 of a-z, 0-9, '-' and '_' (it keys the target's cursor)")
		} else if seen[w.Name] {
			bad(k+".name", "%q is used twice", w.Name)
		}
		seen[w.Name] = true
		if w.Batch < 0 || w.Batch > MaxBatch {
			bad(k+".batch", "must be between 1 and %d (0: %d)", MaxBatch, MaxBatch)
		}
		if w.SecretFile != "" && w.SecretEnv != "" {
			bad(k, "give secret_file or secret_env, not both")
		}
		f.SecretFile = path(k+".secret_file", w.SecretFile, false)
		hasSecret := w.SecretFile != "" || w.SecretEnv != ""
		switch w.Type {
		case TypeWebhook:
			if w.Address != "" || w.TLS || w.CAFile != "" || w.CertFile != "" || w.Hostname != "" {
				bad(k, "address, tls, ca_file, cert_file and hostname are for type syslog")
			}
			if err := notify.CheckURL(w.URL); err != nil {
				bad(k+".url", "%v", err) // the URL may be a secret: never repeated
			}
			f.URL = w.URL
			if !hasSecret {
				bad(k, "needs secret_file or secret_env: every POST is signed (HMAC-SHA256)")
			}
		case TypeSyslog:
			if w.URL != "" {
				bad(k+".url", "is for type webhook; syslog takes address")
			}
			if _, port, err := net.SplitHostPort(w.Address); err != nil || port == "" {
				bad(k+".address", "must be host:port")
			}
			f.Address, f.TLS = w.Address, w.TLS
			if !w.TLS && (w.CAFile != "" || w.CertFile != "" || hasSecret) {
				bad(k, "ca_file, cert_file and a client key need tls: true")
			}
			if (w.CertFile != "") != hasSecret {
				bad(k, "a TLS client certificate (cert_file) and its key (secret_file or secret_env) come together")
			}
			f.CAFile = path(k+".ca_file", w.CAFile, false)
			f.CertFile = path(k+".cert_file", w.CertFile, false)
		default:
			bad(k+".type", "must be %s or %s", TypeWebhook, TypeSyslog)
		}
		out = append(out, f)
	}
	return out
}
