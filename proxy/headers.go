package proxy

import (
	"errors"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/google/uuid"
)

// HeaderGrant is the marker an application adds to name its grant.
const HeaderGrant = "X-Alter-Grant"

// HeaderReason is free text the application may add; it lands in the audit record.
const HeaderReason = "X-Alter-Reason"

const alterPrefix = "x-alter-"

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
		if hasAlterPrefix(k) {
			return true
		}
	}
	for _, v := range req.Header.Values("Trailer") {
		for _, name := range strings.Split(v, ",") {
			if hasAlterPrefix(strings.TrimSpace(name)) {
				return true
			}
		}
	}
	return false
}

func hasAlterPrefix(k string) bool {
	return len(k) >= len(alterPrefix) && strings.EqualFold(k[:len(alterPrefix)], alterPrefix)
}

// hopByHop are the headers that describe one connection, not the message
// (RFC 9110 section 7.6.1, plus the Proxy-Connection that old clients send).
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// removeHopByHop deletes the headers named in Connection and the fixed
// hop-by-hop list (as net/http/httputil's reverse proxy does), matching
// names in any letter case. It makes two passes over the map, not one per
// name: this runs on every request.
func removeHopByHop(h http.Header) {
	var listed []string
	for k, vs := range h {
		if !strings.EqualFold(k, "Connection") {
			continue
		}
		for _, v := range vs {
			for _, name := range strings.Split(v, ",") {
				if name = textproto.TrimString(name); name != "" {
					listed = append(listed, name)
				}
			}
		}
	}
	for k := range h {
		if isHopByHop(k) || containsFold(listed, k) {
			delete(h, k)
		}
	}
}

func isHopByHop(k string) bool {
	for _, name := range hopByHop {
		if len(k) == len(name) && strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// removeAlter deletes every X-Alter-* header and Proxy-Authorization: they
// are for this proxy and must not reach the upstream (or, in a response,
// the client).
func removeAlter(h http.Header) {
	for k := range h {
		if hasAlterPrefix(k) || strings.EqualFold(k, "Proxy-Authorization") {
			delete(h, k)
		}
	}
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
