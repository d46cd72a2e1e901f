package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

// The fast path. net/http's server costs, per request on a kept-alive
// connection, a background read goroutine started and stopped, deadlines
// set three times, a response writer with its own buffering and chunking
// state, and a request parser that accepts more than a proxy should pass
// on. alter-bench showed that cost next to the proxy's own work, so the
// connections of the proxy listener and of terminated tunnels are read by
// a plain loop here: read a head, and if parseFastHead takes it, run the
// exchange and write the response; if not, hand the connection, with every
// byte it sent, to net/http (the slow path, which answers CONNECT, chunked
// and 100-continue requests, malformed input, missing proxy credentials,
// and everything else), for the rest of its life.

// fastBufSize is the size of a connection's read and write buffers; a head
// that does not fit goes to net/http, which allows up to MaxHeaderBytes.
const fastBufSize = 4 << 10

// hangupWatchDelay: a request still waiting for its answer after this long
// gets a reader watching for the client to hang up, so its upstream
// request is cancelled as net/http would. Quick exchanges never pay for it.
const hangupWatchDelay = 100 * time.Millisecond

// aLongTimeAgo is a deadline in the past: it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// exchanger is what the fast path needs from the proxy, and all it
// reaches of it: *Proxy is the one implementation, asked again for each
// request because a config reload swaps proxies.
type exchanger interface {
	// credentials reads a request's Proxy-Authorization on the proxy
	// listener: the actor ("" when the proxy asks for none) and what the
	// credentials select (credential.go); ok false when the proxy asks for
	// client authentication and the request has none that is valid.
	credentials(h http.Header) (actor string, sel *selector, ok bool)
	exchange(req *http.Request, t *tunnel) *http.Response
	timeouts() Timeouts
	logger() *zap.Logger
	observeFastPath(req *http.Request) // a test hook (Options.onFastPath)
}

func (p *Proxy) timeouts() Timeouts  { return p.opts.Timeouts }
func (p *Proxy) logger() *zap.Logger { return p.log }

func (p *Proxy) observeFastPath(req *http.Request) {
	if f := p.opts.onFastPath; f != nil {
		f(req)
	}
}

// fastConn is one client connection served by the fast path.
type fastConn struct {
	conn     net.Conn
	in       fastReader // conn, behind a byte a watcher may have read
	br       *bufio.Reader
	bw       *bufio.Writer
	current  func() exchanger // the proxy for the next request (config reloads swap it)
	tunnel   *tunnel          // nil on the proxy listener
	scheme   string           // inside a tunnel: what it carries
	remote   string
	timeouts Timeouts
	base     context.Context

	mu      sync.Mutex
	idle    bool // waiting for a request: Shutdown closes it at once
	closing bool
	done    chan struct{} // closed when serve returns

	watch hangupWatch
}

func newFastConn(c net.Conn, current func() exchanger, t *tunnel, scheme string) *fastConn {
	lc := &fastConn{conn: c, current: current, tunnel: t, scheme: scheme, done: make(chan struct{})}
	lc.in.conn = c
	lc.br = bufio.NewReaderSize(&lc.in, fastBufSize)
	lc.bw = bufio.NewWriterSize(c, fastBufSize)
	lc.remote = c.RemoteAddr().String()
	lc.base = context.Background()
	if t != nil {
		lc.remote = t.peer
		if t.actor != "" {
			lc.base = context.WithValue(lc.base, actorKey{}, t.actor)
		}
		lc.base = withSelector(lc.base, t.sel)
	}
	lc.timeouts = current().timeouts()
	lc.watch.lc = lc
	return lc
}

// serve reads and answers requests until the connection ends (nil) or a
// request is one for net/http: then it returns the connection, positioned
// at that request's first byte, for net/http to serve.
func (lc *fastConn) serve() (handoff net.Conn) {
	defer close(lc.done)
	for {
		if !lc.setIdle(true) {
			return nil
		}
		_ = lc.conn.SetReadDeadline(time.Now().Add(lc.timeouts.Idle))
		_, err := lc.br.Peek(1)
		if !lc.setIdle(false) || err != nil {
			return nil
		}
		head, whole, err := lc.readHead()
		if err != nil {
			return nil
		}
		p := lc.current()
		var req *http.Request
		var cancel context.CancelFunc
		if whole {
			req, cancel = lc.request(p, head)
		}
		if req == nil {
			_ = lc.conn.SetReadDeadline(time.Time{}) // net/http sets its own
			return &bufferedConn{Conn: lc.conn, r: lc.br}
		}
		_, _ = lc.br.Discard(head.size)
		if !lc.answer(p, req, cancel) {
			return nil
		}
	}
}

// readHead waits until the buffer holds a whole head, within the header
// timeout, and parses it. whole is false when the head does not fit the
// buffer or is not one the fast path takes.
func (lc *fastConn) readHead() (h fastHead, whole bool, err error) {
	b, _ := lc.br.Peek(lc.br.Buffered())
	n := headEnd(b)
	if n < 0 {
		// The head came in pieces: the rest must come within the header
		// timeout, counted from now as net/http counts from its first read.
		_ = lc.conn.SetReadDeadline(time.Now().Add(lc.timeouts.Header))
		for n < 0 {
			if len(b) >= lc.br.Size() {
				return h, false, nil
			}
			if _, err := lc.br.Peek(len(b) + 1); err != nil {
				return h, false, err
			}
			b, _ = lc.br.Peek(lc.br.Buffered())
			n = headEnd(b)
		}
	}
	h, ok := parseWholeHead(b[:n])
	return h, ok, nil
}

// request builds the request for a head, or returns nil when net/http
// should have it after all: a target of the other form, or a client the
// proxy must ask to authenticate. cancel ends the request's context.
func (lc *fastConn) request(p exchanger, h fastHead) (*http.Request, context.CancelFunc) {
	// On the listener, absolute form only (origin form gets net/http's
	// "this is a proxy" answer); inside a tunnel, origin form only.
	if (lc.tunnel == nil) != (h.target[0] != '/') {
		return nil, nil
	}
	u := h.url
	ctx := lc.base
	if lc.tunnel == nil {
		name, sel, ok := p.credentials(h.header)
		if !ok {
			return nil, nil // net/http's path answers 407
		}
		if name != "" {
			ctx = context.WithValue(ctx, actorKey{}, name)
		}
		ctx = withSelector(ctx, sel)
	}
	// As net/http: the request's context ends with its answer.
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, h.method, "", nil) // the URL is set below, parsed once
	if err != nil {
		cancel()
		return nil, nil
	}
	req.URL = u
	req.Header = h.header
	req.Host = u.Host
	if req.Host == "" {
		req.Host = h.host
	}
	req.RequestURI = h.target
	req.RemoteAddr = lc.remote
	req.Close = h.close
	req.ContentLength = h.contentLength
	req.Body = http.NoBody
	if h.contentLength > 0 {
		req.Body = &fastBody{br: lc.br, remaining: h.contentLength}
	}
	if lc.tunnel != nil {
		bindTunnelURL(req, lc.scheme)
	}
	return req, cancel
}

// answer runs the exchange for req and writes its response. It reports
// whether the connection may carry another request.
func (lc *fastConn) answer(p exchanger, req *http.Request, cancel context.CancelFunc) bool {
	defer cancel()
	body, _ := req.Body.(*fastBody)
	if body != nil {
		_ = lc.conn.SetReadDeadline(time.Time{}) // bodies may take their time
	}
	p.observeFastPath(req)
	// The watch runs until the answer is written: a client that hangs up
	// during a long stream (SSE, a long poll) ends the upstream request as
	// soon as during the wait for its head.
	lc.watch.arm(cancel, body)
	resp := p.exchange(req, lc.tunnel)
	// Not resp.Close: an upstream's Connection: close is about the proxy's
	// connection to it, not the client's.
	keep := !req.Close && !lc.isClosing()
	if body != nil && !body.settle() {
		keep = false // the rest of the body is still on the wire
	}
	written := writeFastResponse(lc.bw, req, resp, keep, p.logger())
	gone := lc.watch.disarm()
	if written && !gone && body != nil && body.leftOnWire() {
		lc.linger()
	}
	return written && keep && !gone
}

// lingerMax bounds how much of a refused body is read and dropped before
// the connection closes (net/http's server reads up to 256 KiB too), and
// lingerTime how long that may take.
const (
	lingerMax  = 256 << 10
	lingerTime = 500 * time.Millisecond
)

// linger is the end of a connection whose request body is still on the
// wire (a 413 answered from Content-Length alone): a close with unread data
// sends a reset, which can make the client's kernel drop the answer it has
// not read yet. So it half-closes, then reads and drops what the client is
// still sending, until the client closes, lingerMax bytes or lingerTime.
func (lc *fastConn) linger() {
	_ = closeWrite(lc.conn)
	_ = lc.conn.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, lc.br, lingerMax)
}

func (lc *fastConn) setIdle(idle bool) bool {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.idle = idle
	return !lc.closing
}

func (lc *fastConn) isClosing() bool {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.closing
}

// shutdown asks the connection to end: at once if it is waiting for a
// request, after the current answer otherwise.
func (lc *fastConn) shutdown() {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.closing = true
	if lc.idle {
		_ = lc.conn.Close()
	}
}

// Shutdown ends the connection gracefully, waiting until ctx is done.
func (lc *fastConn) Shutdown(ctx context.Context) error {
	lc.shutdown()
	select {
	case <-lc.done:
		return nil
	case <-ctx.Done():
		_ = lc.conn.Close()
		return ctx.Err()
	}
}

// fastReader reads the connection, after a byte a watcher read early.
type fastReader struct {
	conn    net.Conn
	pending [1]byte
	has     bool
}

func (r *fastReader) Read(p []byte) (int, error) {
	if r.has && len(p) > 0 {
		p[0] = r.pending[0]
		r.has = false
		return 1, nil
	}
	return r.conn.Read(p)
}

// fastBody is a request body of known length read from the connection. It
// may be read by another goroutine (the upstream client writes bodies on
// one of its own), hence the lock; once settled, it never touches the
// connection again, which then belongs to the next request.
type fastBody struct {
	mu        sync.Mutex
	br        *bufio.Reader
	remaining int64
	closed    bool
}

func (b *fastBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.remaining == 0 {
		return 0, io.EOF
	}
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	if errors.Is(err, io.EOF) && b.remaining > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Close is a no-op: whoever reads the body closes it when done, but the
// connection decides what happens to an unread rest (settle).
func (b *fastBody) Close() error { return nil }

// settle ends the body's hold on the connection and reports whether the
// next request can be read: the body was read whole, or its rest is
// already buffered and is skipped. A body being read right now (a slow
// upload the upstream answered early) cannot be settled: the connection
// must close.
func (b *fastBody) settle() bool {
	if !b.mu.TryLock() {
		return false
	}
	defer b.mu.Unlock()
	if b.remaining > 0 && b.remaining <= int64(b.br.Buffered()) {
		_, _ = b.br.Discard(int(b.remaining))
		b.remaining = 0
	}
	b.closed = true
	return b.remaining == 0
}

// leftOnWire reports whether a settled body still had bytes unread: no
// goroutine reads it any more, and the connection holds the rest.
func (b *fastBody) leftOnWire() bool {
	if !b.mu.TryLock() {
		return false // being read: the connection is not ours to read
	}
	defer b.mu.Unlock()
	return b.closed && b.remaining > 0
}

// finished reports whether the body has been read whole. It does not wait
// for a read in progress.
func (b *fastBody) finished() bool {
	if !b.mu.TryLock() {
		return false
	}
	defer b.mu.Unlock()
	return b.remaining == 0
}

// hangupWatch notices a client that hangs up while its request waits for the
// upstream, and cancels the request. It reads one byte, as net/http's
// background read does: either the connection ends, or the byte (the start
// of a pipelined request) is kept for the next read.
type hangupWatch struct {
	lc      *fastConn
	timer   *time.Timer // one per connection, reset for each request
	mu      sync.Mutex
	armed   bool // a request is waiting for its answer
	running bool // a read is in progress
	gone    bool // the client hung up
	done    chan struct{}
	cancel  context.CancelFunc
	body    *fastBody // the request's body, which must be read first
}

// arm starts the watch's clock for a request.
func (w *hangupWatch) arm(cancel context.CancelFunc, body *fastBody) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed, w.gone, w.cancel, w.body = true, false, cancel, body
	if w.timer == nil {
		w.timer = time.AfterFunc(hangupWatchDelay, w.fire)
		return
	}
	w.timer.Reset(hangupWatchDelay)
}

// fire runs on the timer's goroutine: it reads, unless the request has
// been answered or its body is still being read.
func (w *hangupWatch) fire() {
	w.mu.Lock()
	if !w.armed || w.running {
		w.mu.Unlock()
		return
	}
	if w.body != nil && !w.body.finished() {
		w.timer.Reset(hangupWatchDelay)
		w.mu.Unlock()
		return
	}
	if w.lc.in.has {
		// A byte of the next request is already held (an earlier watch
		// read it): reading on would need a second slot. As net/http, no
		// watch while a byte is pending; the client is evidently there.
		w.mu.Unlock()
		return
	}
	// Under the lock, so disarm's deadline in the past comes after this.
	_ = w.lc.conn.SetReadDeadline(time.Time{})
	w.running = true
	w.done = make(chan struct{})
	done, cancel := w.done, w.cancel
	w.mu.Unlock()

	var b [1]byte
	n, err := w.lc.conn.Read(b[:])
	w.mu.Lock()
	if n == 1 {
		w.lc.in.pending[0], w.lc.in.has = b[0], true
	} else if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		w.gone = true
		cancel()
	}
	w.running = false
	w.mu.Unlock()
	close(done)
}

// disarm stops the watch once the answer is in, and reports whether the
// client hung up.
func (w *hangupWatch) disarm() (gone bool) {
	w.mu.Lock()
	w.armed = false
	if w.timer != nil {
		w.timer.Stop()
	}
	running, done := w.running, w.done
	if running {
		_ = w.lc.conn.SetReadDeadline(aLongTimeAgo) // wakes the read
	}
	w.mu.Unlock()
	if running {
		<-done
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cancel, w.body = nil, nil
	return w.gone
}
