// Package h1 is the proxy's HTTP/1.1 client for grant-bearing requests: a
// connection pool and a round tripper that writes the request and reads the
// response head on the caller's goroutine, without net/http.Transport's
// per-connection reader and writer goroutines. It knows nothing of grants
// or policy: the proxy hands it a dialer (which carries the SSRF guard) and
// the roots to verify upstream certificates against.
//
// Files:
//
//	client.go   Client, Options, RoundTrip, the checks made before dialling
//	pool.go     idle connections: take, put, sweep, close
//	conn.go     one connection: the round trip, the body's writer, timeouts
//	body.go     the response body read straight from the connection
//	retry.go    when a failed request may be sent again
//	alive_*.go  the liveness peek at a pooled connection
package h1
