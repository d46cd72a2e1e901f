package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// serveTunnel terminates a CONNECT the proxy must read: it answers 200,
// completes TLS with a leaf for the CONNECT authority, and serves the
// requests inside with a net/http server of its own. goproxy's own MITM
// loop reads requests without header size limits or timeouts, so it is not
// used; net/http gives both, plus its strict request parsing (ambiguous
// framing, bad header names and duplicate Host are refused before our code
// runs).
func (p *Proxy) serveTunnel(w http.ResponseWriter, r *http.Request, t *tunnel) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "CONNECT needs HTTP/1.1", http.StatusHTTPVersionNotSupported)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	// Bytes the client sent right behind the CONNECT (a ClientHello in the
	// same packet) are in rw.Reader; the tunnel reads through it.
	client := &bufferedConn{Conn: conn, r: rw.Reader}
	limits := p.opts.Timeouts
	_ = conn.SetDeadline(time.Now().Add(limits.Handshake))
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		conn.Close()
		return
	}
	first, err := rw.Reader.Peek(1)
	if err != nil {
		conn.Close()
		return
	}
	var inner net.Conn = client
	scheme := "http"
	if first[0] == 0x16 { // a TLS handshake record
		cfg, err := p.tlsConfigFor(t)
		if err != nil {
			p.log.Warn("no certificate for tunnel", zap.String("host", t.host), zap.Error(err))
			conn.Close()
			return
		}
		tc := tls.Server(client, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), limits.Handshake)
		err = tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			p.log.Debug("tunnel handshake failed", zap.String("host", t.host), zap.Error(err))
			conn.Close()
			return
		}
		inner, scheme = tc, "https"
	}
	_ = conn.SetDeadline(time.Time{})
	p.opts.Metrics.tunnel("terminated", 1)
	defer p.opts.Metrics.tunnel("terminated", -1)

	// Serve does not close a connection it never accepted (a Shutdown that
	// races this start), so close it here in every case.
	defer inner.Close()
	sess := &tunnelSession{}
	if !p.tunnels.add(sess) {
		return // shutting down: no new tunnels
	}
	defer p.tunnels.remove(sess)
	if p.fastPath {
		lc := newFastConn(inner, func() exchanger { return p }, t, scheme)
		if !sess.setFastConn(lc) {
			return
		}
		handed := lc.serve()
		if handed == nil {
			return
		}
		inner = handed
	}
	srv := p.netHTTPServer(p.tunnelHandler(t, scheme))
	if !sess.setServer(srv) {
		return
	}
	_ = srv.Serve(newOneConnListener(newFramingScanner(inner)))
}

// tunnelHandler handles one request read inside a terminated tunnel.
func (p *Proxy) tunnelHandler(t *tunnel, scheme string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ambiguousFraming(r) {
			w.Header().Set("Connection", "close")
			badRequest("Content-Length together with Transfer-Encoding is ambiguous; send one").write(w, r)
			return
		}
		r.RemoteAddr = t.peer
		if t.actor != "" {
			r = withActor(r, t.actor)
		}
		// The tunnel's binding, whatever the request says: a
		// Proxy-Authorization inside the tunnel is not read.
		r = r.WithContext(withSelector(r.Context(), t.sel))
		bindTunnelURL(r, scheme)
		p.respond(w, p.exchange(r, t))
	})
}

// bindTunnelURL completes the URL of a request read inside a tunnel: the
// host from Host when the target was origin form, and the scheme the
// tunnel carries, whatever an absolute URL says. destination then checks
// both against the CONNECT authority.
func bindTunnelURL(r *http.Request, scheme string) {
	if r.URL.Host == "" {
		r.URL.Host = r.Host
	}
	r.URL.Scheme = scheme
}

// tunnelSession is one terminated tunnel: served by the fast path, then,
// if a request needs it, by a net/http server of its own.
type tunnelSession struct {
	mu       sync.Mutex
	fast     *fastConn
	srv      *http.Server
	stopping bool
}

func (s *tunnelSession) setFastConn(lc *fastConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fast = lc
	return !s.stopping
}

func (s *tunnelSession) setServer(srv *http.Server) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv = srv
	return !s.stopping
}

// Shutdown ends the tunnel gracefully: at once if it is idle, after the
// request in flight otherwise, or when ctx is done.
func (s *tunnelSession) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopping = true
	fast, srv := s.fast, s.srv
	s.mu.Unlock()
	switch {
	case srv != nil:
		return srv.Shutdown(ctx)
	case fast != nil:
		return fast.Shutdown(ctx)
	}
	return nil
}

// tunnelServers tracks open terminated tunnels, which the listener's
// Server cannot see (their connections were hijacked), so a stopping proxy
// can drain them too.
type tunnelServers struct {
	mu       sync.Mutex
	sessions map[*tunnelSession]struct{}
	stopping bool
}

func (t *tunnelServers) add(s *tunnelSession) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopping {
		return false
	}
	if t.sessions == nil {
		t.sessions = map[*tunnelSession]struct{}{}
	}
	t.sessions[s] = struct{}{}
	return true
}

func (t *tunnelServers) remove(s *tunnelSession) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.sessions, s)
}

// Shutdown stops the tunnels gracefully: idle tunnels close at once,
// requests in flight and WebSockets may finish until ctx is done, when the
// WebSockets still open are closed.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.tunnels.mu.Lock()
	p.tunnels.stopping = true
	sessions := make([]*tunnelSession, 0, len(p.tunnels.sessions))
	for s := range p.tunnels.sessions {
		sessions = append(sessions, s)
	}
	p.tunnels.mu.Unlock()
	errs := make(chan error, len(sessions)+1)
	for _, s := range sessions {
		go func() { errs <- s.Shutdown(ctx) }()
	}
	go func() { errs <- p.relays.shutdown(ctx) }()
	var first error
	for range len(sessions) + 1 {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
