//go:build !windows

package main

import (
	"fmt"
	"strings"
)

// Made-up upstream names. The proxy reaches them through upstream.resolve
// pins and the direct clients through the same map, so both legs send the
// same URL, Host header and SNI.
const (
	hostAPI    = "api.bench.test"    // bearer grant: http on plainPort, https on 443
	hostAWS    = "aws.bench.test"    // aws_sigv4 grant: http on plainPort
	hostTunnel = "tunnel.bench.test" // no grant: CONNECT is tunnelled, not terminated
	plainPort  = "8080"
)

// grantKind says which credential a scenario's requests carry.
type grantKind int

const (
	grantNone grantKind = iota
	grantBearer
	grantSigV4
)

// scenario is one kind of request, sent the same way on both legs.
type scenario struct {
	ID       string // a letter, for --scenarios
	Name     string
	Desc     string
	URL      string
	Method   string
	BodySize int
	// NewConn opens a new client connection per request (and, for https,
	// a full handshake: clients keep no session cache).
	NewConn bool
	// Tunnel: the proxy does not terminate TLS, so the client verifies the
	// upstream's certificate, not the proxy's.
	Tunnel bool
	Grant  grantKind
}

var allScenarios = []scenario{
	{ID: "a", Name: "http-bearer", Desc: "plain HTTP, bearer grant, keep-alive",
		URL: "http://" + hostAPI + ":" + plainPort + "/v1/things", Method: "GET", Grant: grantBearer},
	{ID: "b", Name: "https-mitm", Desc: "HTTPS terminated by the proxy (CONNECT + our CA), bearer grant, keep-alive",
		URL: "https://" + hostAPI + "/v1/things", Method: "GET", Grant: grantBearer},
	{ID: "c", Name: "https-mitm-newconn", Desc: "as b, but a new client connection and TLS handshake per request",
		URL: "https://" + hostAPI + "/v1/things", Method: "GET", Grant: grantBearer, NewConn: true},
	{ID: "d", Name: "tunnel", Desc: "passthrough CONNECT tunnel (no grant, TLS end to end), keep-alive",
		URL: "https://" + hostTunnel + "/v1/things", Method: "GET", Tunnel: true},
	{ID: "e", Name: "sigv4-1mib", Desc: "plain HTTP POST of 1 MiB, aws_sigv4 grant (the proxy hashes the body), keep-alive",
		URL: "http://" + hostAWS + ":" + plainPort + "/bucket/object", Method: "POST", BodySize: 1 << 20, Grant: grantSigV4},
}

func scenarioHelp() string {
	var parts []string
	for _, s := range allScenarios {
		parts = append(parts, s.ID+"="+s.Name)
	}
	return strings.Join(parts, ", ")
}

// parseScenarios accepts letters or names, comma-separated, or "all".
func parseScenarios(s string) ([]scenario, error) {
	if strings.TrimSpace(s) == "all" {
		return allScenarios, nil
	}
	var out []scenario
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		found := false
		for _, sc := range allScenarios {
			if f == sc.ID || f == sc.Name {
				found = true
				if !seen[sc.ID] {
					seen[sc.ID] = true
					out = append(out, sc)
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("--scenarios: unknown %q (known: %s)", f, scenarioHelp())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--scenarios: empty list")
	}
	return out, nil
}
