package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/wire"
)

// ErrUnauthorized: the server refused the token (401 unauthorized) or it
// is of the wrong kind for the call (403 forbidden).
var ErrUnauthorized = errors.New("token refused by the server")

// Error is an answer with status >= 400.
type Error struct {
	Method, Path string // the call, without query string
	Status       int
	// Code is the API's error code (wire.Code*), or "" when the body was
	// not the API's error shape (a proxy or load balancer answered).
	Code    string
	Message string // from the server, capped, control characters removed
}

func (e *Error) Error() string {
	code := e.Code
	if code == "" {
		code = fmt.Sprintf("HTTP %d", e.Status)
	}
	msg := fmt.Sprintf("server: %s %s: %s", e.Method, e.Path, code)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unwrap maps the code onto secretstore's sentinel errors. Only a code the
// API defines can mean "not found" or "grant unavailable": a 404 page from
// something that is not our server is ErrStoreUnavailable, never a verdict
// on a grant.
func (e *Error) Unwrap() []error {
	switch e.Code {
	case wire.CodeNotFound:
		return []error{secretstore.ErrNotFound}
	case wire.CodeInvalid, wire.CodeTooLarge:
		return []error{secretstore.ErrInvalid}
	case wire.CodeGrantUnavailable:
		return []error{secretstore.ErrGrantUnavailable}
	case wire.CodeUnauthorized, wire.CodeForbidden:
		return []error{ErrUnauthorized, secretstore.ErrStoreUnavailable}
	case wire.CodeMethod:
		return nil
	}
	// store_unavailable, too_many_requests, internal_error, unknown codes,
	// and bodies that are not ours.
	return []error{secretstore.ErrStoreUnavailable}
}

// Transient reports whether err means the server could not answer (it was
// unreachable, or answered store_unavailable, too_many_requests, another
// 5xx or a 429), as opposed to a verdict (grant unavailable, refused
// token, bad request). A remote store may serve from its cache through a
// transient error, never through a verdict; its follower backs off.
func Transient(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		switch e.Code {
		case wire.CodeStoreUnavailable, wire.CodeTooManyRequests, wire.CodeInternal:
			return true
		case "":
			return e.Status >= 500 || e.Status == http.StatusTooManyRequests
		}
		return false
	}
	var ne *netError
	return errors.As(err, &ne)
}

// Unreachable reports whether err means no answer came from the control
// plane itself: the network failed (dial, TLS, timeout, a cut
// connection), or something in front of it (a load balancer, a proxy)
// answered with a 5xx or 429 that is not in the API's error shape. Only
// then may a sidecar serve a cached grant past its TTL: an answer from the
// server, store_unavailable included, is the server's word, never bridged.
func Unreachable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Code == "" && (e.Status >= 500 || e.Status == http.StatusTooManyRequests)
	}
	var ne *netError
	return errors.As(err, &ne)
}

// TooManyWaits reports whether err is the server refusing a long poll or
// event stream because its caps are reached (429 too_many_requests).
func TooManyWaits(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == wire.CodeTooManyRequests
}

// netError is a failure to get an answer at all (dial, TLS, timeout, a
// cut connection, an unreadable body). It wraps ErrStoreUnavailable.
type netError struct {
	method, path string
	err          error
}

func (e *netError) Error() string {
	return fmt.Sprintf("server: %s %s: %v: %v", e.method, e.path, secretstore.ErrStoreUnavailable, e.err)
}

func (e *netError) Unwrap() []error { return []error{secretstore.ErrStoreUnavailable, e.err} }

// maxMessage bounds the server's message in our errors.
const maxMessage = 300

// decodeError builds an *Error from an answer with status >= 400.
func decodeError(method, path string, status int, body []byte) *Error {
	e := &Error{Method: method, Path: path, Status: status}
	var w wire.Error
	if json.Unmarshal(body, &w) == nil && w.Code != "" && isCode(w.Code) {
		e.Code, e.Message = w.Code, clean(w.Message)
	} else {
		e.Message = http.StatusText(status)
	}
	return e
}

// isCode accepts what an API code looks like; anything else is not ours.
func isCode(s string) bool {
	if len(s) > 40 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != '_' {
			return false
		}
	}
	return true
}

// clean makes network text safe to print: no control characters (a
// forged line or terminal escape), at most maxMessage bytes.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
