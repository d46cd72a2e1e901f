//go:build !windows

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// leg is one side of a comparison.
type leg string

const (
	legDirect leg = "direct"
	legProxy  leg = "proxy"
)

// target is what the clients need to know about the running set-up.
type target struct {
	fix       *fixture
	resolve   map[string]string
	proxyAddr string
}

// newClient builds the HTTP client for one scenario, leg and concurrency.
// Both legs get the same transport settings; only the route (proxy or the
// pinned dialer) and the CA they trust differ.
func newClient(t target, sc scenario, lg leg, conc int) *http.Client {
	tr := &http.Transport{
		MaxIdleConns:          2 * conc,
		MaxIdleConnsPerHost:   conc,
		IdleConnTimeout:       time.Minute,
		DisableKeepAlives:     sc.NewConn,
		DisableCompression:    true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		// No session cache: scenario c must pay for a full handshake
		// every time, on both legs.
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12},
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	switch lg {
	case legDirect:
		tr.TLSClientConfig.RootCAs = t.fix.upPool
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			to, ok := t.resolve[addr]
			if !ok {
				return nil, fmt.Errorf("direct dial: %s is not a bench upstream", addr)
			}
			return dialer.DialContext(ctx, network, to)
		}
	case legProxy:
		u := &url.URL{Scheme: "http", Host: t.proxyAddr}
		tr.Proxy = http.ProxyURL(u)
		tr.DialContext = dialer.DialContext
		if sc.Tunnel {
			tr.TLSClientConfig.RootCAs = t.fix.upPool
		} else {
			tr.TLSClientConfig.RootCAs = t.fix.mitmPool
		}
	}
	return &http.Client{
		Transport: tr,
		// Redirects would be a misconfiguration here; return them as-is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// requester returns a function that sends one request of the scenario and
// reads the whole answer. The body, if any, is shared read-only.
func requester(t target, sc scenario, lg leg, client *http.Client) func(context.Context) error {
	var body []byte
	if sc.BodySize > 0 {
		body = bytes.Repeat([]byte("b"), sc.BodySize)
	}
	return func(ctx context.Context) error {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, sc.Method, sc.URL, rd)
		if err != nil {
			return err
		}
		setCredential(req.Header, t.fix, sc.Grant, lg)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			if code := resp.Header.Get("X-Alter-Error"); code != "" {
				return fmt.Errorf("status %d (%s)", resp.StatusCode, code)
			}
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return err
	}
}

// setCredential: through the proxy the request names its grant; direct, it
// carries the credential itself, as an application without alter would.
func setCredential(h http.Header, fix *fixture, g grantKind, lg leg) {
	switch {
	case g == grantBearer && lg == legProxy:
		h.Set("X-Alter-Grant", fix.bearerGrant)
	case g == grantBearer:
		h.Set("Authorization", "Bearer "+benchToken)
	case g == grantSigV4 && lg == legProxy:
		h.Set("X-Alter-Grant", fix.sigv4Grant)
	case g == grantSigV4:
		h.Set("Authorization", directSigV4)
	}
}
