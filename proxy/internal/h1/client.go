package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Client is the HTTP/1.1 round tripper for grant-bearing requests (the
// proxy's default; its upstream.http2 setting picks net/http.Transport
// instead).
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
type Client struct {
	dial           func(ctx context.Context, network, addr string) (net.Conn, error)
	tls            *tls.Config // ServerName is set per connection
	dialTimeout    time.Duration
	headerTimeout  time.Duration
	idleTimeout    time.Duration
	maxIdlePerHost int
	maxIdle        int // over all hosts
	maxHeaderBytes int64

	mu    sync.Mutex
	idle  map[connKey][]*pconn // per key, oldest first
	nidle int                  // connections in idle
	sweep *time.Timer          // pending idle sweep, nil if none
}

// connKey identifies the connections that may carry a request.
type connKey struct {
	https bool
	addr  string // host:port as dialled
}

const (
	defaultMaxIdlePerHost = 256  // as the grant Transport's MaxIdleConnsPerHost
	defaultMaxIdle        = 1024 // as its MaxIdleConns
	defaultIdleTimeout    = 90 * time.Second
	defaultMaxHeaderBytes = 10 << 20 // net/http.Transport's default
	max1xx                = 5        // as net/http.Transport
	// freshIdle: a pooled connection idle for less than this is reused
	// without the liveness peek (see conn).
	freshIdle = 5 * time.Millisecond
)

// Options are what the client needs from the proxy: a dialer (the proxy's
// carries the SSRF guard, the upstream.resolve pins and the dial timeout),
// the roots upstream certificates are verified against, and two timeouts.
type Options struct {
	Dial          func(ctx context.Context, network, addr string) (net.Conn, error)
	RootCAs       *x509.CertPool // nil: the system roots
	DialTimeout   time.Duration  // bounds the TLS handshake too
	HeaderTimeout time.Duration  // from the request written to the response head read; 0: none
}

// New returns a client with empty pools.
func New(o Options) *Client {
	return &Client{
		dial: o.Dial,
		tls: &tls.Config{
			RootCAs:            o.RootCAs,
			MinVersion:         tls.VersionTLS12,
			NextProtos:         []string{"http/1.1"},
			ClientSessionCache: tls.NewLRUClientSessionCache(1024),
		},
		dialTimeout:    o.DialTimeout,
		headerTimeout:  o.HeaderTimeout,
		idleTimeout:    defaultIdleTimeout,
		maxIdlePerHost: defaultMaxIdlePerHost,
		maxIdle:        defaultMaxIdle,
		maxHeaderBytes: defaultMaxHeaderBytes,
		idle:           map[connKey][]*pconn{},
	}
}

// Errors the proxy tells apart (as a protocol failure of the upstream).
var (
	ErrSwitching  = errors.New("upstream answered 101 Switching Protocols to a request that asked for no upgrade")
	ErrTooMany1xx = errors.New("upstream sent too many 1xx informational responses")
	errClosedBody = errors.New("http: read on closed response body")
)

// RoundTrip implements http.RoundTripper. Like Transport, it closes the
// request body, also on errors.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
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
func (c *Client) check(req *http.Request) (connKey, error) {
	if req.URL == nil || req.URL.Host == "" {
		return connKey{}, errors.New("http: no Host in request URL")
	}
	var key connKey
	switch req.URL.Scheme {
	case "http":
	case "https":
		key.https = true
	default:
		return connKey{}, fmt.Errorf("unsupported protocol scheme %q", req.URL.Scheme)
	}
	if req.Method != "" && !validMethod(req.Method) {
		return connKey{}, fmt.Errorf("net/http: invalid method %q", req.Method)
	}
	for k, vs := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return connKey{}, fmt.Errorf("net/http: invalid header field name %q", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return connKey{}, fmt.Errorf("net/http: invalid header field value for %q", k)
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
func (c *Client) conn(ctx context.Context, key connKey, fresh bool) (*pconn, error) {
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
			if time.Since(pc.idleAt) < freshIdle || pc.alive() {
				pc.reused = true
				return pc, nil
			}
			pc.close()
		}
	}
	return c.dialConn(ctx, key)
}

func (c *Client) dialConn(ctx context.Context, key connKey) (*pconn, error) {
	raw, err := c.dial(ctx, "tcp", key.addr)
	if err != nil {
		return nil, err
	}
	pc := &pconn{client: c, key: key, raw: raw, conn: raw}
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
