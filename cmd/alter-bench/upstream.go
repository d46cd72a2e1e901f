//go:build !windows

package main

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/alter-sidecar/alter/certs"
)

// upstreamBody is a small, fixed answer: the benchmark measures the proxy,
// not the upstream's encoding work.
var upstreamBody = []byte(`{"ok":true,"items":[{"id":1,"name":"one"},{"id":2,"name":"two"}]}` + "\n")

// upstreams are the plain-HTTP and HTTPS servers both legs talk to. They
// speak HTTP/1.1 only, like the proxy's client side, so neither leg gets
// HTTP/2 multiplexing the other lacks.
type upstreams struct {
	plain, tls         *http.Server
	plainAddr, tlsAddr string // 127.0.0.1:port
}

func startUpstreams(ca *certs.CA) (*upstreams, error) {
	leaves := certs.NewLeafCache(ca, 8)
	plainLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		plainLn.Close()
		return nil, err
	}
	newServer := func() *http.Server {
		return &http.Server{
			Handler:           http.HandlerFunc(serveUpstream),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){}, // no h2
			ErrorLog:          log.New(io.Discard, "", 0),                               // handshakes cut off at run end are expected
		}
	}
	u := &upstreams{plain: newServer(), tls: newServer(), plainAddr: plainLn.Addr().String(), tlsAddr: tlsLn.Addr().String()}
	u.tls.TLSConfig = &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			return leaves.Get(hello.ServerName)
		},
	}
	go func() { _ = u.plain.Serve(plainLn) }()
	go func() { _ = u.tls.ServeTLS(tlsLn, "", "") }()
	return u, nil
}

// serveUpstream drains the body and answers. It refuses requests that do
// not carry the expected credential, and any request still carrying a grant
// id, so a proxy that forwards without injecting (or leaks the header)
// shows up as errors rather than as fast numbers. It does not verify SigV4
// signatures: the proxy's own tests do that against an independent signer.
func serveUpstream(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	auth := r.Header.Get("Authorization")
	switch {
	case r.Header.Get("X-Alter-Grant") != "":
		http.Error(w, "grant id reached the upstream", http.StatusInternalServerError)
		return
	case host == hostAPI && auth != "Bearer "+benchToken,
		host == hostAWS && !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+benchAWSKeyID+"/"):
		http.Error(w, "missing or wrong credential", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(upstreamBody)))
	_, _ = w.Write(upstreamBody)
}

// resolve maps the made-up names to the upstreams, for the proxy's
// upstream.resolve and the direct clients' dialer alike.
func (u *upstreams) resolve() map[string]string {
	return map[string]string{
		net.JoinHostPort(hostAPI, plainPort): u.plainAddr,
		net.JoinHostPort(hostAWS, plainPort): u.plainAddr,
		net.JoinHostPort(hostAPI, "443"):     u.tlsAddr,
		net.JoinHostPort(hostTunnel, "443"):  u.tlsAddr,
	}
}

func (u *upstreams) close() error {
	return errors.Join(u.plain.Close(), u.tls.Close())
}
