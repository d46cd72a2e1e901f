package proxy

import (
	"bufio"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/inject"
)

// WebSockets. A handshake (GET with Connection: Upgrade and Upgrade:
// websocket) is an exchange like any other: marker, grant, policy, the
// credential injected, X-Alter-* and hop-by-hop headers removed (the
// upgrade is then announced again), the dial through the same dialer. It
// goes upstream with net/http's Transport, which hands over the switched
// connection as a 101 response's io.ReadWriteCloser body (the proxy's h1
// client refuses 101). The 101 is cleaned like any response, and then the
// client's connection is taken from net/http and bytes are relayed both
// ways (relay.go) until either side closes or the connection is idle for
// Timeouts.WebSocketIdle. The frames are not read: nothing in them is
// checked against the grant's rules or scrubbed.

// upgradeOf returns the protocol the request switches to (websocket), or ""
// when it asks for none. A WebSocket handshake is a GET without a body (RFC
// 6455 section 4.1); any other is refused rather than forwarded with a body
// that would run into the switched connection.
func upgradeOf(r *http.Request) (string, *failure) {
	up := inject.UpgradeType(r.Header)
	if up == "" {
		return "", nil
	}
	if r.Method != http.MethodGet || r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		f := badRequest("a WebSocket handshake is a GET request without a body")
		return "", &f
	}
	return up, nil
}

// errUnaskedSwitch: a 101 the request did not ask for, to another protocol,
// or without a connection to relay. It is never passed on.
var errUnaskedSwitch = failure{status: http.StatusBadGateway, code: CodeUpstreamError, message: "the upstream switched to a protocol the request did not ask for", reason: ReasonProtocol}

// checkSwitch lets a 101 through only as the answer to the upgrade the
// request asked for, announcing the same protocol, with a connection the
// relay can write to. Otherwise it closes the upstream connection and
// returns the failure to answer with.
func (ex *exchange) checkSwitch(resp *http.Response) *failure {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil
	}
	if _, ok := resp.Body.(io.ReadWriteCloser); ok && ex.upgrade != "" && inject.UpgradeType(resp.Header) == ex.upgrade {
		return nil
	}
	_ = resp.Body.Close()
	f := errUnaskedSwitch
	return &f
}

// upgradedBody is the upstream side of a switched connection as the
// exchange hands it to the relay: it counts the bytes each way and writes
// the WebSocket's one audit record when it is closed.
type upgradedBody struct {
	rwc  io.ReadWriteCloser
	in   atomic.Int64 // client to upstream
	out  atomic.Int64 // upstream to client
	once sync.Once
	done func(in, out int64)
}

func (b *upgradedBody) Read(p []byte) (int, error) {
	n, err := b.rwc.Read(p)
	b.out.Add(int64(n))
	return n, err
}

func (b *upgradedBody) Write(p []byte) (int, error) {
	n, err := b.rwc.Write(p)
	b.in.Add(int64(n))
	return n, err
}

func (b *upgradedBody) Close() error {
	err := b.rwc.Close()
	b.once.Do(func() { b.done(b.in.Load(), b.out.Load()) })
	return err
}

// respond writes the exchange's answer: a switched connection is relayed,
// anything else written as a response.
func (p *Proxy) respond(w http.ResponseWriter, resp *http.Response) {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		p.relayUpgrade(w, resp)
		return
	}
	writeResponse(w, resp, p.log)
}

// relayUpgrade takes the client's connection from net/http, writes the
// cleaned 101 head and relays until the WebSocket ends. checkSwitch made
// sure the body is the upstream connection.
func (p *Proxy) relayUpgrade(w http.ResponseWriter, resp *http.Response) {
	up := resp.Body.(io.ReadWriteCloser)
	defer up.Close()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		p.log.Debug("cannot take the client's connection for a WebSocket", zap.Error(err))
		return
	}
	defer conn.Close()
	if resp.Request != nil {
		stopScanning(resp.Request)
	}
	_ = conn.SetDeadline(time.Time{}) // net/http's header deadline is not the relay's
	r := newRelay(conn, brw.Reader, up, p.opts.Timeouts.WebSocketIdle)
	if !p.relays.add(r) {
		return // the proxy is stopping
	}
	defer p.relays.remove(r)
	if err := writeSwitchHead(brw.Writer, resp.Header); err != nil {
		return
	}
	p.opts.Metrics.tunnel("websocket", 1)
	defer p.opts.Metrics.tunnel("websocket", -1)
	r.run()
}

// writeSwitchHead writes the 101 head. The status line is the standard
// one, whatever reason phrase the upstream gave; Header.Write turns any
// newline in a value into a space.
func writeSwitchHead(bw *bufio.Writer, h http.Header) error {
	_, _ = bw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	_ = h.Write(bw)
	_, _ = bw.WriteString("\r\n")
	return bw.Flush()
}
