package proxy

import (
	"log"
	"net/http"
)

// MaxHeaderBytes bounds a request's header block on the proxy listener.
const MaxHeaderBytes = 64 << 10

// NewServer returns the http.Server for the proxy listener; serve it on
// ScanListener(l) so ambiguous request framing can be refused. Only the header
// read and idle keep-alive have deadlines: bodies and responses may stream
// for as long as the upstream keeps them open (SSE, long polls, tunnels).
func NewServer(p *Proxy) *http.Server {
	return &http.Server{
		Handler:           p,
		ReadHeaderTimeout: p.opts.Timeouts.Header,
		IdleTimeout:       p.opts.Timeouts.Idle,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          log.New(zapWriter{p.log}, "", 0),
		ConnContext:       connContext,
	}
}
