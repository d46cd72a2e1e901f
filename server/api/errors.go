package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/alter-sidecar/alter/profile"
	"github.com/alter-sidecar/alter/providers"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// apiError is an answer with status >= 400. message is written for the
// client; detail, if any, only goes to the log.
type apiError struct {
	status  int
	code    string
	message string
	detail  error
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// Fixed answers. grant_unavailable has one message for every reason, so
// unknown, revoked, expired and other apps' grants cannot be told apart.
var (
	errUnauthorized     = &apiError{status: http.StatusUnauthorized, code: wire.CodeUnauthorized, message: "a valid Bearer token is required"}
	errGrantUnavailable = &apiError{status: http.StatusForbidden, code: wire.CodeGrantUnavailable, message: "the grant is unknown, revoked or expired"}
	errStoreUnavailable = &apiError{status: http.StatusServiceUnavailable, code: wire.CodeStoreUnavailable, message: "the store is unavailable"}
	errInternal         = &apiError{status: http.StatusInternalServerError, code: wire.CodeInternal, message: "internal error"}
	errTooLarge         = &apiError{status: http.StatusRequestEntityTooLarge, code: wire.CodeTooLarge, message: "the request body is larger than 1 MiB"}
	errNoRoute          = &apiError{status: http.StatusNotFound, code: wire.CodeNotFound, message: "no such endpoint"}
	errMethod           = &apiError{status: http.StatusMethodNotAllowed, code: wire.CodeMethod, message: "method not allowed for this endpoint"}
)

func badRequest(message string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: wire.CodeInvalid, message: message}
}

func forbidden(message string) *apiError {
	return &apiError{status: http.StatusForbidden, code: wire.CodeForbidden, message: message}
}

func notFound(message string) *apiError {
	return &apiError{status: http.StatusNotFound, code: wire.CodeNotFound, message: message}
}

// fromError maps an error from storage (or providers) to an answer. The
// storage packages promise that ErrInvalid and ErrNotFound messages name
// the bad field or id and never quote a secret, so those reach the client;
// anything else is reported by code only.
func fromError(err error) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, secretstore.ErrGrantUnavailable):
		return errGrantUnavailable
	case errors.Is(err, storage.ErrUnauthenticated):
		return withDetail(errUnauthorized, err)
	case errors.Is(err, secretstore.ErrStoreUnavailable), errors.Is(err, context.DeadlineExceeded):
		return withDetail(errStoreUnavailable, err)
	case errors.Is(err, secretstore.ErrInvalid), errors.Is(err, providers.ErrBadParam):
		return badRequest(err.Error())
	case errors.Is(err, storage.ErrTrailAhead):
		return &apiError{status: http.StatusConflict, code: wire.CodeTrailAhead, message: err.Error()}
	case errors.Is(err, secretstore.ErrNotFound), errors.Is(err, storage.ErrTokenNotFound), errors.Is(err, providers.ErrUnknownProvider),
		errors.Is(err, profile.ErrNotFound):
		return notFound(err.Error())
	}
	return withDetail(errInternal, err)
}

func withDetail(e *apiError, detail error) *apiError {
	c := *e
	c.detail = detail
	return &c
}

// writeError answers with e and records it for the access log.
func writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	if info := infoFrom(r.Context()); info != nil {
		info.code = e.code
		if e.detail != nil {
			info.detail = e.detail.Error()
		}
	}
	w.Header().Set(wire.HeaderError, e.code)
	writeJSON(w, e.status, wire.Error{Code: e.code, Message: e.message})
}

// fail answers with the mapping of err.
func fail(w http.ResponseWriter, r *http.Request, err error) { writeError(w, r, fromError(err)) }
