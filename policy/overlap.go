package policy

import "strings"

// Reaches and Overlaps serve profiles (package profile): a profile picks,
// for each request, the one grant whose destinations reach the target, so
// no two of its grants may reach the same target.

// Reaches reports whether a request to scheme://host:port (normalised) may
// use this destination, as Policy.Decide's destination rule sees it: the
// destination matches as written, or the request is plain http and the
// destination allows the host over https (Decide then upgrades it; port 80
// maps to 443).
func (d Destination) Reaches(scheme, host string, port int) bool {
	if d.Matches(scheme, host, port) {
		return true
	}
	return scheme == "http" && d.Scheme == "https" && d.Port == upgradedPort(port) && d.MatchesHost(host)
}

// upgradedPort is the port a plain-http request goes to when it is upgraded.
func upgradedPort(port int) int {
	if port == DefaultPort("http") {
		return DefaultPort("https")
	}
	return port
}

// Overlaps reports whether some request reaches both destinations (see
// Reaches): their host patterns share a name, label by label ("*" is one
// label, so "*.example.com" overlaps "api.example.com" and "*.*.com" does
// not exist), and some scheme and port reaches both (https://h:443 and
// http://h:80 overlap, since a plain request to h:80 is upgraded to the
// first and matches the second as written).
func Overlaps(a, b Destination) bool {
	if !hostsOverlap(a.Host, b.Host) {
		return false
	}
	for _, x := range requestKeys(a) {
		for _, y := range requestKeys(b) {
			if x == y {
				return true
			}
		}
	}
	return false
}

// requestKey is the scheme and port of a request.
type requestKey struct {
	scheme string
	port   int
}

// requestKeys lists the schemes and ports of the requests d reaches.
func requestKeys(d Destination) []requestKey {
	keys := []requestKey{{d.Scheme, d.Port}}
	if d.Scheme == "https" {
		keys = append(keys, requestKey{"http", d.Port})
		if d.Port == DefaultPort("https") {
			keys = append(keys, requestKey{"http", DefaultPort("http")})
		}
	}
	return keys
}

// hostsOverlap reports whether some host matches both patterns. A pattern
// never matches an IP address, so an address overlaps only itself.
func hostsOverlap(a, b string) bool {
	if a == b {
		return true
	}
	if !strings.Contains(a, "*") && !strings.Contains(b, "*") {
		return false
	}
	if _, ip := parseIP(a); ip {
		return false
	}
	if _, ip := parseIP(b); ip {
		return false
	}
	al, bl := strings.Split(a, "."), strings.Split(b, ".")
	if len(al) != len(bl) {
		return false
	}
	for i := range al {
		if al[i] != bl[i] && al[i] != "*" && bl[i] != "*" {
			return false
		}
	}
	return true
}
