package proxy

import (
	"errors"
	"net/http"
	"strings"

	"github.com/alter-sidecar/alter/errcode"

	"github.com/alter-sidecar/alter/inject"
	"github.com/google/uuid"
)

// HeaderGrant is the marker an application adds to name its grant.
const HeaderGrant = errcode.HeaderGrant

// HeaderReason is free text the application may add; it lands in the audit record.
const HeaderReason = errcode.HeaderReason

var (
	errMarkerConflict = errors.New("two different X-Alter-Grant values")
	errMarkerSyntax   = errors.New("X-Alter-Grant must be one grant id (a UUID)")
	errMarkerTrailer  = errors.New("X-Alter-* headers are not allowed in trailers")
)

// readMarker finds the grant id in the request headers, under any spelling
// of the name (the header map may hold non-canonical keys). Repeating the
// same id is tolerated; two different ids, a list, or anything that is not a
// UUID is an error, so the proxy never has to guess which grant was meant.
func readMarker(h http.Header) (id string, present bool, err error) {
	for k, vs := range h {
		if !strings.EqualFold(k, HeaderGrant) {
			continue
		}
		for _, v := range vs {
			v = strings.TrimSpace(v)
			if present && v != id {
				return "", true, errMarkerConflict
			}
			id, present = v, true
		}
	}
	if !present {
		return "", false, nil
	}
	u, perr := uuid.Parse(id)
	if perr != nil || len(id) != 36 {
		return "", true, errMarkerSyntax
	}
	return u.String(), true, nil
}

// trailerMarker reports whether the request announces an X-Alter-* trailer:
// a marker that arrives after the body could not have been checked.
func trailerMarker(req *http.Request) bool {
	for k := range req.Trailer {
		if inject.IsAlterHeader(k) {
			return true
		}
	}
	for _, v := range req.Header.Values("Trailer") {
		for _, name := range strings.Split(v, ",") {
			if inject.IsAlterHeader(strings.TrimSpace(name)) {
				return true
			}
		}
	}
	return false
}

// upgradesToH2C reports whether the request asks to switch to cleartext
// HTTP/2, in any letter case or list position.
func upgradesToH2C(h http.Header) bool {
	for k, vs := range h {
		if !strings.EqualFold(k, "Upgrade") && !strings.EqualFold(k, "HTTP2-Settings") {
			continue
		}
		if strings.EqualFold(k, "HTTP2-Settings") {
			return true
		}
		for _, v := range vs {
			for _, p := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(p), "h2c") {
					return true
				}
			}
		}
	}
	return false
}
