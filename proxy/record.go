package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/alter-sidecar/alter/audit"
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

// auditedBody counts the response bytes the client reads and writes the
// exchange's audit record once, when the body is closed: only then are the
// status, sizes and latency known. goproxy closes every response body it
// is given, including when the client goes away mid-stream.
type auditedBody struct {
	io.ReadCloser
	n    int64
	once sync.Once
	done func(bytesOut int64)
}

func (b *auditedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *auditedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() { b.done(b.n) })
	return err
}

// finish attaches the audit record to the response that ends a
// grant-bearing exchange. code is the error code, if the proxy refused.
func (ex *exchange) finish(resp *http.Response, code string) *http.Response {
	ex.record.Status = resp.StatusCode
	ex.record.ErrorCode = code
	ex.p.opts.Metrics.request(ex.record.Decision, resp.StatusCode, code)
	resp.Header.Set(HeaderRequestID, ex.id)
	body := resp.Body
	if body == nil {
		body = http.NoBody
	}
	resp.Body = &auditedBody{ReadCloser: body, done: func(out int64) {
		ex.record.BytesOut = out
		if ex.sent != nil {
			ex.record.BytesIn = ex.sent.n.Load()
		}
		ex.record.Latency = ex.p.now().Sub(ex.start)
		if ex.p.opts.AuditFirst {
			ex.record.Phase = audit.PhaseResponse
		}
		ex.writeAudit(ex.record)
	}}
	return resp
}

// queryKeys returns the names of the query parameters, sorted and without
// repeats, never their values: values can carry credentials or personal
// data. Names are read as url.ParseQuery reads them (unescaped; a part with
// a semicolon or a name that does not unescape is skipped), but values are
// never looked at, so no map of them is built and a name whose value is
// malformed is still recorded.
func queryKeys(u *url.URL) []string {
	var keys []string
	for rest := u.RawQuery; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		if part == "" || strings.Contains(part, ";") {
			continue
		}
		name, _, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(name)
		if err != nil {
			continue
		}
		keys = append(keys, name)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// newRequestID returns 16 random hex digits.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// redactURLError drops the URL (and its query string) from a *url.Error,
// keeping the cause; transport errors otherwise repeat the full URL.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func itoa(i int) string { return strconv.Itoa(i) }
