package forward

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
)

// Target builds the sender of a compiled entry; key names it in errors
// ("audit.forward[0]"). A secret or certificate that cannot be loaded is
// an error: forwarding half the configured targets would be a silent gap
// in a SIEM, so the caller refuses to start.
func (c Config) Target(key string) (Target, error) {
	t := Target{Name: c.Name, Batch: c.Batch}
	switch c.Type {
	case TypeWebhook:
		secret, err := c.secret(key)
		if err != nil {
			return Target{}, err
		}
		wh, err := NewWebhook(WebhookOptions{URL: c.URL, Secret: secret})
		if err != nil {
			return Target{}, fmt.Errorf("%s: %w", key, err)
		}
		t.Sender = wh
	case TypeSyslog:
		o := SyslogOptions{Address: c.Address, Hostname: c.Hostname}
		if o.Hostname == "" {
			o.Hostname, _ = os.Hostname()
		}
		if c.TLS {
			cfg, err := c.syslogTLS(key)
			if err != nil {
				return Target{}, err
			}
			o.TLS = cfg
		}
		sl, err := NewSyslog(o)
		if err != nil {
			return Target{}, fmt.Errorf("%s: %w", key, err)
		}
		t.Sender = sl
	default:
		return Target{}, fmt.Errorf("%s.type: %q is not a forwarding type", key, c.Type)
	}
	return t, nil
}

// Targets builds every entry of list, the config's key for it being key
// ("audit.forward"); nothing is returned when one fails.
func Targets(key string, list []Config) ([]Target, error) {
	var out []Target
	for i, c := range list {
		t, err := c.Target(fmt.Sprintf("%s[%d]", key, i))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// secret reads the entry's secret from its env variable or file.
func (c Config) secret(key string) ([]byte, error) {
	var v string
	switch {
	case c.SecretEnv != "":
		v = os.Getenv(c.SecretEnv)
		if v == "" {
			return nil, fmt.Errorf("%s.secret_env: $%s is empty or not set", key, c.SecretEnv)
		}
	case c.SecretFile != "":
		data, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("%s.secret_file: %w", key, err)
		}
		v = strings.TrimSpace(string(data))
		if v == "" {
			return nil, fmt.Errorf("%s.secret_file %s is empty", key, c.SecretFile)
		}
	default:
		return nil, fmt.Errorf("%s: no secret_env or secret_file", key)
	}
	if c.Type == TypeWebhook && len(v) < MinSecretBytes {
		return nil, fmt.Errorf("%s: the webhook secret is shorter than %d bytes", key, MinSecretBytes)
	}
	return []byte(v), nil
}

// syslogTLS is the TLS config of a syslog target: the collector checked
// against ca_file (or the system roots), and a client certificate when
// cert_file is set, its key from the secret.
func (c Config) syslogTLS(key string) (*tls.Config, error) {
	host := c.Address
	if i := strings.LastIndex(host, ":"); i >= 0 {
		host = strings.Trim(host[:i], "[]")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", key, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file %s: no PEM certificate in it", key, c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" {
		certPEM, err := os.ReadFile(c.CertFile)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file: %w", key, err)
		}
		keyPEM, err := c.secret(key)
		if err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			// Not err itself: its text could quote the key material.
			return nil, fmt.Errorf("%s: cert_file and the client key do not form a key pair", key)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
