package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// pconn is one upstream connection. It is owned by one request at a time:
// the round trip, then the response body, then the pool.
type pconn struct {
	client   *Client
	key      connKey
	raw      net.Conn // the TCP connection
	conn     net.Conn // raw, or TLS over raw
	tlsState *tls.ConnectionState
	br       *bufio.Reader // reads through pconn.Read
	bw       *bufio.Writer // writes through countingWriter
	idleAt   time.Time
	reused   bool
	// Per round trip:
	readLimit int64        // bounds the response head, as Transport's MaxResponseHeaderBytes
	nread     int64        // bytes read from the connection
	nwrite    atomic.Int64 // bytes written to the connection (by the body's goroutine too)
	write     *bodyWrite   // the body being written, nil if the request had none
	// The response header deadline, set by whichever goroutine wrote the
	// request and cleared once the head is read.
	deadlineMu  sync.Mutex
	headRead    bool
	deadlineSet bool
}

// Read feeds br from the connection, within readLimit.
func (pc *pconn) Read(p []byte) (int, error) {
	if pc.readLimit <= 0 {
		return 0, fmt.Errorf("upstream response head larger than %d bytes", pc.client.maxHeaderBytes)
	}
	if int64(len(p)) > pc.readLimit {
		p = p[:pc.readLimit]
	}
	n, err := pc.conn.Read(p)
	pc.readLimit -= int64(n)
	pc.nread += int64(n)
	return n, err
}

type countingWriter struct{ pc *pconn }

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.pc.conn.Write(p)
	w.pc.nwrite.Add(int64(n))
	return n, err
}

// ReadFrom lets bufio.Writer hand a large request body to the connection
// in big writes (TCP's own ReadFrom, or io.Copy's 32 KiB), not 4 KiB ones,
// as Transport's persistConnWriter does.
func (w countingWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := io.Copy(w.pc.conn, r)
	w.pc.nwrite.Add(n)
	return n, err
}

func (pc *pconn) close() { _ = pc.conn.Close() }

// roundTrip writes req and reads the response head. On error the
// connection is closed.
//
// A request without a body is written by the caller's goroutine. A body is
// written by a goroutine of its own while this one waits for the answer,
// as Transport does: an upstream may answer before it has read the whole
// body (413, 401, a redirect), and then stop reading; writing inline would
// block on a full socket and lose that answer.
func (pc *pconn) roundTrip(req *http.Request) (*http.Response, error) {
	pc.nread, pc.readLimit = 0, pc.client.maxHeaderBytes
	pc.nwrite.Store(0)
	pc.write = nil // a pooled connection's last write has ended (see finish)
	pc.headRead, pc.deadlineSet = false, false
	// A cancelled request closes the connection, which ends a blocked
	// write or read (the caller reports ctx.Err()).
	stop := context.AfterFunc(req.Context(), pc.close)
	fail := func(err error) (*http.Response, error) {
		stop()
		pc.close()
		return nil, err
	}
	if req.Body == nil || req.Body == http.NoBody {
		if err := pc.writeRequest(req); err != nil {
			return fail(err)
		}
		pc.startHeaderTimer()
	} else {
		pc.write = pc.writeAsync(req)
	}
	var resp *http.Response
	for n1xx := 0; ; n1xx++ {
		var err error
		resp, err = http.ReadResponse(pc.br, req)
		if err != nil {
			if w := pc.write; w != nil && (connGone(err) || errors.Is(err, net.ErrClosed)) {
				// The upstream hung up: if writing failed first, that is
				// the better explanation (and what Transport reports).
				if werr := w.errIfDone(); werr != nil {
					err = werr
				}
			}
			return fail(err)
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return fail(ErrSwitching)
		}
		if resp.StatusCode >= 200 || resp.StatusCode < 100 {
			break
		}
		if n1xx >= max1xx {
			return fail(ErrTooMany1xx)
		}
	}
	if w := pc.write; w != nil {
		if werr := w.errIfDone(); werr != nil && w.readErr {
			// Reading the request body failed before this answer was read:
			// the writer then closed the connection, and what the upstream
			// said after that answers a truncated request. The read error
			// is the outcome (it is recorded before the close).
			return fail(werr)
		}
	}
	pc.stopHeaderTimer()
	pc.readLimit = math.MaxInt64
	resp.TLS = pc.tlsState
	reusable := !resp.Close && !req.Close && !hasCloseToken(req.Header) &&
		(resp.ContentLength >= 0 || isChunked(resp.TransferEncoding) || resp.Body == http.NoBody)
	body := &respBody{pc: pc, body: resp.Body, stop: stop, reusable: reusable}
	if resp.Body == http.NoBody {
		body.finish(true) // nothing left to read: the connection is free now
		return resp, nil
	}
	resp.Body = body
	return resp, nil
}

// writeRequest writes req's head and body and flushes them.
func (pc *pconn) writeRequest(req *http.Request) error {
	if err := req.Write(pc.bw); err != nil {
		return err
	}
	return pc.bw.Flush()
}

// bodyWrite is a request body being written by its own goroutine.
type bodyWrite struct {
	done    chan struct{} // closed when the write has ended
	err     error         // the write's outcome; read only after done
	readErr bool          // err came from reading the body, not from the connection
}

// errIfDone returns the write's error if it has ended, and nil otherwise.
func (w *bodyWrite) errIfDone() error {
	select {
	case <-w.done:
		return w.err
	default:
		return nil
	}
}

// wait reports whether the write ended, successfully, within d.
func (w *bodyWrite) wait(d time.Duration) bool {
	select {
	case <-w.done:
		return w.err == nil
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.done:
		return w.err == nil
	case <-t.C:
		return false
	}
}

// writeAsync writes req on a goroutine of its own. A failed write closes
// the connection, so the upstream never takes a truncated body for a
// whole one, and the response read ends too.
func (pc *pconn) writeAsync(req *http.Request) *bodyWrite {
	w := &bodyWrite{done: make(chan struct{})}
	go func() {
		body := &bodyReader{ReadCloser: req.Body}
		out := *req // the caller's request is not modified
		out.Body = body
		if w.err = pc.writeRequest(&out); w.err != nil {
			if body.err != nil {
				// Request.Write hides a body's read error in a wrapper of
				// its own; Transport reports the error itself, and so do we
				// (a client's malformed body is a 400, not a 502).
				w.err, w.readErr = body.err, true
			}
			// done first: the reader, woken by the close, finds the cause.
			close(w.done)
			pc.close()
			return
		}
		pc.startHeaderTimer()
		close(w.done)
	}()
	return w
}

// bodyReader remembers the first error, other than io.EOF, from reading a
// request body.
type bodyReader struct {
	io.ReadCloser
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// startHeaderTimer starts the response header timeout once the request has
// been written, as Transport's ResponseHeaderTimeout does. With a body
// written on its own goroutine the response may already be in, and the
// deadline must then not be set on the body's reads.
func (pc *pconn) startHeaderTimer() {
	t := pc.client.headerTimeout
	if t <= 0 {
		return
	}
	pc.deadlineMu.Lock()
	if !pc.headRead {
		_ = pc.conn.SetReadDeadline(time.Now().Add(t))
		pc.deadlineSet = true
	}
	pc.deadlineMu.Unlock()
}

// stopHeaderTimer marks the response head read and clears its deadline.
func (pc *pconn) stopHeaderTimer() {
	pc.deadlineMu.Lock()
	pc.headRead = true
	if pc.deadlineSet {
		_ = pc.conn.SetReadDeadline(time.Time{})
		pc.deadlineSet = false
	}
	pc.deadlineMu.Unlock()
}

func hasCloseToken(h http.Header) bool {
	for _, v := range h["Connection"] {
		if httpguts.HeaderValuesContainsToken([]string{v}, "close") {
			return true
		}
	}
	return false
}

func isChunked(te []string) bool { return len(te) > 0 && te[0] == "chunked" }
