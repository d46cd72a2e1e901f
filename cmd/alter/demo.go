package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/certs"
	"github.com/alter-sidecar/alter/config"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/proxy"
	"github.com/alter-sidecar/alter/secretstore"
)

// demoHost is the name the demo's grant may reach. It is pinned to the
// local echo upstream with upstream.resolve, so nothing is looked up and
// nothing leaves the machine (.test is reserved and never resolves).
const demoHost = "demo.alter.test"

func (a *app) demoCommand() *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo [--keep]",
		Short: "See an injection work, locally: a proxy, an echo upstream and one request through them",
		Long: "demo shows the whole path without the internet and without touching your own store. In a\n" +
			"throw-away home (a new temporary directory, removed when demo ends) it creates a master key, CA\n" +
			"and store, stores a random bearer token for " + demoHost + ", starts an echo upstream (TLS, on a\n" +
			"127.0.0.1 port the system picks, pinned with upstream.resolve) and a proxy (also on a picked\n" +
			"port), sends one request through the proxy with the grant, and prints what the app sent, what\n" +
			"the upstream received (the injected credential masked) and what came back.\n\n" +
			"--keep keeps the throw-away home and prints where it is (its sealed store, CA and audit log).\n" +
			"--home and $ALTER_HOME are not used: demo never writes to your home.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.homeFlag != "" {
				return usageError{errors.New("demo runs in a throw-away home of its own and never uses --home (--keep keeps it)")}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			return a.runDemo(ctx, keep)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the throw-away home and print its path")
	return cmd
}

// demoSeen is what the echo upstream received.
type demoSeen struct {
	method, path string
	header       http.Header
}

// runDemo sets everything up in a temporary home, sends the request and
// reports. The secret is random and never printed.
func (a *app) runDemo(ctx context.Context, keep bool) error {
	home, err := os.MkdirTemp("", "alter-demo-")
	if err != nil {
		return fmt.Errorf("demo: temporary home: %w", err)
	}
	if keep {
		defer fmt.Fprintf(a.stdout, "\nkept the throw-away home: %s (remove it when done)\n", home)
	} else {
		defer os.RemoveAll(home)
	}
	out := a.stdout
	fmt.Fprintf(out, "alter demo: a throw-away home in %s (your own store is not touched)\n", home)

	upstream, upCA, seen, err := startDemoUpstream(home)
	if err != nil {
		return fmt.Errorf("demo: echo upstream: %w", err)
	}
	defer upstream.Close()

	cfg := demoConfig(home, upstream.Addr().String(), upCA)
	quiet := *a
	quiet.stderr = io.Discard
	if err := quiet.ensureHome(cfg, home); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	token, err := demoToken()
	if err != nil {
		return err
	}
	grant, err := storeDemoSecret(ctx, cfg, token)
	if err != nil {
		return fmt.Errorf("demo: store the secret: %w", err)
	}
	fmt.Fprintf(out, "upstream:  https://%s, a local echo server on %s (upstream.resolve pins the name to it)\n", demoHost, upstream.Addr())
	fmt.Fprintf(out, "stored:    a random bearer token for %s; grant %s\n", demoHost, grant)

	s, err := openSidecar(ctx, cfg)
	if err != nil {
		return fmt.Errorf("demo: start the proxy: %w", err)
	}
	srv, err := s.newServer(cfg)
	if err != nil {
		s.close()
		return fmt.Errorf("demo: start the proxy: %w", err)
	}
	go func() { _ = srv.Serve(s.ln) }()
	proxyURL := "http://" + s.ln.Addr().String()
	fmt.Fprintf(out, "proxy:     %s (CA for clients: %s)\n", proxyURL, cfg.MITM.CACert)

	resp, body, sendErr := sendDemoRequest(ctx, proxyURL, cfg.MITM.CACert, grant, out)
	stopDemoProxy(s, srv)
	if sendErr != nil {
		return fmt.Errorf("demo: the request through the proxy failed: %w", sendErr)
	}
	var got demoSeen
	select {
	case got = <-seen:
	default:
		return fmt.Errorf("demo: the upstream received nothing; the proxy answered %s: %s", resp.Status, oneLine(body))
	}
	printSeen(out, got)
	fmt.Fprintf(out, "\n3. the app got back:\n   %s %s\n", resp.Proto, resp.Status)
	printHeader(out, resp.Header, "Content-Type", "Content-Length")
	fmt.Fprintf(out, "   %s\n", oneLine(body))
	if rec := lastLine(filepath.Join(home, "audit.log")); rec != "" {
		fmt.Fprintf(out, "\n4. the audit record (no secret in it):\n   %s\n", rec)
	}
	if err := checkDemo(got, resp, token); err != nil {
		return fmt.Errorf("demo failed: %w", err)
	}
	fmt.Fprintf(out, "\nok: the proxy removed X-Alter-Grant and injected the stored credential; the app never held it.\n")
	return nil
}

func demoConfig(home, upstreamAddr, upstreamCA string) config.Config {
	cfg := config.Default(home)
	cfg.Listen = "127.0.0.1:0"
	cfg.AdminListen = ""
	cfg.Audit.Path = filepath.Join(home, "audit.log")
	cfg.Log.Level = "error"
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.Upstream.CAFile = upstreamCA
	cfg.Upstream.Resolve = map[string]string{demoHost + ":443": upstreamAddr}
	return cfg
}

// demoToken is a fresh random secret, so the demo proves nothing by
// accident; only its first four characters ("demo") are ever shown.
func demoToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "demo-" + hex.EncodeToString(b), nil
}

func storeDemoSecret(ctx context.Context, cfg config.Config, token string) (string, error) {
	st, err := openStore(cfg)
	if err != nil {
		return "", err
	}
	defer st.Close()
	g, err := st.Add(ctx, secretstore.NewSecret{
		Spec:   inject.Spec{Type: "bearer"},
		Fields: inject.Fields{"token": token},
		Name:   "demo",
		Policy: policy.Spec{Destinations: []string{demoHost}},
	})
	return g.ID, err
}

// startDemoUpstream starts a TLS echo server on a port the system picks,
// with a certificate for demoHost from a CA of its own (whose file the
// proxy trusts through upstream.ca_file). Each request it receives is
// sent on the channel; its answer names the headers it got and shows the
// Authorization header masked, as a real API would never echo it.
func startDemoUpstream(home string) (net.Listener, string, <-chan demoSeen, error) {
	caFile := filepath.Join(home, "upstream-ca.pem")
	ca, err := certs.CreateCA(caFile, filepath.Join(home, "upstream-ca-key.pem"))
	if err != nil {
		return nil, "", nil, err
	}
	leaf, err := certs.NewLeafCache(ca, 1).Get(demoHost)
	if err != nil {
		return nil, "", nil, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*leaf}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, "", nil, err
	}
	seen := make(chan demoSeen, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case seen <- demoSeen{method: r.Method, path: r.URL.RequestURI(), header: r.Header.Clone()}:
		default:
		}
		names := make([]string, 0, len(r.Header))
		for k := range r.Header {
			names = append(names, k)
		}
		sort.Strings(names)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"message":       "hello from the demo upstream",
			"authorization": mask(r.Header.Get("Authorization")),
			"headers":       names,
		})
	})}
	go func() { _ = srv.Serve(ln) }()
	return ln, caFile, seen, nil
}

// stopDemoProxy drains the demo's proxy as SIGTERM drains alter proxy,
// then closes the sidecar, which flushes the audit log.
func stopDemoProxy(s *sidecar, srv *proxy.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.drain(ctx, srv)
	s.close()
}

// sendDemoRequest is the app: an ordinary HTTPS request through the
// proxy, trusting its CA, with the grant id and no credential.
func sendDemoRequest(ctx context.Context, proxyURL, caFile, grant string, out io.Writer) (*http.Response, []byte, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("%s: no certificate", caFile)
	}
	pu, err := url.Parse(proxyURL)
	if err != nil {
		return nil, nil, err
	}
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	defer c.CloseIdleConnections()
	target := "https://" + demoHost + "/v1/hello"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("X-Alter-Grant", grant)
	req.Header.Set("User-Agent", "alter-demo")
	req.Header.Set("Accept", "application/json")
	fmt.Fprintf(out, "\n1. the app sent (through the proxy, HTTPS via CONNECT):\n   GET %s\n", target)
	printHeader(out, req.Header, "Accept", "User-Agent", "X-Alter-Grant")
	fmt.Fprintf(out, "   (no Authorization header: the app does not have the secret)\n")
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp, body, err
}

func printSeen(out io.Writer, got demoSeen) {
	fmt.Fprintf(out, "\n2. the upstream received:\n   %s %s\n", got.method, got.path)
	names := make([]string, 0, len(got.header))
	for k := range got.header {
		names = append(names, k)
	}
	sort.Strings(names)
	masked := got.header.Clone()
	masked.Set("Authorization", mask(got.header.Get("Authorization")))
	printHeader(out, masked, names...)
	fmt.Fprintf(out, "   (Authorization injected by the proxy, X-Alter-Grant removed)\n")
}

// printHeader prints the named headers that are set, one a line.
func printHeader(out io.Writer, h http.Header, names ...string) {
	for _, k := range names {
		for _, v := range h.Values(k) {
			fmt.Fprintf(out, "   %s: %s\n", k, v)
		}
	}
}

// checkDemo says whether the injection worked: the upstream got exactly
// the stored token as a bearer credential and no X-Alter-* header, and
// the app got a 200.
func checkDemo(got demoSeen, resp *http.Response, token string) error {
	if v := got.header.Get("Authorization"); v != "Bearer "+token {
		return fmt.Errorf("the upstream received Authorization %q, not the stored credential", mask(v))
	}
	for k := range got.header {
		if strings.HasPrefix(strings.ToLower(k), "x-alter-") {
			return fmt.Errorf("the upstream received %s: the proxy must remove every X-Alter-* header", k)
		}
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the app got %s, want 200 OK", resp.Status)
	}
	return nil
}

// mask shows a credential's scheme and first four characters only:
// "Bearer demo-5f3a..." becomes "Bearer demo…(masked)".
func mask(v string) string {
	if v == "" {
		return "(none)"
	}
	scheme, cred, ok := strings.Cut(v, " ")
	if !ok {
		scheme, cred = "", v
	} else {
		scheme += " "
	}
	if len(cred) < 8 {
		return scheme + "…(masked)"
	}
	return scheme + cred[:4] + "…(masked)"
}

func oneLine(b []byte) string { return string(bytes.TrimSpace(b)) }

// lastLine is the last line of a file, or "" when it cannot be read.
func lastLine(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return lines[len(lines)-1]
}
