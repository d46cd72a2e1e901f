package portal

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/internal/httpstatus"
)

// contentSecurityPolicy allows only this origin's scripts, styles and
// images, no plugins, frames, inline code or foreign form targets: an
// injected tag could neither run nor send a form elsewhere.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Log field names of the request line.
const (
	logMethod  = "method"
	logPath    = "path"
	logStatus  = "status"
	logUser    = "user"
	logLatency = "latency_ms"
	logRemote  = "remote"
)

func zapErr(err error) zap.Field { return zap.Error(err) }

// reqInfo collects what the request line reports and the handlers learn.
type reqInfo struct{ user string }

type infoKey struct{}

// setUser records who made the request, for the log line.
func setUser(r *http.Request, user string) {
	if ri, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		ri.user = user
	}
}

// wrap sets the security headers on every answer (pages, errors,
// redirects, static files), bounds and origin-checks POSTs, and logs one
// line per request: method, path without query, status, user, latency.
// Form values are never logged.
func (p *Portal) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store") // the static handler relaxes it
		ri := &reqInfo{}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, ri))
		sw := &httpstatus.Writer{ResponseWriter: w}
		defer func() {
			p.log.Info("portal request",
				zap.String(logMethod, r.Method), zap.String(logPath, r.URL.Path),
				zap.Int(logStatus, sw.Status), zap.String(logUser, ri.user),
				zap.Int64(logLatency, time.Since(start).Milliseconds()), zap.String(logRemote, p.clientAddr(r)))
		}()
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(sw, r.Body, maxForm)
			if !sameOrigin(r) {
				p.errorPage(sw, r, http.StatusForbidden, "This form was sent from another site and was refused.")
				return
			}
			if err := r.ParseForm(); err != nil {
				p.errorPage(sw, r, http.StatusBadRequest, "The form could not be read (too large or malformed).")
				return
			}
		}
		h.ServeHTTP(sw, r)
	})
}

// sameOrigin refuses a POST that the browser says came from another
// site. Sec-Fetch-Site is the browser's own statement and is trusted when
// present. Without it (an older browser, curl) a cross-origin Origin is
// refused. "Origin: null" is what browsers send for our own forms under
// Referrer-Policy: no-referrer, so it is no evidence either way; such a
// request, like one without Origin, is left to the CSRF token.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return true
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	// Behind a TLS-terminating proxy the browser's origin is https while
	// the request arrived over http: accept either scheme for our host.
	return origin == scheme+r.Host || origin == "https://"+r.Host
}
