package portal

import (
	"errors"
	"net/http"

	"github.com/alter-sidecar/alter/secretstore"
)

// Backend errors to pages, in one place. The user sees a short, fixed
// sentence (or, for ErrInvalid, the backend's message after scrubbing);
// the detail goes to the log.

const (
	msgUnavailable = "The secret store is unavailable right now. Nothing was changed. Try again in a moment."
	msgInternal    = "Something went wrong on the server. Nothing secret was shown or logged; the details are in the server log."
	msgNotFound    = "There is no such page or grant."
)

type errorData struct {
	Status  int
	Message string
}

// errorPage renders an error page with status.
func (p *Portal) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	p.render(w, r, status, "error", view{Title: http.StatusText(status), Data: errorData{Status: status, Message: msg}})
}

func (p *Portal) notFound(w http.ResponseWriter, r *http.Request) {
	p.errorPage(w, r, http.StatusNotFound, msgNotFound)
}

// backendError answers a failed Backend call that has no form to show the
// error on.
func (p *Portal) backendError(w http.ResponseWriter, r *http.Request, err error, what string) {
	status, msg := p.classify(err, what)
	p.errorPage(w, r, status, msg)
}

// classify maps a Backend error to a status and a message for the page.
// Only ErrInvalid's text reaches the user (it is about their input); the
// caller scrubs it when the request carried secret values.
func (p *Portal) classify(err error, what string) (int, string) {
	switch {
	case errors.Is(err, secretstore.ErrNotFound):
		return http.StatusNotFound, msgNotFound
	case errors.Is(err, secretstore.ErrInvalid):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, secretstore.ErrStoreUnavailable):
		p.log.Warn(what, zapErr(err))
		return http.StatusServiceUnavailable, msgUnavailable
	default:
		p.log.Error(what, zapErr(err))
		return http.StatusInternalServerError, msgInternal
	}
}
