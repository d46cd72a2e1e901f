package proxy

import (
	"io"
	"net/http"
	"sync/atomic"

	"github.com/alter-sidecar/alter/inject"
)

// countingReader counts the request body bytes forwarded upstream and
// remembers the first error reading the client's body (a malformed chunk, a
// client that hung up mid-body). The error is stored before the writer sees
// it, so whatever the upstream answers after the writer gives up is known
// to answer a truncated request.
type countingReader struct {
	rc      io.ReadCloser
	n       atomic.Int64
	readErr atomic.Pointer[error]
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.rc.Read(b)
	c.n.Add(int64(n))
	if err != nil && err != io.EOF {
		c.readErr.CompareAndSwap(nil, &err)
	}
	return n, err
}

// failed returns the first error reading the client's body, or nil.
func (c *countingReader) failed() error {
	if c == nil {
		return nil
	}
	if p := c.readErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (c *countingReader) Close() error { return c.rc.Close() }

// trailerFilter removes X-Alter-* trailers once the body has been read.
type trailerFilter struct {
	io.ReadCloser
	trailer http.Header
	secrets []string
}

func (t *trailerFilter) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if err != nil {
		inject.RemoveAlterHeaders(t.trailer)
		scrubHeaders(t.trailer, t.secrets)
	}
	return n, err
}
