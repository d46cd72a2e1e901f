package proxy

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// The fast path (fastpath.go) reads request heads itself instead of through
// net/http's server. It takes only heads whose meaning is beyond doubt;
// anything else goes, byte for byte, to net/http, which answers or refuses
// it as before. So this parser never has to be lenient: when in doubt it
// says no, and the cost of a "no" is only speed.
//
// A head is taken when, and only when:
//   - every line ends in CRLF (no bare CR or LF), and there is no folding;
//   - the request line is METHOD SP target SP "HTTP/1.1" with one of the
//     common methods (never CONNECT), and a target of printable ASCII in
//     origin form (/path) or http:// absolute form, without a fragment;
//   - every field name is a token and every value valid (no CTL but HTAB);
//   - there is exactly one Host, valid, and at most one Content-Length of
//     decimal digits;
//   - there is no Transfer-Encoding, Expect or Upgrade (chunked bodies,
//     100-continue and protocol switches are net/http's);
//   - it has at most fastMaxFields fields.
// FuzzFastHead checks that net/http reads every head taken here the same.

const fastMaxFields = 100

// fastHead is a request head the fast path accepts.
type fastHead struct {
	size          int // bytes through the blank line
	method        string
	target        string
	url           *url.URL    // the target, as net/http's server parses it
	header        http.Header // canonical keys; no Host (as net/http)
	host          string      // the Host field's value
	contentLength int64
	close         bool // Connection: close
}

var (
	crlf      = []byte("\r\n")
	endOfHead = []byte("\r\n\r\n")
)

// fastMethods are the methods the fast path takes, as net/http spells
// them (so the strings are shared, not copied from the request).
var fastMethods = [...]string{
	http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodHead, http.MethodOptions,
}

// headEnd returns the length of the head at the start of b, through its
// blank line, or -1 if b does not hold a whole head yet.
func headEnd(b []byte) int {
	if i := bytes.Index(b, endOfHead); i >= 0 {
		return i + len(endOfHead)
	}
	return -1
}

// parseFastHead parses the head at the start of b. ok is false when b does
// not hold a whole head, or for any head the fast path does not take.
func parseFastHead(b []byte) (h fastHead, ok bool) {
	n := headEnd(b)
	if n < 0 {
		return h, false
	}
	return parseWholeHead(b[:n])
}

// parseWholeHead parses raw, a whole head through its blank line (as
// headEnd measured it).
func parseWholeHead(raw []byte) (h fastHead, ok bool) {
	n := len(raw)
	// CR and LF only as CRLF pairs: no bare LF (which net/http accepts as
	// a line end) and no bare CR.
	lines := bytes.Count(raw, crlf)
	if bytes.Count(raw, []byte{'\n'}) != lines || bytes.Count(raw, []byte{'\r'}) != lines {
		return h, false
	}
	// One string for the whole head: every method, target, name and value
	// below is a substring of it, not an allocation of its own.
	s := string(raw[:n-2]) // up to the last field's CRLF
	h.size = n

	line, rest, _ := cutCRLF(s)
	if !h.requestLine(line) {
		return h, false
	}

	// Every CRLF ends a line: the request line, one per field, and the
	// blank line (the first CRLFCRLF, so no field line is empty).
	fields := lines - 2
	if fields > fastMaxFields {
		return h, false
	}
	h.header = make(http.Header, fields)
	values := make([]string, fields) // one backing array for all the values
	hosts, lengths := 0, 0
	for i := 0; rest != ""; i++ {
		var l string
		l, rest, _ = cutCRLF(rest)
		name, value, ok := parseField(l)
		if !ok {
			return h, false
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		switch key {
		case "Host":
			hosts++
			h.host = value
			continue
		case "Content-Length":
			lengths++
			cl, ok := parseContentLength(value)
			if !ok {
				return h, false
			}
			h.contentLength = cl
		case "Transfer-Encoding", "Expect", "Upgrade":
			return h, false
		case "Connection":
			if httpguts.HeaderValuesContainsToken([]string{value}, "close") {
				h.close = true
			}
		}
		values[i] = value
		h.header[key] = append(h.header[key], values[i:i+1:i+1]...)
	}
	if hosts != 1 || lengths > 1 || !httpguts.ValidHostHeader(h.host) {
		return h, false
	}
	// As net/http: a Pragma: no-cache without Cache-Control implies it.
	if p, ok := h.header["Pragma"]; ok && len(p) > 0 && p[0] == "no-cache" {
		if _, ok := h.header["Cache-Control"]; !ok {
			h.header["Cache-Control"] = []string{"no-cache"}
		}
	}
	return h, true
}

// requestLine parses METHOD SP target SP HTTP/1.1.
func (h *fastHead) requestLine(line string) bool {
	sp := indexByte(line, ' ')
	if sp <= 0 {
		return false
	}
	method := line[:sp]
	h.method = ""
	for _, m := range fastMethods {
		if method == m {
			h.method = m
			break
		}
	}
	if h.method == "" {
		return false
	}
	rest := line[sp+1:]
	sp = indexByte(rest, ' ')
	if sp <= 0 || rest[sp+1:] != "HTTP/1.1" {
		return false
	}
	h.target = rest[:sp]
	for i := 0; i < len(h.target); i++ {
		if c := h.target[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return false // '#': ParseRequestURI and Parse read fragments differently
		}
	}
	// Origin form (inside tunnels) or an http:// absolute form (on the
	// listener); https:// and the rest are net/http's.
	if h.target[0] != '/' && !strings.HasPrefix(h.target, "http://") {
		return false
	}
	u, err := url.ParseRequestURI(h.target)
	if err != nil {
		return false
	}
	h.url = u
	return true
}

// parseField splits "Name: value" and checks both. No whitespace may come
// before the colon or begin the line (obsolete folding).
func parseField(l string) (name, value string, ok bool) {
	colon := indexByte(l, ':')
	if colon <= 0 {
		return "", "", false
	}
	name = l[:colon]
	for i := 0; i < len(name); i++ {
		if !httpguts.IsTokenRune(rune(name[i])) {
			return "", "", false
		}
	}
	value = trimOWS(l[colon+1:])
	if !httpguts.ValidHeaderFieldValue(value) {
		return "", "", false
	}
	return name, value, true
}

// parseContentLength takes only plain decimal digits (no sign, no spaces,
// no list), up to a length that cannot overflow.
func parseContentLength(v string) (int64, bool) {
	if v == "" || len(v) > 15 {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

func cutCRLF(s string) (line, rest string, found bool) {
	return strings.Cut(s, "\r\n")
}

func indexByte(s string, c byte) int { return strings.IndexByte(s, c) }

// trimOWS trims the optional whitespace (SP, HTAB) around a field value.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
