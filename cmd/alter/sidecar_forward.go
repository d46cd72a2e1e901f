package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/config"
)

// startForwarders sends the durable audit log to each audit.forward
// target in the background; nil when there are none. A target whose
// secret or certificate cannot be loaded stops the start: forwarding
// half the configured targets would be a silent gap in a SIEM.
func startForwarders(c config.Audit, log *zap.Logger) (*forward.Forwarders, error) {
	if len(c.Forward) == 0 {
		return nil, nil
	}
	var targets []forward.Target
	for i, f := range c.Forward {
		key := fmt.Sprintf("audit.forward[%d]", i)
		t := forward.Target{Name: f.Name, Batch: f.Batch}
		switch f.Type {
		case config.ForwardWebhook:
			secret, err := forwardSecret(key, f)
			if err != nil {
				return nil, err
			}
			wh, err := forward.NewWebhook(forward.WebhookOptions{URL: f.URL, Secret: secret})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			t.Sender = wh
		case config.ForwardSyslog:
			o := forward.SyslogOptions{Address: f.Address, Hostname: f.Hostname}
			if o.Hostname == "" {
				o.Hostname, _ = os.Hostname()
			}
			if f.TLS {
				cfg, err := syslogTLS(key, f)
				if err != nil {
					return nil, err
				}
				o.TLS = cfg
			}
			sl, err := forward.NewSyslog(o)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			t.Sender = sl
		default:
			return nil, fmt.Errorf("%s.type: %q is not a forwarding type", key, f.Type)
		}
		targets = append(targets, t)
	}
	return forward.Start(c.Path, targets, forward.LogOptions{}, log.Named("audit_forward"))
}

// forwardSecret reads a target's secret from its env variable or file.
func forwardSecret(key string, f config.Forward) ([]byte, error) {
	var v string
	switch {
	case f.SecretEnv != "":
		v = os.Getenv(f.SecretEnv)
		if v == "" {
			return nil, fmt.Errorf("%s.secret_env: $%s is empty or not set", key, f.SecretEnv)
		}
	case f.SecretFile != "":
		data, err := os.ReadFile(f.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("%s.secret_file: %w", key, err)
		}
		v = strings.TrimSpace(string(data))
		if v == "" {
			return nil, fmt.Errorf("%s.secret_file %s is empty", key, f.SecretFile)
		}
	default:
		return nil, fmt.Errorf("%s: no secret_env or secret_file", key)
	}
	if f.Type == config.ForwardWebhook && len(v) < forward.MinSecretBytes {
		return nil, fmt.Errorf("%s: the webhook secret is shorter than %d bytes", key, forward.MinSecretBytes)
	}
	return []byte(v), nil
}

// syslogTLS is the TLS config of a syslog target: the collector checked
// against ca_file (or the system roots), and a client certificate when
// cert_file is set, its key from the secret.
func syslogTLS(key string, f config.Forward) (*tls.Config, error) {
	host := f.Address
	if i := strings.LastIndex(host, ":"); i >= 0 {
		host = strings.Trim(host[:i], "[]")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", key, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file %s: no PEM certificate in it", key, f.CAFile)
		}
		cfg.RootCAs = pool
	}
	if f.CertFile != "" {
		certPEM, err := os.ReadFile(f.CertFile)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file: %w", key, err)
		}
		keyPEM, err := forwardSecret(key, f)
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
