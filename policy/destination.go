package policy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Destination is one place a grant may send its credential: a scheme, a
// normalised host or host pattern, and a port. A pattern has "*" for whole
// labels, each standing for exactly one label: "*.example.com" covers
// "a.example.com"; "*.*.amazonaws.com" covers "sqs.eu-west-1.amazonaws.com";
// "sqs.*.amazonaws.com" covers SQS in every region. The number of labels is
// written out, so no pattern matches names deeper than it says, and the last
// two labels are never wildcards. Destinations are compared only in
// normalised form, so "API.Example.COM." and "api.example.com" are the same
// destination.
type Destination struct {
	Scheme string // "https" or "http"
	Host   string // normalised; may hold "*" labels (see above)
	Port   int
}

// MaxWildcardLabels bounds how many "*" labels one pattern may hold: enough
// for "bucket.s3.dualstack.us-east-1.amazonaws.com" (*.*.*.*.amazonaws.com).
const MaxWildcardLabels = 4

// String renders the destination in the form ParseDestination accepts and
// that round-trips: "https://api.example.com:443".
func (d Destination) String() string {
	return d.Scheme + "://" + net.JoinHostPort(d.Host, strconv.Itoa(d.Port))
}

// Wildcard reports whether the destination matches a family of hosts.
func (d Destination) Wildcard() bool { return strings.Contains(d.Host, "*") }

// MatchesHost reports whether host (already normalised, without port) is
// covered by the destination's host pattern: the same number of labels, and
// each label equal to the pattern's or matched by a "*" there. "*.x.com"
// matches "a.x.com", not "x.com" and not "a.b.x.com".
func (d Destination) MatchesHost(host string) bool {
	if !d.Wildcard() {
		return host == d.Host
	}
	if _, isIP := parseIP(host); isIP {
		return false // patterns name DNS names only
	}
	pattern := d.Host
	for {
		pl, prest, pmore := strings.Cut(pattern, ".")
		hl, hrest, hmore := strings.Cut(host, ".")
		if pmore != hmore || hl == "" || (pl != "*" && pl != hl) {
			return false
		}
		if !pmore {
			return true
		}
		pattern, host = prest, hrest
	}
}

// Matches reports whether a request to scheme://host:port may use this
// destination. All three arguments must already be normalised.
func (d Destination) Matches(scheme, host string, port int) bool {
	return d.Scheme == scheme && d.Port == port && d.MatchesHost(host)
}

// ErrBadHost is wrapped by every host or destination parsing error.
var ErrBadHost = errors.New("invalid host")

// DefaultPort is the port a scheme implies when none is written.
func DefaultPort(scheme string) int {
	if scheme == "http" {
		return 80
	}
	return 443
}

// ParseDestination parses an allowed destination as an operator writes it:
//
//	api.example.com            https on port 443
//	api.example.com:8443       https on port 8443
//	http://api.internal:8080   plain http, written out
//	*.example.com              https, one label of wildcard
//	[2001:db8::1]:8443         IPv6 literal
//	*.*.amazonaws.com          https, two labels of wildcard
//	sqs.*.amazonaws.com        https, one label of wildcard in the middle
//
// Paths, queries, user information, partial-label wildcards ("a*.x.com")
// and wildcards among the last two labels ("*.com", "api.*") are refused.
func ParseDestination(s string) (Destination, error) {
	raw := strings.TrimSpace(s)
	if raw == "" {
		return Destination{}, fmt.Errorf("%w: empty destination", ErrBadHost)
	}
	scheme := "https"
	rest := raw
	if i := strings.Index(raw, "://"); i >= 0 {
		scheme = strings.ToLower(raw[:i])
		rest = raw[i+3:]
		if scheme != "https" && scheme != "http" {
			return Destination{}, fmt.Errorf("%w: %q: scheme must be https or http", ErrBadHost, raw)
		}
	}
	if strings.ContainsAny(rest, "/?#@ \t\\") {
		return Destination{}, fmt.Errorf("%w: %q: only [scheme://]host[:port] is allowed (no path, query, user or spaces)", ErrBadHost, raw)
	}
	host, port, err := SplitHostPort(rest, scheme)
	if err != nil {
		return Destination{}, fmt.Errorf("%w: %q: %v", ErrBadHost, raw, err)
	}
	norm, err := normalizePattern(host)
	if err != nil {
		return Destination{}, fmt.Errorf("%w: %q: %v", ErrBadHost, raw, err)
	}
	return Destination{Scheme: scheme, Host: norm, Port: port}, nil
}

// normalizePattern normalises a host that may hold "*" labels: the fixed
// labels as NormalizeHost does, each "*" kept as it is.
func normalizePattern(host string) (string, error) {
	if !strings.Contains(host, "*") {
		return NormalizeHost(host)
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	stars := 0
	for _, l := range labels {
		if l == "*" {
			stars++
		} else if strings.Contains(l, "*") {
			return "", errors.New("a wildcard must be a whole label (*.example.com)")
		}
	}
	if len(labels) < stars+2 {
		return "", errors.New("a wildcard needs at least two labels after it (*.example.com)")
	}
	if labels[len(labels)-1] == "*" || labels[len(labels)-2] == "*" {
		return "", errors.New("the last two labels cannot be wildcards (*.example.com, not example.*)")
	}
	if stars > MaxWildcardLabels {
		return "", fmt.Errorf("at most %d wildcard labels", MaxWildcardLabels)
	}
	// Normalise the fixed labels as one name with each "*" swapped for a
	// placeholder label, so IDNA sees the whole name's length and rules.
	const placeholder = "x"
	fixed := make([]string, len(labels))
	for i, l := range labels {
		fixed[i] = l
		if l == "*" {
			fixed[i] = placeholder
		}
	}
	norm, err := NormalizeHost(strings.Join(fixed, "."))
	if err != nil {
		return "", err
	}
	out := strings.Split(norm, ".")
	if strings.Trim(out[len(out)-1], "0123456789") == "" {
		// No top-level domain is numeric: such a pattern could only
		// match IP addresses ("*.0.0.1").
		return "", errors.New("a wildcard cannot stand in an IP address")
	}
	if len(out) != len(labels) {
		return "", errors.New("a wildcard pattern must keep its labels")
	}
	for i, l := range labels {
		if l == "*" {
			out[i] = "*"
		}
	}
	return strings.Join(out, "."), nil
}

// SplitHostPort splits "host", "host:port", "[v6]" or "[v6]:port" and fills
// in the scheme's default port. The host is returned as written (not yet
// normalised), without brackets.
func SplitHostPort(hostport, scheme string) (string, int, error) {
	if hostport == "" {
		return "", 0, errors.New("empty host")
	}
	host, portStr := hostport, ""
	switch {
	case strings.HasPrefix(hostport, "["):
		end := strings.Index(hostport, "]")
		if end < 0 {
			return "", 0, errors.New("unclosed [ in IPv6 literal")
		}
		host = hostport[1:end]
		after := hostport[end+1:]
		if after != "" {
			if !strings.HasPrefix(after, ":") {
				return "", 0, errors.New("unexpected text after IPv6 literal")
			}
			portStr = after[1:]
			if portStr == "" {
				return "", 0, errors.New("empty port")
			}
		}
	case strings.Count(hostport, ":") == 1:
		i := strings.LastIndex(hostport, ":")
		host, portStr = hostport[:i], hostport[i+1:]
		if portStr == "" {
			return "", 0, errors.New("empty port")
		}
	case strings.Count(hostport, ":") > 1:
		return "", 0, errors.New("an IPv6 address must be written in brackets")
	}
	port := DefaultPort(scheme)
	if portStr != "" {
		p, err := strconv.Atoi(portStr)
		if err != nil || p < 1 || p > 65535 || portStr[0] == '+' || (len(portStr) > 1 && portStr[0] == '0') {
			return "", 0, fmt.Errorf("port %q is not a number from 1 to 65535", portStr)
		}
		port = p
	}
	return host, port, nil
}

// hostProfile is the IDNA profile for host names in URLs: it maps case and
// width, converts Unicode labels to punycode and enforces the length rules.
var hostProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.BidiRule(),
	idna.StrictDomainName(false), // allow '_' as used in some service names
	idna.VerifyDNSLength(true),
)

// NormalizeHost returns the canonical spelling of a host name or IP address:
// lower case, punycode for Unicode labels, one trailing dot removed, IPv6
// without brackets or zone, IPv4-mapped IPv6 as plain IPv4. Anything else
// that is not a valid host name (control characters, empty labels, '%',
// more than one trailing dot) is an error.
func NormalizeHost(host string) (string, error) {
	h := strings.TrimPrefix(strings.TrimSuffix(host, "]"), "[")
	if h == "" {
		return "", errors.New("empty host")
	}
	if ip, ok := parseIP(h); ok {
		return ip.String(), nil
	}
	if !utf8.ValidString(h) {
		// IDNA would map invalid bytes to U+FFFD and give every invalid
		// spelling one punycode name; refuse instead.
		return "", fmt.Errorf("host %q is not valid UTF-8", host)
	}
	if strings.Contains(h, "%") {
		return "", fmt.Errorf("host %q contains '%%'", host)
	}
	for _, r := range h {
		if r < 0x21 || r == 0x7f {
			return "", fmt.Errorf("host %q contains a control character or space", host)
		}
	}
	h = strings.TrimSuffix(h, ".")
	ascii, err := hostProfile.ToASCII(h)
	if err != nil {
		return "", fmt.Errorf("host %q is not a valid name: %v", host, err)
	}
	ascii = strings.ToLower(ascii)
	if ascii == "" || strings.HasPrefix(ascii, ".") || strings.HasSuffix(ascii, ".") || strings.Contains(ascii, "..") {
		return "", fmt.Errorf("host %q has an empty label", host)
	}
	for _, c := range ascii {
		ok := c == '-' || c == '.' || c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		if !ok {
			return "", fmt.Errorf("host %q contains %q", host, c)
		}
	}
	// A name made only of digits and dots that is not a dotted quad (for
	// example "2130706433" or "127.1") is how numeric IPv4 tricks are
	// spelled; no real DNS name looks like that, so refuse it outright.
	if strings.Trim(ascii, "0123456789.") == "" || strings.HasPrefix(ascii, "0x") {
		return "", fmt.Errorf("host %q looks like a numeric address in an unusual form", host)
	}
	return ascii, nil
}

// parseIP accepts only the canonical textual forms of IP addresses
// (dotted-quad IPv4, RFC 4291 IPv6) and unmaps IPv4-mapped IPv6.
func parseIP(h string) (netip.Addr, bool) {
	if i := strings.IndexByte(h, '%'); i >= 0 { // zones never name a remote host
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// NormalizeAuthority normalises a request's scheme and "host[:port]" into the
// form Destination.Matches compares against.
func NormalizeAuthority(scheme, hostport string) (host string, port int, err error) {
	h, p, err := SplitHostPort(hostport, scheme)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrBadHost, err)
	}
	n, err := NormalizeHost(h)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrBadHost, err)
	}
	return n, p, nil
}
