package proxy

import (
	"errors"
	"io"
	"net/http"
	"sync"

	"go.uber.org/zap"
)

// writeResponse copies resp to w, flushing after every write when the body
// has no known length (SSE, long polls, chunked streams) so it arrives as
// the upstream produces it.
func writeResponse(w http.ResponseWriter, resp *http.Response, l *zap.Logger) {
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	for k := range resp.Trailer {
		w.Header().Add("Trailer", k)
	}
	rc := http.NewResponseController(w)
	if req := resp.Request; req != nil && req.ContentLength != 0 && resp.Header.Get(HeaderError) == "" {
		// The upstream's answer (the proxy's own carry X-Alter-Error, and
		// an upstream's X-Alter-* are stripped) may come before it has read
		// the whole body (a 401 or 413 to an upload) while the body is still
		// being sent. Without full duplex net/http's server would read the
		// rest of the body itself before writing this head, taking bytes
		// from under the upstream's copy and holding the answer back until
		// the client finishes sending. A refusal keeps net/http's default:
		// its unread body is skipped or the connection closed.
		_ = rc.EnableFullDuplex()
	}
	w.WriteHeader(resp.StatusCode)
	stream := resp.ContentLength < 0
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if stream {
				_ = rc.Flush()
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				l.Debug("upstream body ended early", zap.Error(err))
			}
			break
		}
	}
	if !stream && len(resp.Trailer) == 0 {
		// The whole answer is buffered: send it now. Closing the body
		// writes the exchange's audit record, which a durable log fsyncs;
		// the client need not wait for that.
		_ = rc.Flush()
	}
	for k, vs := range resp.Trailer {
		w.Header()[k] = vs
	}
}

// copyBuffers recycles the buffers responses are copied through: a fresh
// 32 KiB buffer per response showed up in profiles as allocation and GC.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
