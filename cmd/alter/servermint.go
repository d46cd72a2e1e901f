package main

import (
	"crypto/x509"
	"fmt"
	"os"

	"github.com/alter-sidecar/alter/server/api"
	"github.com/alter-sidecar/alter/server/serverconfig"
)

// serverMintTrust turns server.yaml's mint section into what the server's
// token requests trust: the pins and ranges as configured, and the system
// roots plus mint.ca_file's certificates. A CA file that cannot be read
// or holds no certificate stops the start (and --check-config): a minted
// credential would otherwise fail at its first use, far from the cause.
func serverMintTrust(m serverconfig.Mint) (api.MintTrust, error) {
	t := api.MintTrust{Resolve: m.Resolve, AllowPrivate: m.AllowPrivate}
	if m.CAFile == "" {
		return t, nil
	}
	pem, err := os.ReadFile(m.CAFile)
	if err != nil {
		return api.MintTrust{}, fmt.Errorf("mint.ca_file: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return api.MintTrust{}, fmt.Errorf("mint.ca_file %s: no PEM certificate in it", m.CAFile)
	}
	t.RootCAs = roots
	return t, nil
}
