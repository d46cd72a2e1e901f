package portal

import (
	"bytes"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// escapeBidi replaces the Unicode bidirectional controls (U+061C, U+200E,
// U+200F, U+202A to U+202E, U+2066 to U+2069) in a rendered page with
// their escapes as text (`\u202e`). A grant name, label or audit field
// holding one could otherwise reorder what the page shows around it (a
// host that reads as another, "Trojan Source"); html/template escapes
// markup, not these. The templates hold none, so every one in a page came
// from data.
func escapeBidi(page []byte) []byte {
	i := bytes.IndexFunc(page, isBidi)
	if i < 0 {
		return page // the common case: nothing to copy
	}
	out := make([]byte, 0, len(page)+16)
	out = append(out, page[:i]...)
	for rest := page[i:]; len(rest) > 0; {
		r, size := utf8.DecodeRune(rest)
		if isBidi(r) {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, rest[:size]...)
		}
		rest = rest[size:]
	}
	return out
}

func isBidi(r rune) bool { return unicode.Is(unicode.Bidi_Control, r) }
