package inject

import (
	"net/http"
	"net/textproto"
	"strings"
)

// alterPrefix starts the proxy's own headers. Headers that are not the
// upstream's: the proxy removes them from every
// request it forwards and every answer it relays; Outbound removes them
// from a grant request before the credential goes in, so nothing a client
// sends can remove or duplicate it.
const alterPrefix = "x-alter-"

// IsAlterHeader reports whether k is one of the proxy's own X-Alter-*
// headers, in any letter case.
func IsAlterHeader(k string) bool {
	return len(k) >= len(alterPrefix) && strings.EqualFold(k[:len(alterPrefix)], alterPrefix)
}

// hopByHop are the headers that describe one connection, not the message
// (RFC 9110 section 7.6.1, plus the Proxy-Connection that old clients send).
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// RemoveHopByHop deletes the headers named in Connection and the fixed
// hop-by-hop list (as net/http/httputil's reverse proxy does), matching
// names in any letter case. It makes two passes over the map, not one per
// name: this runs on every request.
func RemoveHopByHop(h http.Header) {
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

// isHopByHop reports whether k is a fixed hop-by-hop header name.
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

// RemoveAlterHeaders deletes every X-Alter-* header and Proxy-Authorization: they
// are for this proxy and must not reach the upstream (or, in a response,
// the client).
func RemoveAlterHeaders(h http.Header) {
	for k := range h {
		if IsAlterHeader(k) || strings.EqualFold(k, "Proxy-Authorization") {
			delete(h, k)
		}
	}
}
