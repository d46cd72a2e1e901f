// Package testnet holds network helpers shared by tests; only tests import
// it.
package testnet

import (
	"net"
	"sync/atomic"
)

// CountingListener adds every byte its accepted connections read to N, so
// a test can prove a refused request sent nothing at all to an upstream.
type CountingListener struct {
	net.Listener
	N *atomic.Int64
}

// Accept wraps each connection so its reads are counted.
func (l CountingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: l.N}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}
