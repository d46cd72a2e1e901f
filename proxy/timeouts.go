package proxy

import "time"

// Timeouts bound how long a client may hold a connection without making
// progress. Terminated tunnels get the same limits as the proxy listener, so
// a client gains nothing by sending its requests inside a tunnel.
type Timeouts struct {
	Handshake time.Duration // from CONNECT to a completed TLS handshake
	Header    time.Duration // to read one request's headers
	Idle      time.Duration // between requests on a kept-alive connection
	// WebSocketIdle ends a WebSocket relay when no byte went either way
	// for this long (websocket.go).
	WebSocketIdle time.Duration
}

// DefaultTimeouts are used for any zero field.
var DefaultTimeouts = Timeouts{Handshake: 10 * time.Second, Header: 30 * time.Second, Idle: 2 * time.Minute,
	WebSocketIdle: 10 * time.Minute}

func (t Timeouts) withDefaults() Timeouts {
	if t.Handshake <= 0 {
		t.Handshake = DefaultTimeouts.Handshake
	}
	if t.Header <= 0 {
		t.Header = DefaultTimeouts.Header
	}
	if t.Idle <= 0 {
		t.Idle = DefaultTimeouts.Idle
	}
	if t.WebSocketIdle <= 0 {
		t.WebSocketIdle = DefaultTimeouts.WebSocketIdle
	}
	return t
}
