package testnet

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// ConnectProxy stands in for a corporate egress proxy (upstream.proxy): it
// serves CONNECT only, records everything it was asked and every byte it
// relayed towards the upstreams, and answers anything else with 405.
type ConnectProxy struct {
	ln      net.Listener
	auth    string // the Proxy-Authorization it requires; "" none
	refuse  int    // answer every CONNECT with this status; 0 tunnels
	accepts atomic.Int64

	mu   sync.Mutex
	seen ProxySeen
}

// ProxySeen is what a ConnectProxy was sent.
type ProxySeen struct {
	Connects []string // CONNECT targets, in order
	Auths    []string // each CONNECT's Proxy-Authorization
	Others   []string // request lines that were not CONNECT
	Relayed  string   // every byte tunnelled towards an upstream
}

// NewConnectProxy serves on 127.0.0.1 until the test ends. A non-empty auth
// is the Proxy-Authorization value it requires (407 otherwise); a non-zero
// refuse is the status it answers every CONNECT with.
func NewConnectProxy(t testing.TB, auth string, refuse int) *ConnectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cp := &ConnectProxy{ln: ln, auth: auth, refuse: refuse}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cp.accepts.Add(1)
			wg.Add(1)
			go func() { defer wg.Done(); cp.serve(c) }()
		}
	}()
	return cp
}

// Addr is the proxy's host:port.
func (cp *ConnectProxy) Addr() string { return cp.ln.Addr().String() }

// Accepts counts the connections it accepted.
func (cp *ConnectProxy) Accepts() int64 { return cp.accepts.Load() }

// Seen returns a copy of what it recorded.
func (cp *ConnectProxy) Seen() ProxySeen {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	s := cp.seen
	s.Connects = append([]string(nil), s.Connects...)
	s.Auths = append([]string(nil), s.Auths...)
	s.Others = append([]string(nil), s.Others...)
	return s
}

func (cp *ConnectProxy) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	cp.mu.Lock()
	if req.Method != http.MethodConnect {
		cp.seen.Others = append(cp.seen.Others, req.Method+" "+req.RequestURI)
		cp.mu.Unlock()
		_, _ = io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return
	}
	cp.seen.Connects = append(cp.seen.Connects, req.RequestURI)
	cp.seen.Auths = append(cp.seen.Auths, req.Header.Get("Proxy-Authorization"))
	cp.mu.Unlock()
	switch {
	case cp.auth != "" && req.Header.Get("Proxy-Authorization") != cp.auth:
		_, _ = io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n")
		return
	case cp.refuse != 0:
		_, _ = io.WriteString(c, "HTTP/1.1 "+strconv.Itoa(cp.refuse)+" "+http.StatusText(cp.refuse)+"\r\nContent-Length: 0\r\n\r\n")
		return
	}
	up, err := net.Dial("tcp", req.RequestURI)
	if err != nil {
		_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer up.Close()
	_, _ = io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{})
	go func() { _, _ = io.Copy(c, up); c.Close(); close(done) }()
	buf := make([]byte, 32<<10)
	for {
		n, err := br.Read(buf)
		cp.mu.Lock()
		cp.seen.Relayed += string(buf[:n])
		cp.mu.Unlock()
		if _, werr := up.Write(buf[:n]); werr != nil || err != nil {
			break
		}
	}
	up.Close()
	<-done
}
