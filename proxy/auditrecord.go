package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/alter-sidecar/alter/audit"
)

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
	record := func(in, out int64) {
		ex.record.BytesIn, ex.record.BytesOut = in, out
		ex.record.Latency = ex.p.now().Sub(ex.start)
		if ex.p.opts.AuditFirst {
			ex.record.Phase = audit.PhaseResponse
		}
		ex.writeAudit(ex.record)
	}
	if rwc, ok := body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		// A WebSocket: one record when it closes, with the bytes relayed
		// each way after the switch (the handshake has no body).
		resp.Body = &upgradedBody{rwc: rwc, done: record}
		return resp
	}
	resp.Body = &auditedBody{ReadCloser: body, done: func(out int64) {
		var in int64
		if ex.sent != nil {
			in = ex.sent.n.Load()
		}
		record(in, out)
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
