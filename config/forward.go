package config

import (
	"fmt"
	"net"
	"regexp"
)

// Forward types.
const (
	ForwardWebhook = "webhook"
	ForwardSyslog  = "syslog"
)

// Forward is one audit.forward entry: where the durable audit log is
// also sent (a SIEM). Secrets come from SecretEnv or SecretFile, never
// from this file: the webhook's HMAC key, or the syslog TLS client key
// (PEM). The URL can be a secret itself (it may carry a token): it is
// never logged, and errors about it do not repeat it.
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
type Forward struct {
	Name string
	Type string // ForwardWebhook or ForwardSyslog
	// Batch is the most records per POST or write; 0 means 1000.
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

type wireForward struct {
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

var forwardName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// compileForward checks the list; key is "audit.forward".
func compileForward(key string, ws []wireForward, path func(key, p string, required bool) string, bad func(key, format string, args ...any)) []Forward {
	var out []Forward
	seen := map[string]bool{}
	for i, w := range ws {
		k := fmt.Sprintf("%s[%d]", key, i)
		f := Forward{Name: w.Name, Type: w.Type, Batch: w.Batch, Hostname: w.Hostname, SecretEnv: w.SecretEnv}
		if !forwardName.MatchString(w.Name) {
			bad(k+".name", "must be 1-32 of a-z, 0-9, '-' and '_' (it names the position file)")
		} else if seen[w.Name] {
			bad(k+".name", "%q is used twice", w.Name)
		}
		seen[w.Name] = true
		if w.Batch < 0 || w.Batch > 1000 {
			bad(k+".batch", "must be between 1 and 1000 (0: 1000)")
		}
		if w.SecretFile != "" && w.SecretEnv != "" {
			bad(k, "give secret_file or secret_env, not both")
		}
		f.SecretFile = path(k+".secret_file", w.SecretFile, false)
		hasSecret := w.SecretFile != "" || w.SecretEnv != ""
		switch w.Type {
		case ForwardWebhook:
			if w.Address != "" || w.TLS || w.CAFile != "" || w.CertFile != "" || w.Hostname != "" {
				bad(k, "address, tls, ca_file, cert_file and hostname are for type syslog")
			}
			if err := checkWebhookURL(w.URL); err != nil {
				bad(k+".url", "%v", err) // the URL may be a secret: never repeated
			}
			f.URL = w.URL
			if !hasSecret {
				bad(k, "needs secret_file or secret_env: every POST is signed (HMAC-SHA256)")
			}
		case ForwardSyslog:
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
			bad(k+".type", "must be %s or %s", ForwardWebhook, ForwardSyslog)
		}
		out = append(out, f)
	}
	return out
}
