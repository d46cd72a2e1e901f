package audit

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"plain", "deploy hotfix #42", 256, "deploy hotfix #42"},
		{"newline injection", "a\n{\"decision\":\"allow\"}", 256, `a\n{"decision":"allow"}`},
		{"crlf and tab", "a\r\nb\tc", 256, `a\r\nb\tc`},
		{"NUL", "a\x00b", 256, `a\x00b`},
		{"DEL", "a\x7fb", 256, `a\x7fb`},
		{"escape sequence", "\x1b[2Jhidden", 256, `\x1b[2Jhidden`},
		{"invalid utf8", "a\xffb", 256, `a\xffb`},
		{"C1 control", "a\u0085b", 256, `a\u0085b`},
		{"line separator", "a\u2028b", 256, `a\u2028b`},
		{"backslash kept", `C:\dir`, 256, `C:\dir`},
		{"utf8 kept", "naïve ✓", 256, "naïve ✓"},
		{"exactly max", strings.Repeat("a", 256), 256, strings.Repeat("a", 256)},
		{"one over max", strings.Repeat("a", 257), 256, strings.Repeat("a", 253) + "…"},
		{"long utf8 cut on rune", long, 256, strings.Repeat("é", 126) + "…"},
		{"escape not split", strings.Repeat("a", 250) + "\n\n\n\n", 256, strings.Repeat("a", 250) + `\n` + "…"},
		{"escapes count toward cap", strings.Repeat("\x00", 100), 16, `\x00\x00\x00` + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sanitize(tt.in, tt.max)
			if got != tt.want {
				t.Errorf("Sanitize(%q, %d)\n got %q\nwant %q", tt.in, tt.max, got, tt.want)
			}
			if len(got) > tt.max {
				t.Errorf("len %d > max %d", len(got), tt.max)
			}
			if !utf8.ValidString(got) {
				t.Error("result is not valid UTF-8")
			}
			for _, b := range []byte(got) {
				if b < 0x20 || b == 0x7f {
					t.Fatalf("raw control byte %#x in %q", b, got)
				}
			}
		})
	}
}

func FuzzSanitize(f *testing.F) {
	f.Add("a\n{\"decision\":\"allow\"}", 256)
	f.Add(strings.Repeat("é", 200), 256)
	f.Add("\x00\x7f\xff\u2028", 5)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 4096 {
			return
		}
		got := Sanitize(s, max)
		if len(got) > max && len(got) > len(ellipsis) {
			t.Fatalf("len %d > max %d", len(got), max)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 %q", got)
		}
		if strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' }) {
			t.Fatalf("control character in %q", got)
		}
	})
}
