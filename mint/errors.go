package mint

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/alter-sidecar/alter/errcode"
)

// Reasons a token could not be minted. They are what the 502
// credential_unavailable answer and the audit record say; none names a
// host, a secret or anything the token endpoint wrote.
const (
	ReasonUnreachable = errcode.ReasonTokenEndpointUnreachable // no connection, TLS refused, SSRF guard
	ReasonTimeout     = errcode.ReasonTokenEndpointTimeout     // no answer in time
	ReasonRejected    = errcode.ReasonTokenEndpointRejected    // the endpoint refused the request (4xx/5xx)
	ReasonRevoked     = errcode.ReasonRefreshTokenRejected     // the refresh token no longer works (invalid_grant)
	ReasonBadAnswer   = errcode.ReasonTokenEndpointBadAnswer   // not a token response
	ReasonInvalid     = errcode.ReasonCredentialInvalid        // the stored key or spec cannot be used
)

// Error is why a token could not be minted. Its text is the reason and, for
// a refusal, the status and the OAuth2 error code (a short registered
// word, RFC 6749 section 5.2); never the endpoint's description or body,
// which may echo what was sent.
type Error struct {
	Reason string
	Status int    // the token endpoint's status, if it answered
	Code   string // its OAuth2 "error", if any and if it is a plain word
	err    error  // kept for errors.Is; its text is never shown
}

func (e *Error) Error() string {
	s := "mint: " + e.Reason
	if e.Status != 0 {
		s += fmt.Sprintf(" (status %d", e.Status)
		if e.Code != "" {
			s += ", error " + e.Code
		}
		s += ")"
	}
	return s
}

// Unwrap lets errors.Is see context.DeadlineExceeded and the like.
func (e *Error) Unwrap() error { return e.err }

// classify maps what the HTTP client or x/oauth2 returned onto a reason.
func classify(err error) *Error {
	var re *oauth2.RetrieveError
	var ne net.Error
	var ue *url.Error
	switch {
	case errors.As(err, &re):
		e := &Error{Reason: ReasonRejected, err: err}
		if re.Response != nil {
			e.Status = re.Response.StatusCode
		}
		if plainWord(re.ErrorCode) {
			e.Code = re.ErrorCode
		}
		return e
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &Error{Reason: ReasonTimeout, err: err}
	case errors.As(err, &ue), errors.As(err, &ne):
		return &Error{Reason: ReasonUnreachable, err: err}
	}
	return &Error{Reason: ReasonBadAnswer, err: err}
}

// plainWord reports whether an OAuth2 error code is safe to log: the
// registered codes are short lower-case words with underscores.
func plainWord(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if !(c == '_' || (c >= 'a' && c <= 'z')) {
			return false
		}
	}
	return true
}
