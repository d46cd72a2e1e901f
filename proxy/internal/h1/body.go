package h1

import (
	"io"
	"sync/atomic"
	"time"
)

// respBody is a response body read straight from the connection. Read to
// EOF on a reusable connection, it returns the connection to the pool;
// closed before EOF, or failing, it closes the connection (an unread
// remainder is never drained: it could be unbounded).
type respBody struct {
	pc       *pconn
	body     io.ReadCloser // http.ReadResponse's body; never closed (its Close drains)
	stop     func() bool   // stops the context's close-on-cancel
	reusable bool
	done     atomic.Bool
}

func (b *respBody) Read(p []byte) (int, error) {
	if b.done.Load() {
		return 0, errClosedBody
	}
	n, err := b.body.Read(p)
	switch {
	case err == io.EOF:
		b.finish(true)
	case err != nil:
		b.finish(false)
	}
	return n, err
}

func (b *respBody) Close() error {
	b.finish(false)
	return nil
}

// finish releases the connection once: to the pool if the whole response
// was read, the connection may be kept, and the context did not close it.
func (b *respBody) finish(eof bool) {
	if !b.done.CompareAndSwap(false, true) {
		return
	}
	pc := b.pc
	if b.stop() && eof && b.reusable && pc.br.Buffered() == 0 && pc.wroteRequest() {
		pc.client.putIdle(pc)
		return
	}
	pc.close()
}

// writeGrace is how long a finished response waits for its request body
// to finish writing before the connection is given up instead of pooled
// (Transport waits 50 ms too). The upstream has answered; the usual reason
// the write is not done yet is only that its goroutine has not run.
const writeGrace = 50 * time.Millisecond

// wroteRequest reports whether the whole request was written, so that the
// connection can carry another one.
func (pc *pconn) wroteRequest() bool {
	return pc.write == nil || pc.write.wait(writeGrace)
}
