package main

import (
	"log"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// adminLimits bound what the clients of an admin listener (the sidecar's
// and alter server's) can hold. It answers without a token, so whoever
// reaches its port must not be able to keep connections open forever,
// send megabytes of headers, or take the process's file descriptors and
// memory from the listener that matters.
type adminLimits struct {
	ReadHeader, Read, Write, Idle time.Duration
	MaxHeaderBytes                int
	// MaxConns is the most connections served at once; more wait to be
	// accepted. A flood can delay a scrape or probe, never the API.
	MaxConns int
}

// defaultAdminLimits: a scrape or a probe is one small GET answered in
// well under a second (Prometheus gives a scrape 10 s by default), and a
// scraper keeps its connection between scrapes (every 15 s to 1 min).
var defaultAdminLimits = adminLimits{
	ReadHeader:     10 * time.Second,
	Read:           10 * time.Second,
	Write:          30 * time.Second,
	Idle:           2 * time.Minute,
	MaxHeaderBytes: 16 << 10,
	MaxConns:       64,
}

// newAdminServer is the http.Server of an admin listener; serve it on
// l.listener(ln).
func newAdminServer(h http.Handler, l adminLimits, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeader,
		ReadTimeout:       l.Read,
		WriteTimeout:      l.Write,
		IdleTimeout:       l.Idle,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          errorLog,
	}
}

// listener caps ln at l.MaxConns connections at once.
func (l adminLimits) listener(ln net.Listener) net.Listener {
	return netutil.LimitListener(ln, l.MaxConns)
}
