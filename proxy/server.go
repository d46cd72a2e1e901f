package proxy

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// MaxHeaderBytes bounds a request's header block on the proxy listener.
const MaxHeaderBytes = 64 << 10

// Source gives the proxy that serves the next request. A *Proxy is its own
// source; the sidecar swaps proxies when its config is reloaded.
type Source interface{ Current() *Proxy }

// Current returns p.
func (p *Proxy) Current() *Proxy { return p }

// Server serves the proxy listener: each connection is read by the fast
// path (fastpath.go) until a request needs net/http, which then serves that
// connection for the rest of its life. Only the header read and idle
// keep-alive have deadlines: bodies and responses may stream for as long
// as the upstream keeps them open (SSE, long polls, tunnels).
type Server struct {
	fast    bool // Options.DisableFastPath unset
	src     Source
	std     *http.Server
	handoff *handoffListener

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	fastConns map[*fastConn]struct{}
	fastWG    sync.WaitGroup
	closing   bool
	stdOnce   sync.Once
}

// NewServer returns the server for src's proxies. Its timeouts are those
// of the proxy current now.
func NewServer(src Source) *Server {
	p := src.Current()
	return &Server{
		fast: !p.opts.DisableFastPath,
		src:  src,
		std: p.netHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			src.Current().ServeHTTP(w, r)
		})),
		handoff:   newHandoffListener(),
		listeners: map[net.Listener]struct{}{},
		fastConns: map[*fastConn]struct{}{},
	}
}

// Serve accepts connections on l until the server is shut down, when it
// returns http.ErrServerClosed.
func (s *Server) Serve(l net.Listener) error {
	if !s.track(l) {
		_ = l.Close()
		return http.ErrServerClosed
	}
	defer s.untrack(l)
	if !s.fast {
		err := s.std.Serve(ScanListener(l))
		if s.isClosing() {
			err = http.ErrServerClosed
		}
		return err
	}
	s.stdOnce.Do(func() { go func() { _ = s.std.Serve(s.handoff) }() })
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				// As net/http: out of descriptors is not a reason to stop.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		go s.serveConn(c)
	}
}

// serveConn runs the fast path on c and hands c to net/http if it asks.
// current is the proxy the next request on a connection goes to.
func (s *Server) current() exchanger { return s.src.Current() }

func (s *Server) serveConn(c net.Conn) {
	lc := newFastConn(c, s.current, nil, "")
	if !s.addFastConn(lc) {
		_ = c.Close()
		return
	}
	handed := lc.serve()
	s.removeFastConn(lc)
	if handed == nil {
		_ = c.Close()
		return
	}
	if !s.handoff.push(newFramingScanner(handed)) {
		_ = c.Close()
	}
}

// Shutdown stops accepting, closes idle connections, and waits until the
// requests in flight have been answered or ctx is done. Connections that
// became tunnels are the proxy's (Proxy.Shutdown).
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopAccepting()
	s.mu.Lock()
	for lc := range s.fastConns {
		lc.shutdown()
	}
	s.mu.Unlock()
	err := ignoreClosed(s.std.Shutdown(ctx))
	fastDone := make(chan struct{})
	go func() { s.fastWG.Wait(); close(fastDone) }()
	select {
	case <-fastDone:
	case <-ctx.Done():
		s.closeFastConns()
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.stopAccepting()
	s.closeFastConns()
	return ignoreClosed(s.std.Close())
}

// ignoreClosed drops the error net/http's server reports when it closes a
// listener stopAccepting closed already (without the fast path it serves
// the listener itself, and may not have noticed yet).
func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (s *Server) stopAccepting() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for l := range s.listeners {
		_ = l.Close()
	}
	_ = s.handoff.Close()
}

func (s *Server) closeFastConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for lc := range s.fastConns {
		_ = lc.conn.Close()
	}
}

func (s *Server) track(l net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.listeners[l] = struct{}{}
	return true
}

func (s *Server) untrack(l net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listeners, l)
}

func (s *Server) addFastConn(lc *fastConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.fastConns[lc] = struct{}{}
	s.fastWG.Add(1)
	return true
}

func (s *Server) removeFastConn(lc *fastConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.fastConns, lc)
	s.fastWG.Done()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// netHTTPServer is the net/http server for the connections the fast path
// hands over, on the listener and in tunnels alike: the proxy's header and
// idle timeouts, the header size bound, net/http's errors in the debug
// log, and the framing scanner in each request's context.
func (p *Proxy) netHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: p.opts.Timeouts.Header,
		IdleTimeout:       p.opts.Timeouts.Idle,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          log.New(zapWriter{p.log}, "", 0),
		ConnContext:       connContext,
	}
}

// handoffListener is how connections reach net/http's server: Accept
// returns the ones the fast path handed over.
type handoffListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newHandoffListener() *handoffListener {
	return &handoffListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

// push hands c to net/http; false if the server is shutting down.
func (l *handoffListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return handoffAddr{} }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "handoff" }
func (handoffAddr) String() string  { return "handoff" }
