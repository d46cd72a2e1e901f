package proxy

import (
	"bufio"
	"net"
	"sync"

	"go.uber.org/zap"
)

// bufferedConn reads through the bufio.Reader the HTTP server used, so no
// byte the client already sent is lost.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// CloseWrite keeps net/http's half-close working through the wrapper.
func (c *bufferedConn) CloseWrite() error { return closeWrite(c.Conn) }

// closeWrite half-closes c where it can. net/http half-closes after an
// error answer (431, 400) and waits, so the client reads the answer before
// the connection goes instead of getting a reset; a wrapper around the
// connection must pass that on.
func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// oneConnListener hands one connection to http.Server.Serve, then blocks
// Accept until that connection is closed, so Serve returns exactly when
// the tunnel ends.
type oneConnListener struct {
	conn   net.Conn
	once   sync.Once
	closed chan struct{}
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{closed: make(chan struct{})}
	l.conn = &notifyConn{Conn: c, closed: l.closed}
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.conn })
	if c != nil {
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error { return nil }

func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }

type notifyConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *notifyConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}

// zapWriter sends net/http's own error log (malformed requests, TLS
// errors) to our debug log.
type zapWriter struct{ l *zap.Logger }

func (z zapWriter) Write(b []byte) (int, error) {
	z.l.Debug("tunnel server", zap.ByteString("detail", b))
	return len(b), nil
}
