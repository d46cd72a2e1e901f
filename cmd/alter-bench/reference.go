//go:build !windows

package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/elazarl/goproxy"
)

// The reference proxy: plain goproxy, tuned as its users would tune it
// (a pooled transport, keep-alive to the upstreams, our CA for the hosts a
// grant reaches), doing the least a credential proxy does — swap the
// marker header for a fixed bearer token — and none of alter's work: no
// grant lookup, policy, templates, header hygiene, echo masking or audit. Run through the same child
// protocol, it is measured exactly as alter is, in the same run, so the
// ratio between the two is what alter's own work costs on this machine.
// `--proxy goproxy` selects it (scenarios a, b, c and d; e needs a signer).

// Proxy kinds for --proxy.
const (
	proxyAlter   = "alter"
	proxyGoproxy = "goproxy"
)

// runReference serves the reference proxy on ln until the parent quits.
func runReference(cfg childConfig, ln net.Listener, stdin io.Reader, stdout io.Writer) error {
	roots, err := loadPool(cfg.UpstreamCA)
	if err != nil {
		return err
	}
	ca, err := tls.LoadX509KeyPair(cfg.CACert, cfg.CAKey)
	if err != nil {
		return err
	}
	// The made-up names are pinned, as upstream.resolve pins them for alter.
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if pinned, ok := cfg.Resolve[addr]; ok {
			addr = pinned
		}
		return dialer.DialContext(ctx, network, addr)
	}
	gp := goproxy.NewProxyHttpServer()
	gp.Logger = log.New(io.Discard, "", 0)
	gp.Tr = &http.Transport{
		DialContext:         dial,
		TLSClientConfig:     &tls.Config{RootCAs: roots},
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	gp.ConnectDial = func(network, addr string) (net.Conn, error) { return dial(context.Background(), network, addr) }
	// The least a credential proxy does, so the upstream accepts the
	// request: swap the marker for a fixed bearer token.
	gp.OnRequest().DoFunc(func(r *http.Request, _ *goproxy.ProxyCtx) (*http.Request, *http.Response) {
		if r.Header.Get("X-Alter-Grant") != "" {
			r.Header.Del("X-Alter-Grant")
			r.Header.Set("Authorization", "Bearer "+benchToken)
		}
		return r, nil
	})
	mitm := &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: goproxy.TLSConfigFromCA(&ca)}
	gp.OnRequest().HandleConnectFunc(func(host string, _ *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		if h, _, err := net.SplitHostPort(host); err == nil && h == hostTunnel {
			return goproxy.OkConnect, host
		}
		return mitm, host // what alter terminates: the hosts a grant reaches
	})
	srv := &http.Server{Handler: gp, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(ln) }()
	fmt.Fprintf(stdout, "ready %s\n", ln.Addr())
	serveControl(stdin, stdout)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
	return nil
}

// referenceUnsupported says why a scenario cannot run on the reference.
func referenceUnsupported(s scenario) error {
	if s.Grant == grantSigV4 {
		return fmt.Errorf("scenario %s needs alter's SigV4 signer; the goproxy reference cannot run it", s.Name)
	}
	return nil
}
