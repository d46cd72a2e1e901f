package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
)

// h1Client is the HTTP/1.1 round tripper for grant-bearing requests (the
// default; UpstreamOptions.HTTP2 picks net/http.Transport instead).
// net/http.Transport runs a reader and a
// writer goroutine per connection and hands every request and response
// between them and the caller over channels; on a proxy that does little
// else, those handoffs cost about as much as the proxy's own work. Here the
// caller's goroutine writes the request and reads the response head itself,
// and the response body is read from the connection by whoever reads the
// body. What stays the same as the grant transport: the dialer (SSRF guard,
// upstream.resolve pins, Self check, dial timeout), verified TLS against the
// same roots, the response header timeout, and the request bytes
// (http.Request.Write is what Transport's write loop calls too).
//
// A request body is written by a goroutine of its own while the caller
// reads the answer, so an upstream that answers early is heard.
//
// What it does not do: HTTP/2, waiting for 100 Continue (the body is sent
// at once, which RFC 9110 allows), and noticing that the upstream closed
// an idle connection until it is reused (checked then with a non-blocking
// peek where the platform allows, and a replayable request is retried once
// on a new connection).
type h1Client struct {
	dial           func(ctx context.Context, network, addr string) (net.Conn, error)
	tls            *tls.Config // ServerName is set per connection
	dialTimeout    time.Duration
	headerTimeout  time.Duration
	idleTimeout    time.Duration
	maxIdlePerHost int
	maxIdle        int // over all hosts
	maxHeaderBytes int64

	mu    sync.Mutex
	idle  map[h1Key][]*h1Conn // per key, oldest first
	nidle int                 // connections in idle
	sweep *time.Timer         // pending idle sweep, nil if none
}

// h1Key identifies the connections that may carry a request.
type h1Key struct {
	https bool
	addr  string // host:port as dialled
}

const (
	h1MaxIdlePerHost = 256  // as the grant Transport's MaxIdleConnsPerHost
	h1MaxIdle        = 1024 // as its MaxIdleConns
	h1IdleTimeout    = 90 * time.Second
	h1MaxHeaderBytes = 10 << 20 // net/http.Transport's default
	h1Max1xx         = 5        // as net/http.Transport
	// h1FreshIdle: a pooled connection idle for less than this is reused
	// without the liveness peek (see conn).
	h1FreshIdle = 5 * time.Millisecond
)

func newH1Client(o UpstreamOptions, d *dialer) *h1Client {
	return &h1Client{
		dial: d.DialContext,
		tls: &tls.Config{
			RootCAs:            o.RootCAs,
			MinVersion:         tls.VersionTLS12,
			NextProtos:         []string{"http/1.1"},
			ClientSessionCache: tls.NewLRUClientSessionCache(1024),
		},
		dialTimeout:    o.DialTimeout,
		headerTimeout:  o.ResponseHeaderTimeout,
		idleTimeout:    h1IdleTimeout,
		maxIdlePerHost: h1MaxIdlePerHost,
		maxIdle:        h1MaxIdle,
		maxHeaderBytes: h1MaxHeaderBytes,
		idle:           map[h1Key][]*h1Conn{},
	}
}

var (
	errH1Switching  = errors.New("upstream answered 101 Switching Protocols to a request that asked for no upgrade")
	errH1Too1xx     = errors.New("upstream sent too many 1xx informational responses")
	errH1ClosedBody = errors.New("http: read on closed response body")
)

// RoundTrip implements http.RoundTripper. Like Transport, it closes the
// request body, also on errors.
func (c *h1Client) RoundTrip(req *http.Request) (*http.Response, error) {
	key, err := c.check(req)
	if err != nil {
		closeReqBody(req)
		return nil, err
	}
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			closeReqBody(req)
			return nil, err
		}
		pc, err := c.conn(ctx, key, attempt > 0)
		if err != nil {
			closeReqBody(req)
			return nil, err
		}
		resp, err := pc.roundTrip(req)
		if err == nil {
			return resp, nil
		}
		if attempt == 0 && pc.reused && ctx.Err() == nil && pc.retryable(req, err) {
			if next, rerr := rewindBody(req); rerr == nil {
				req = next
				continue
			}
		}
		closeReqBody(req)
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr // the connection was closed because of it
		}
		return nil, err
	}
}

// check refuses what Transport refuses before it writes a byte: a missing
// host, another scheme, and header names or values that are not valid
// HTTP (req.Write alone would only fold newlines in values).
func (c *h1Client) check(req *http.Request) (h1Key, error) {
	if req.URL == nil || req.URL.Host == "" {
		return h1Key{}, errors.New("http: no Host in request URL")
	}
	var key h1Key
	switch req.URL.Scheme {
	case "http":
	case "https":
		key.https = true
	default:
		return h1Key{}, fmt.Errorf("unsupported protocol scheme %q", req.URL.Scheme)
	}
	if req.Method != "" && !validMethod(req.Method) {
		return h1Key{}, fmt.Errorf("net/http: invalid method %q", req.Method)
	}
	for k, vs := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return h1Key{}, fmt.Errorf("net/http: invalid header field name %q", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return h1Key{}, fmt.Errorf("net/http: invalid header field value for %q", k)
			}
		}
	}
	host, port := req.URL.Hostname(), req.URL.Port()
	if port == "" {
		port = "80"
		if key.https {
			port = "443"
		}
	}
	key.addr = net.JoinHostPort(host, port)
	return key, nil
}

func validMethod(m string) bool {
	return len(m) > 0 && strings.IndexFunc(m, func(r rune) bool { return !httpguts.IsTokenRune(r) }) < 0
}

// conn returns an idle connection for key, or dials one (always when fresh).
func (c *h1Client) conn(ctx context.Context, key h1Key, fresh bool) (*h1Conn, error) {
	if !fresh {
		for {
			pc := c.takeIdle(key)
			if pc == nil {
				break
			}
			// A connection pooled moments ago is taken as it is: under load
			// that is every reuse, and the peek cost a syscall per request
			// (alter-bench, strace -c). An upstream that closes an idle
			// connection does so after seconds; a close that races a quick
			// reuse is the retry's to handle, as with Transport.
			if time.Since(pc.idleAt) < h1FreshIdle || pc.alive() {
				pc.reused = true
				return pc, nil
			}
			pc.close()
		}
	}
	return c.dialConn(ctx, key)
}

func (c *h1Client) dialConn(ctx context.Context, key h1Key) (*h1Conn, error) {
	raw, err := c.dial(ctx, "tcp", key.addr)
	if err != nil {
		return nil, err
	}
	pc := &h1Conn{client: c, key: key, raw: raw, conn: raw}
	if key.https {
		cfg := c.tls.Clone()
		cfg.ServerName, _, _ = net.SplitHostPort(key.addr)
		tc := tls.Client(raw, cfg)
		hctx := ctx
		if c.dialTimeout > 0 {
			var cancel context.CancelFunc
			hctx, cancel = context.WithTimeout(ctx, c.dialTimeout)
			defer cancel()
		}
		if err := tc.HandshakeContext(hctx); err != nil {
			raw.Close()
			return nil, err
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != "" && p != "http/1.1" {
			raw.Close()
			return nil, fmt.Errorf("upstream negotiated %q, want http/1.1", p)
		}
		pc.conn = tc
		st := tc.ConnectionState()
		pc.tlsState = &st
	}
	pc.br = bufio.NewReader(pc)
	pc.bw = bufio.NewWriter(countingWriter{pc})
	return pc, nil
}

// takeIdle pops the most recently used idle connection for key that has
// not outlived the idle timeout.
func (c *h1Client) takeIdle(key h1Key) *h1Conn {
	var expired []*h1Conn
	defer func() {
		for _, pc := range expired {
			pc.close()
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.idle[key]
	for len(list) > 0 {
		pc := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		c.idle[key] = list
		c.nidle--
		if time.Since(pc.idleAt) > c.idleTimeout {
			expired = append(expired, pc)
			continue
		}
		return pc
	}
	delete(c.idle, key)
	return nil
}

// putIdle pools pc, or closes it when its host's idle list is full.
func (c *h1Client) putIdle(pc *h1Conn) {
	pc.idleAt = time.Now()
	c.mu.Lock()
	list := c.idle[pc.key]
	if len(list) >= c.maxIdlePerHost || c.nidle >= c.maxIdle {
		c.mu.Unlock()
		pc.close()
		return
	}
	c.idle[pc.key] = append(list, pc)
	c.nidle++
	if c.sweep == nil {
		c.sweep = time.AfterFunc(c.idleTimeout, c.sweepIdle)
	}
	c.mu.Unlock()
}

// sweepIdle closes connections idle for longer than the idle timeout, so
// they do not wait for the next request to their host to be noticed.
func (c *h1Client) sweepIdle() {
	var expired []*h1Conn
	c.mu.Lock()
	c.sweep = nil
	now := time.Now()
	for key, list := range c.idle {
		n := 0
		for n < len(list) && now.Sub(list[n].idleAt) > c.idleTimeout {
			n++
		}
		expired = append(expired, list[:n]...)
		c.nidle -= n
		if n == len(list) {
			delete(c.idle, key)
			continue
		}
		c.idle[key] = append(list[:0], list[n:]...)
	}
	if len(c.idle) > 0 {
		c.sweep = time.AfterFunc(c.idleTimeout/2, c.sweepIdle)
	}
	c.mu.Unlock()
	for _, pc := range expired {
		pc.close()
	}
}

// CloseIdleConnections closes every pooled connection.
func (c *h1Client) CloseIdleConnections() {
	c.mu.Lock()
	idle := c.idle
	c.idle = map[h1Key][]*h1Conn{}
	c.nidle = 0
	if c.sweep != nil {
		c.sweep.Stop()
		c.sweep = nil
	}
	c.mu.Unlock()
	for _, list := range idle {
		for _, pc := range list {
			pc.close()
		}
	}
}

// h1Conn is one upstream connection. It is owned by one request at a time:
// the round trip, then the response body, then the pool.
type h1Conn struct {
	client   *h1Client
	key      h1Key
	raw      net.Conn // the TCP connection
	conn     net.Conn // raw, or TLS over raw
	tlsState *tls.ConnectionState
	br       *bufio.Reader // reads through h1Conn.Read
	bw       *bufio.Writer // writes through countingWriter
	idleAt   time.Time
	reused   bool
	// Per round trip:
	readLimit int64        // bounds the response head, as Transport's MaxResponseHeaderBytes
	nread     int64        // bytes read from the connection
	nwrite    atomic.Int64 // bytes written to the connection (by the body's goroutine too)
	write     *h1Write     // the body being written, nil if the request had none
	// The response header deadline, set by whichever goroutine wrote the
	// request and cleared once the head is read.
	deadlineMu  sync.Mutex
	headRead    bool
	deadlineSet bool
}

// Read feeds br from the connection, within readLimit.
func (pc *h1Conn) Read(p []byte) (int, error) {
	if pc.readLimit <= 0 {
		return 0, fmt.Errorf("upstream response head larger than %d bytes", pc.client.maxHeaderBytes)
	}
	if int64(len(p)) > pc.readLimit {
		p = p[:pc.readLimit]
	}
	n, err := pc.conn.Read(p)
	pc.readLimit -= int64(n)
	pc.nread += int64(n)
	return n, err
}

type countingWriter struct{ pc *h1Conn }

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.pc.conn.Write(p)
	w.pc.nwrite.Add(int64(n))
	return n, err
}

// ReadFrom lets bufio.Writer hand a large request body to the connection
// in big writes (TCP's own ReadFrom, or io.Copy's 32 KiB), not 4 KiB ones,
// as Transport's persistConnWriter does.
func (w countingWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := io.Copy(w.pc.conn, r)
	w.pc.nwrite.Add(n)
	return n, err
}

func (pc *h1Conn) close() { _ = pc.conn.Close() }

// roundTrip writes req and reads the response head. On error the
// connection is closed.
//
// A request without a body is written by the caller's goroutine. A body is
// written by a goroutine of its own while this one waits for the answer,
// as Transport does: an upstream may answer before it has read the whole
// body (413, 401, a redirect), and then stop reading; writing inline would
// block on a full socket and lose that answer.
func (pc *h1Conn) roundTrip(req *http.Request) (*http.Response, error) {
	pc.nread, pc.readLimit = 0, pc.client.maxHeaderBytes
	pc.nwrite.Store(0)
	pc.write = nil // a pooled connection's last write has ended (see finish)
	pc.headRead, pc.deadlineSet = false, false
	// A cancelled request closes the connection, which ends a blocked
	// write or read (the caller reports ctx.Err()).
	stop := context.AfterFunc(req.Context(), pc.close)
	fail := func(err error) (*http.Response, error) {
		stop()
		pc.close()
		return nil, err
	}
	if req.Body == nil || req.Body == http.NoBody {
		if err := pc.writeRequest(req); err != nil {
			return fail(err)
		}
		pc.startHeaderTimer()
	} else {
		pc.write = pc.writeAsync(req)
	}
	var resp *http.Response
	for n1xx := 0; ; n1xx++ {
		var err error
		resp, err = http.ReadResponse(pc.br, req)
		if err != nil {
			if w := pc.write; w != nil && (connGone(err) || errors.Is(err, net.ErrClosed)) {
				// The upstream hung up: if writing failed first, that is
				// the better explanation (and what Transport reports).
				if werr := w.errIfDone(); werr != nil {
					err = werr
				}
			}
			return fail(err)
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return fail(errH1Switching)
		}
		if resp.StatusCode >= 200 || resp.StatusCode < 100 {
			break
		}
		if n1xx >= h1Max1xx {
			return fail(errH1Too1xx)
		}
	}
	pc.stopHeaderTimer()
	pc.readLimit = math.MaxInt64
	resp.TLS = pc.tlsState
	reusable := !resp.Close && !req.Close && !hasCloseToken(req.Header) &&
		(resp.ContentLength >= 0 || isChunked(resp.TransferEncoding) || resp.Body == http.NoBody)
	body := &h1Body{pc: pc, body: resp.Body, stop: stop, reusable: reusable}
	if resp.Body == http.NoBody {
		body.finish(true) // nothing left to read: the connection is free now
		return resp, nil
	}
	resp.Body = body
	return resp, nil
}

// writeRequest writes req's head and body and flushes them.
func (pc *h1Conn) writeRequest(req *http.Request) error {
	if err := req.Write(pc.bw); err != nil {
		return err
	}
	return pc.bw.Flush()
}

// h1Write is a request body being written by its own goroutine.
type h1Write struct {
	done chan struct{} // closed when the write has ended
	err  error         // the write's outcome; read only after done
}

// errIfDone returns the write's error if it has ended, and nil otherwise.
func (w *h1Write) errIfDone() error {
	select {
	case <-w.done:
		return w.err
	default:
		return nil
	}
}

// wait reports whether the write ended, successfully, within d.
func (w *h1Write) wait(d time.Duration) bool {
	select {
	case <-w.done:
		return w.err == nil
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.done:
		return w.err == nil
	case <-t.C:
		return false
	}
}

// writeAsync writes req on a goroutine of its own. A failed write closes
// the connection, so the upstream never takes a truncated body for a
// whole one, and the response read ends too.
func (pc *h1Conn) writeAsync(req *http.Request) *h1Write {
	w := &h1Write{done: make(chan struct{})}
	go func() {
		body := &bodyReader{ReadCloser: req.Body}
		out := *req // the caller's request is not modified
		out.Body = body
		if w.err = pc.writeRequest(&out); w.err != nil {
			if body.err != nil {
				// Request.Write hides a body's read error in a wrapper of
				// its own; Transport reports the error itself, and so do we
				// (a client's malformed body is a 400, not a 502).
				w.err = body.err
			}
			// done first: the reader, woken by the close, finds the cause.
			close(w.done)
			pc.close()
			return
		}
		pc.startHeaderTimer()
		close(w.done)
	}()
	return w
}

// bodyReader remembers the first error, other than io.EOF, from reading a
// request body.
type bodyReader struct {
	io.ReadCloser
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// startHeaderTimer starts the response header timeout once the request has
// been written, as Transport's ResponseHeaderTimeout does. With a body
// written on its own goroutine the response may already be in, and the
// deadline must then not be set on the body's reads.
func (pc *h1Conn) startHeaderTimer() {
	t := pc.client.headerTimeout
	if t <= 0 {
		return
	}
	pc.deadlineMu.Lock()
	if !pc.headRead {
		_ = pc.conn.SetReadDeadline(time.Now().Add(t))
		pc.deadlineSet = true
	}
	pc.deadlineMu.Unlock()
}

// stopHeaderTimer marks the response head read and clears its deadline.
func (pc *h1Conn) stopHeaderTimer() {
	pc.deadlineMu.Lock()
	pc.headRead = true
	if pc.deadlineSet {
		_ = pc.conn.SetReadDeadline(time.Time{})
		pc.deadlineSet = false
	}
	pc.deadlineMu.Unlock()
}

func hasCloseToken(h http.Header) bool {
	for _, v := range h["Connection"] {
		if httpguts.HeaderValuesContainsToken([]string{v}, "close") {
			return true
		}
	}
	return false
}

func isChunked(te []string) bool { return len(te) > 0 && te[0] == "chunked" }

// retryable follows net/http.Transport: on a reused connection, a request
// of which no byte was written may be retried if its body can be sent
// again; one that was written may be retried if the connection failed
// before any response byte and the request is replayable (idempotent).
func (pc *h1Conn) retryable(req *http.Request, err error) bool {
	if pc.nread > 0 || !connGone(err) {
		return false
	}
	rewindable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if !rewindable {
		return false
	}
	if pc.write != nil {
		// The connection is closed, so the body's goroutine is ending: a
		// body that can be sent again is in memory and cannot hold it up.
		<-pc.write.done
	}
	if pc.nwrite.Load() == 0 {
		return true
	}
	return isReplayable(req)
}

// isReplayable is net/http's (*Request).isReplayable.
func isReplayable(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody || r.GetBody != nil {
		switch r.Method {
		case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
			return true
		}
		if _, ok := r.Header["Idempotency-Key"]; ok {
			return true
		}
		if _, ok := r.Header["X-Idempotency-Key"]; ok {
			return true
		}
	}
	return false
}

// connGone reports whether err says the peer had closed the connection.
func connGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED)
}

// rewindBody returns req ready to be sent again.
func rewindBody(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	if req.GetBody == nil {
		return nil, errors.New("request body cannot be sent again")
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	next := *req
	next.Body = body
	return &next, nil
}

func closeReqBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// h1Body is a response body read straight from the connection. Read to
// EOF on a reusable connection, it returns the connection to the pool;
// closed before EOF, or failing, it closes the connection (an unread
// remainder is never drained: it could be unbounded).
type h1Body struct {
	pc       *h1Conn
	body     io.ReadCloser // http.ReadResponse's body; never closed (its Close drains)
	stop     func() bool   // stops the context's close-on-cancel
	reusable bool
	done     atomic.Bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done.Load() {
		return 0, errH1ClosedBody
	}
	n, err := b.body.Read(p)
	switch {
	case err == io.EOF:
		b.finish(true)
	case err != nil:
		b.finish(false)
	}
	return n, err
}

func (b *h1Body) Close() error {
	b.finish(false)
	return nil
}

// finish releases the connection once: to the pool if the whole response
// was read, the connection may be kept, and the context did not close it.
func (b *h1Body) finish(eof bool) {
	if !b.done.CompareAndSwap(false, true) {
		return
	}
	pc := b.pc
	if b.stop() && eof && b.reusable && pc.br.Buffered() == 0 && pc.wroteRequest() {
		pc.client.putIdle(pc)
		return
	}
	pc.close()
}

// h1WriteGrace is how long a finished response waits for its request body
// to finish writing before the connection is given up instead of pooled
// (Transport waits 50 ms too). The upstream has answered; the usual reason
// the write is not done yet is only that its goroutine has not run.
const h1WriteGrace = 50 * time.Millisecond

// wroteRequest reports whether the whole request was written, so that the
// connection can carry another one.
func (pc *h1Conn) wroteRequest() bool {
	return pc.write == nil || pc.write.wait(h1WriteGrace)
}
