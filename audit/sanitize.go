package audit

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

const ellipsis = "…"

// Sanitize makes client-controlled text safe to log: control characters
// are escaped (newline as `\n`, CR as `\r`, tab as `\t`, other C0 bytes,
// DEL and invalid UTF-8 bytes as `\xNN`, C1 controls and the Unicode
// line/paragraph separators as `\uNNNN`), and the result is cut to at most
// max bytes on a rune boundary, ending in "…" when cut. Escapes are never
// split. Backslashes are kept as they are: the JSON encoder escapes them,
// and the goal is that no raw control character reaches the log.
func Sanitize(s string, max int) string {
	if max < len(ellipsis) {
		max = len(ellipsis)
	}
	if len(s) <= max && isClean(s) {
		return s // the common case: no allocation
	}
	out := make([]byte, 0, min(len(s), max)+8)
	cut := 0 // longest prefix of out that still leaves room for the marker
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			out = fmt.Appendf(out, `\x%02x`, s[i])
		case r == '\n':
			out = append(out, `\n`...)
		case r == '\r':
			out = append(out, `\r`...)
		case r == '\t':
			out = append(out, `\t`...)
		case r < 0x20 || r == 0x7f:
			out = fmt.Appendf(out, `\x%02x`, r)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, s[i:i+size]...)
		}
		i += size
		if len(out) > max {
			return string(append(out[:cut], ellipsis...))
		}
		if len(out) <= max-len(ellipsis) {
			cut = len(out)
		}
	}
	return string(out)
}

// isClean reports whether s needs no escaping.
func isClean(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b == 0x7f || b >= utf8.RuneSelf {
			if b < utf8.RuneSelf {
				return false
			}
			// Non-ASCII: check the slow way.
			for _, r := range s[i:] {
				if r == utf8.RuneError || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
					return false
				}
			}
			return true
		}
	}
	return true
}
