package proxy

import (
	"bytes"
	"io"
	"net/http"
	"strings"
)

// An upstream that echoes its request (a debug endpoint, an error page that
// dumps headers) would hand the injected credential to the application,
// which must never hold it. Responses to grant-bearing requests are
// therefore scrubbed: every form of the secret is masked with '*' of the
// same length, so Content-Length stays right.
//
// Headers are always scrubbed. Bodies are scrubbed when the operator asks
// (scrub_echo: body): it costs a scan of every response and changes bytes
// an application might have wanted (an API that legitimately returns the
// key, such as a key-management endpoint), so it is a choice, not a
// default. With body scrubbing on, Accept-Encoding is removed from
// grant-bearing requests, since compressed bodies cannot be scanned; an
// upstream that compresses anyway is passed through and logged at debug.

// Echo-scrubbing modes (config key scrub_echo).
const (
	ScrubHeaders = "headers"
	ScrubBody    = "body"
)

// scrubHeaders masks secrets in response header values and drops the
// fields whose name holds one: names are case-folded on the way in, so a
// mask could not match them, and the rest of the name would still tell.
func scrubHeaders(h http.Header, secrets []string) {
	for k, vs := range h {
		if nameHoldsSecret(k, secrets) {
			delete(h, k)
			continue
		}
		for i, v := range vs {
			for _, s := range secrets {
				if strings.Contains(v, s) {
					v = strings.ReplaceAll(v, s, strings.Repeat("*", len(s)))
				}
			}
			h[k][i] = v
		}
	}
}

// nameHoldsSecret reports whether a field name contains a secret, in any
// letter case.
func nameHoldsSecret(name string, secrets []string) bool {
	for _, s := range secrets {
		if s == "" || len(name) < len(s) { // most names are shorter than any secret
			continue
		}
		for i := 0; i+len(s) <= len(name); i++ {
			if strings.EqualFold(name[i:i+len(s)], s) {
				return true
			}
		}
	}
	return false
}

// scrubber masks secrets in a body as it streams. It holds back only a
// tail that could be the start of a secret, so streamed events (SSE) are
// not delayed: a secret never contains the newline an event ends with.
type scrubber struct {
	r       io.ReadCloser
	secrets [][]byte
	buf     []byte // read buffer, reused
	pending []byte // read from r, not yet handed out
	out     []byte // masked, ready to hand out
	err     error
}

func newScrubber(r io.ReadCloser, secrets []string) *scrubber {
	s := &scrubber{r: r}
	for _, sec := range secrets {
		s.secrets = append(s.secrets, []byte(sec))
	}
	return s
}

func (s *scrubber) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.err != nil {
			if len(s.pending) > 0 { // the end: nothing can complete a partial match
				s.out, s.pending = s.pending, nil
				break
			}
			return 0, s.err
		}
		if s.buf == nil {
			s.buf = make([]byte, 32<<10)
		}
		n, err := s.r.Read(s.buf)
		s.err = err
		s.pending = append(s.pending, s.buf[:n]...)
		s.mask()
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

// mask replaces every complete secret in pending, then moves everything
// but a possible partial secret at the end to out.
func (s *scrubber) mask() {
	for _, sec := range s.secrets {
		for i := 0; ; {
			j := bytes.Index(s.pending[i:], sec)
			if j < 0 {
				break
			}
			for k := i + j; k < i+j+len(sec); k++ {
				s.pending[k] = '*'
			}
			i += j + len(sec)
		}
	}
	hold := 0
	for _, sec := range s.secrets {
		for l := min(len(sec)-1, len(s.pending)); l > hold; l-- {
			if bytes.HasPrefix(sec, s.pending[len(s.pending)-l:]) {
				hold = l
				break
			}
		}
	}
	cut := len(s.pending) - hold
	s.out = append(s.out[:0], s.pending[:cut]...)
	s.pending = append(s.pending[:0], s.pending[cut:]...)
}

func (s *scrubber) Close() error { return s.r.Close() }
