package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/alter-sidecar/alter/certs"
)

// fixture is the soak's world: a built binary, a home with grants, and
// upstream servers on 127.0.0.1 that the proxy reaches through
// upstream.resolve pins.
type fixture struct {
	dir, bin, home string
	secret         string // the bearer token; must never come back
	grant, plain   string // grant ids: https api.soak.test, http plain.soak.test
	tlsAddr        string // TLS upstream (api, tunnel names)
	httpAddr       string // plain upstream (plain, open names)
	upCAPath       string
	servers        []*http.Server
}

func newFixture(bin string) (*fixture, error) {
	dir, err := os.MkdirTemp("", "alter-soak-")
	if err != nil {
		return nil, err
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	f := &fixture{dir: dir, bin: bin, home: filepath.Join(dir, "home"), secret: "soak-secret-" + hex.EncodeToString(b)}
	if f.bin == "" {
		f.bin = filepath.Join(dir, "alter")
		if out, err := exec.Command("go", "build", "-o", f.bin, "github.com/alter-sidecar/alter/cmd/alter").CombinedOutput(); err != nil {
			f.close()
			return nil, fmt.Errorf("go build ./cmd/alter: %v\n%s", err, out)
		}
	}
	if err := f.setup(); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

func (f *fixture) setup() error {
	if _, err := f.alter("", "init"); err != nil {
		return err
	}
	f.upCAPath = filepath.Join(f.dir, "up.pem")
	ca, err := certs.CreateCA(f.upCAPath, filepath.Join(f.dir, "up-key.pem"))
	if err != nil {
		return err
	}
	leaves := certs.NewLeafCache(ca, 16)
	if f.tlsAddr, err = f.serve(&tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return leaves.Get(h.ServerName)
	}}); err != nil {
		return err
	}
	if f.httpAddr, err = f.serve(nil); err != nil {
		return err
	}
	out, err := f.alter(f.secret, "secret", "add", "--type", "bearer", "--allow-host", "api.soak.test", "--name", "soak")
	if err != nil {
		return err
	}
	f.grant = strings.TrimSpace(out)
	out, err = f.alter(f.secret+"-plain", "secret", "add", "--type", "bearer", "--allow-host", "http://plain.soak.test:80", "--name", "soak-plain")
	if err != nil {
		return err
	}
	f.plain = strings.TrimSpace(out)
	return nil
}

// serve starts the upstream handler on 127.0.0.1 (TLS when cfg is set).
func (f *fixture) serve(cfg *tls.Config) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	if cfg != nil {
		cfg.NextProtos = []string{"http/1.1"}
		ln = tls.NewListener(ln, cfg)
	}
	srv := &http.Server{Handler: http.HandlerFunc(upstream), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	f.servers = append(f.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

// upstream answers like an API: a small JSON body, or an SSE stream on
// /sse. It checks the credential arrived, without ever echoing it.
func upstream(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	auth := r.Header.Get("Authorization") != ""
	if r.URL.Path == "/sse" {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 5; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"path\":%q,\"authorized\":%v}\n", r.URL.Path, auth)
}

func (f *fixture) alter(stdin string, args ...string) (string, error) {
	cmd := exec.Command(f.bin, append([]string{"--home", f.home}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("alter %v: %v: %s", args, err, errOut.String())
	}
	return out.String(), nil
}

// pool trusts the proxy's CA (terminated tunnels) and the upstreams' CA
// (the passthrough tunnel, which the proxy does not read).
func (f *fixture) pool() (*x509.CertPool, error) {
	p := x509.NewCertPool()
	for _, path := range []string{filepath.Join(f.home, "ca.pem"), f.upCAPath} {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		p.AppendCertsFromPEM(pem)
	}
	return p, nil
}

func (f *fixture) close() {
	for _, s := range f.servers {
		_ = s.Close()
	}
	os.RemoveAll(f.dir)
}
