package proxy

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// fastOwnHeaders are the response fields the fast path writes itself from
// the response's framing, never copied from the upstream's.
var fastOwnHeaders = map[string]bool{
	"Content-Length": true, "Transfer-Encoding": true, "Trailer": true,
	"Connection": true, "Keep-Alive": true,
}

// headLengthHeaders: for a bodiless answer to HEAD, or a 304, the
// upstream's Content-Length describes the body it would have sent, and is
// passed on (as net/http does).
var headLengthHeaders = map[string]bool{
	"Transfer-Encoding": true, "Trailer": true, "Connection": true, "Keep-Alive": true,
}

// writeFastResponse writes resp as the HTTP/1.1 answer to req and closes
// its body (which writes the exchange's audit record). A body of known
// length goes with Content-Length and is flushed once; any other body is
// sent chunked and flushed as it arrives (SSE, long polls), followed by its
// trailers. keep says whether the connection stays open; the result says
// whether the answer was written whole, so the connection can go on.
func writeFastResponse(bw *bufio.Writer, req *http.Request, resp *http.Response, keep bool, log *zap.Logger) bool {
	defer resp.Body.Close()
	code := resp.StatusCode
	bodiless := req.Method == http.MethodHead || code == http.StatusNoContent ||
		code == http.StatusNotModified || (code >= 100 && code < 200)
	chunked := !bodiless && (resp.ContentLength < 0 || len(resp.Trailer) > 0)

	var num [20]byte
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.Write(strconv.AppendInt(num[:0], int64(code), 10))
	_ = bw.WriteByte(' ')
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	_, _ = bw.WriteString(text)
	_, _ = bw.WriteString("\r\n")

	own := fastOwnHeaders
	if bodiless && code != http.StatusNoContent && (code == http.StatusNotModified || req.Method == http.MethodHead) {
		own = headLengthHeaders
	}
	if err := resp.Header.WriteSubset(bw, own); err != nil {
		return false
	}
	if _, ok := resp.Header["Date"]; !ok {
		var date [len(http.TimeFormat)]byte
		_, _ = bw.WriteString("Date: ")
		_, _ = bw.Write(time.Now().UTC().AppendFormat(date[:0], http.TimeFormat))
		_, _ = bw.WriteString("\r\n")
	}
	var announced []string // the trailers the client is told to expect
	switch {
	case bodiless:
	case chunked:
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
		if len(resp.Trailer) > 0 {
			for k := range resp.Trailer {
				announced = append(announced, k)
			}
			_, _ = bw.WriteString("Trailer: " + strings.Join(announced, ", ") + "\r\n")
		}
	default:
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.Write(strconv.AppendInt(num[:0], resp.ContentLength, 10))
		_, _ = bw.WriteString("\r\n")
	}
	if !keep {
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	_, _ = bw.WriteString("\r\n")

	if bodiless {
		return bw.Flush() == nil
	}
	if chunked {
		return writeChunked(bw, resp, announced, log) && bw.Flush() == nil
	}
	return writeSized(bw, resp, log) && bw.Flush() == nil
}

// writeSized copies a body of known length. One that ends short breaks the
// framing: the connection must close.
func writeSized(bw *bufio.Writer, resp *http.Response, log *zap.Logger) bool {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	left := resp.ContentLength
	for left > 0 {
		b := buf
		if int64(len(b)) > left {
			b = b[:left]
		}
		n, err := resp.Body.Read(b)
		if n > 0 {
			if _, werr := bw.Write(b[:n]); werr != nil {
				return false
			}
			left -= int64(n)
		}
		if err != nil {
			if left > 0 {
				log.Debug("upstream body ended early", zap.Error(err))
				return false
			}
			break
		}
	}
	return true
}

// writeChunked copies a body of unknown length (or with trailers) as
// chunks, flushing each so a stream arrives as the upstream produces it.
func writeChunked(bw *bufio.Writer, resp *http.Response, announced []string, log *zap.Logger) bool {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	var size [16]byte
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			_, _ = bw.Write(strconv.AppendInt(size[:0], int64(n), 16))
			_, _ = bw.WriteString("\r\n")
			_, _ = bw.Write(buf[:n])
			_, _ = bw.WriteString("\r\n")
			if bw.Flush() != nil {
				return false
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				// No last chunk: the client sees the stream cut, as it was.
				log.Debug("upstream body ended early", zap.Error(err))
				return false
			}
			break
		}
	}
	_, _ = bw.WriteString("0\r\n")
	if len(announced) > 0 {
		// Filled in (and filtered) only now that the body has ended; only
		// the announced ones go on, as from net/http's server.
		sent := make(http.Header, len(announced))
		for _, k := range announced {
			if vs, ok := resp.Trailer[k]; ok && !fastOwnHeaders[k] {
				sent[k] = vs
			}
		}
		if sent.Write(bw) != nil {
			return false
		}
	}
	_, _ = bw.WriteString("\r\n")
	return true
}
