package proxy

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// net/http accepts a request carrying both Content-Length and
// Transfer-Encoding: it drops the Content-Length and frames the body by the
// chunks (RFC 9112 allows that). A proxy should refuse such a request
// instead: it is how request smuggling starts, and the hop behind us may
// disagree about where the body ends. By the time a handler runs, net/http
// has already removed the evidence, so framingScanner watches the raw bytes
// of each request head as net/http reads them, follows each body's framing
// to find the next head, and flags a head that names both. The handler
// refuses a flagged request with 400 before anything is forwarded.

// ScanListener wraps a listener so the proxy can see ambiguous framing;
// NewServer's ConnContext picks the scanner up.
func ScanListener(l net.Listener) net.Listener { return scanListener{l} }

type scanListener struct{ net.Listener }

func (l scanListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newFramingScanner(c), nil
}

type scannerKey struct{}

// connContext stores the connection's scanner in every request's context.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if n, ok := c.(*notifyConn); ok { // a terminated tunnel's connection
		c = n.Conn
	}
	if s, ok := c.(*framingScanner); ok {
		return context.WithValue(ctx, scannerKey{}, s)
	}
	return ctx
}

// ambiguousFraming reports (once) whether the request's head named both
// Content-Length and Transfer-Encoding.
func ambiguousFraming(r *http.Request) bool {
	s, ok := r.Context().Value(scannerKey{}).(*framingScanner)
	return ok && s.ambiguous.Swap(false)
}

// stopScanning stops the request's connection scanner for good: once the
// connection carries another protocol (a WebSocket), its bytes are no
// longer HTTP heads. net/http has stopped reading the connection by then
// (it was hijacked), so nothing else reads through the scanner.
func stopScanning(r *http.Request) {
	if s, ok := r.Context().Value(scannerKey{}).(*framingScanner); ok {
		s.state = scanOff
	}
}

// maxScannedHead: past this, net/http (MaxHeaderBytes) has refused the head.
const maxScannedHead = 2 * MaxHeaderBytes

type scanState int

const (
	scanHead      scanState = iota // reading a request head
	scanBody                       // skipping a body of known length
	scanChunkSize                  // reading a chunk-size line
	scanChunkData                  // skipping chunk data and its CRLF
	scanTrailer                    // reading trailer lines after the last chunk
	scanOff                        // lost track (a malformed message): net/http will close
)

type framingScanner struct {
	net.Conn
	ambiguous atomic.Bool
	state     scanState
	buf       []byte // the current head or line
	remaining int64  // bytes of body or chunk data (plus CRLF) left to skip
}

func newFramingScanner(c net.Conn) *framingScanner { return &framingScanner{Conn: c} }

func (s *framingScanner) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	if n > 0 && s.state != scanOff {
		s.feed(p[:n])
	}
	return n, err
}

func (s *framingScanner) feed(b []byte) {
	for len(b) > 0 && s.state != scanOff {
		switch s.state {
		case scanBody, scanChunkData:
			k := int64(len(b))
			if k > s.remaining {
				k = s.remaining
			}
			b = b[k:]
			if s.remaining -= k; s.remaining == 0 {
				if s.state == scanChunkData {
					s.state = scanChunkSize
				} else {
					s.state = scanHead
				}
			}
		default: // line-oriented states
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				s.buf = append(s.buf, b...)
				b = nil
			} else {
				s.buf = append(s.buf, b[:i+1]...)
				b = b[i+1:]
				s.line()
			}
			if len(s.buf) > maxScannedHead {
				s.state = scanOff
			}
		}
	}
}

// line handles a complete line in s.buf.
func (s *framingScanner) line() {
	switch s.state {
	case scanHead:
		if !bytes.HasSuffix(s.buf, []byte("\r\n\r\n")) && !bytes.HasSuffix(s.buf, []byte("\n\n")) {
			if len(bytes.TrimSpace(s.buf)) == 0 {
				s.buf = s.buf[:0] // blank lines between requests
			}
			return
		}
		s.endOfHead()
	case scanChunkSize:
		size, _, _ := strings.Cut(strings.TrimSpace(string(s.buf)), ";")
		s.buf = s.buf[:0]
		n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
		switch {
		case err != nil || n < 0:
			s.state = scanOff
		case n == 0:
			s.state = scanTrailer
		default:
			s.state, s.remaining = scanChunkData, n+2 // the data and its CRLF
		}
	case scanTrailer:
		blank := len(bytes.TrimSpace(s.buf)) == 0
		s.buf = s.buf[:0]
		if blank {
			s.state = scanHead
		}
	}
}

// endOfHead checks a complete head and sets up skipping its body. It runs
// for every request, so it works on the bytes in place: no copies.
func (s *framingScanner) endOfHead() {
	head := s.buf
	s.buf = s.buf[:0]
	line, rest := cutLine(head)
	if bytes.HasPrefix(line, []byte("CONNECT ")) {
		s.state = scanOff // what follows is a tunnel, not HTTP
		return
	}
	var length, lastEncoding []byte
	lengths, encodings := 0, 0
	for len(rest) > 0 {
		line, rest = cutLine(rest)
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name, value = bytes.TrimSpace(name), bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if lengths == 0 {
				length = value
			}
			lengths++
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			lastEncoding = value
			encodings++
		}
	}
	if lengths > 0 && encodings > 0 {
		s.ambiguous.Store(true)
	}
	switch {
	case encodings > 0:
		if hasSuffixFold(lastEncoding, "chunked") {
			s.state = scanChunkSize
		} else {
			s.state = scanOff // net/http refuses this; stop following
		}
	case lengths > 0:
		n, err := strconv.ParseInt(string(length), 10, 64) // no copy: the compiler sees through it
		if err != nil || n < 0 {
			s.state = scanOff
		} else if n > 0 {
			s.state, s.remaining = scanBody, n
		}
	}
}

// cutLine splits b after its first newline.
func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

func hasSuffixFold(b []byte, suffix string) bool {
	return len(b) >= len(suffix) && bytes.EqualFold(b[len(b)-len(suffix):], []byte(suffix))
}

// CloseWrite keeps net/http's half-close working through the wrapper.
func (s *framingScanner) CloseWrite() error { return closeWrite(s.Conn) }
