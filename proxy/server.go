package proxy

import (
	"net/http"
	"time"
)

// MaxHeaderBytes bounds a request's header block on the proxy listener.
const MaxHeaderBytes = 64 << 10

// NewServer returns the http.Server for the proxy listener. Only the header
// read has a deadline: bodies and responses may stream for as long as the
// upstream keeps them open (SSE, long polls, tunnels).
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}
