// Package proxy is the sidecar's HTTP proxy: the listener (a fast path for
// plain requests, net/http for the rest, goproxy for untouched CONNECT
// tunnels), TLS termination with our own CA for the hosts grants may
// reach, destination binding inside tunnels, header stripping, the
// upstream clients and the error answers. It is glue: the policy package
// decides, the inject package injects, the store resolves, the audit
// package records; this package carries requests between them.
//
// A request's path, in the order it runs (ARCHITECTURE.md draws it):
// server.go accepts; fastpath*.go reads a plain request head (or hands the
// connection to net/http); connect.go decides a CONNECT and tunnel.go
// terminates it; exchange.go runs one request: the marker (headers.go),
// the grant (the store), the policy decision, the outbound copy and the
// injection, the upstream round trip (transport.go, internal/h1), the
// cleaned answer (scrub.go) and the audit record (auditrecord.go).
//
// Files:
//
//	proxy.go               Options, New, ServeHTTP: the entry for net/http and goproxy
//	server.go              Server: listeners, the fast path or net/http per connection, shutdown
//	fastpath.go            the fast path's connection loop, request bodies, hang-up watch
//	fastpath_head.go       the strict request-head parser the fast path takes heads with
//	fastpath_response.go   writing an answer on the fast path
//	framing.go             the raw-head scanner that refuses Content-Length with Transfer-Encoding
//	connect.go             CONNECT: terminate, tunnel or refuse (mitm.hosts)
//	tunnel.go              a terminated tunnel: TLS, its requests bound to the CONNECT authority
//	exchange.go            one request's trip: marker, grant, policy, outbound copy, injection
//	headers.go             the marker, X-Alter-* and hop-by-hop headers
//	auth.go                proxy client authentication (proxy_auth)
//	transport.go           the guarded dialer (SSRF check at connect time) and net/http's Transport
//	upstreamerr.go         upstream failures: which answer, which reason
//	errors.go              the proxy's own answers: codes, statuses, JSON bodies
//	respond.go             writing an answer through net/http
//	scrub.go               masking a credential an upstream echoes back
//	bodies.go              request and response body wrappers (counting, trailer filtering)
//	auditrecord.go         the exchange's audit record, request ids
//	conns.go               connection and listener wrappers for net/http's servers
//	timeouts.go            client-side timeouts
//	metrics.go             Prometheus metrics (no ids in labels)
//	gc.go                  the garbage collector's target
//	internal/h1            the HTTP/1.1 upstream client for grant requests
package proxy
