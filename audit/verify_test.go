package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// forge encodes a record that continues the chain after line prev with
// the given seq: a correct-looking line from someone who knows the format.
func forge(t *testing.T, seq uint64, prev []byte) []byte {
	t.Helper()
	r := chainRecord(999)
	r.GrantID = "forged"
	line, err := encodeLine(newEncoder(), r, seq, LineHash(prev), false)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(line, []byte("\n"))
}

var seqRE = regexp.MustCompile(`"seq":(\d+)`)

// renumber adds d to the seq of every line (their prev stays).
func renumber(lines [][]byte, d int) {
	for i, l := range lines {
		lines[i] = seqRE.ReplaceAllFunc(l, func(m []byte) []byte {
			var n int
			fmt.Sscanf(string(m), `"seq":%d`, &n)
			return fmt.Appendf(nil, `"seq":%d`, n+d)
		})
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, path string, lines [][]byte) [][]byte
		kind   ProblemKind // "" for a log that must verify
		seq    uint64
		want   string
	}{
		{"intact", func(_ *testing.T, _ string, l [][]byte) [][]byte { return l }, "", 0, ""},
		{"field edited", func(_ *testing.T, _ string, l [][]byte) [][]byte {
			l[11] = bytes.Replace(l[11], []byte(`"decision":"deny"`), []byte(`"decision":"allow"`), 1)
			return l
		}, ProblemEdited, 12, "record 12 was edited"},
		{"prev edited", func(_ *testing.T, _ string, l [][]byte) [][]byte {
			l[12] = bytes.Replace(l[12], []byte(`"prev":"`), []byte(`"prev":"f`), 1)
			l[12] = bytes.Replace(l[12], []byte(`","file_start`), []byte(`","file_start`), 1)
			return l
		}, ProblemMalformed, 13, "not a hex SHA-256"},
		{"last record edited (head)", func(_ *testing.T, _ string, l [][]byte) [][]byte {
			l[19] = bytes.Replace(l[19], []byte(`"status":403`), []byte(`"status":200`), 1)
			return l
		}, ProblemEdited, 20, "record 20 was edited: its hash does not match"},
		{"record deleted", func(_ *testing.T, _ string, l [][]byte) [][]byte {
			return slices.Delete(l, 12, 13)
		}, ProblemMissing, 13, "record 13 is missing: seq jumps from 12 to 14"},
		{"records deleted", func(_ *testing.T, _ string, l [][]byte) [][]byte {
			return slices.Delete(l, 12, 15)
		}, ProblemMissing, 13, "records 13 to 15 are missing"},
		{"first record deleted", func(_ *testing.T, _ string, l [][]byte) [][]byte {
			return l[1:]
		}, ProblemMissing, 2, "lines before record 2 were removed"},
		{"two records swapped", func(_ *testing.T, _ string, l [][]byte) [][]byte {
			l[11], l[12] = l[12], l[11]
			return l
		}, ProblemReordered, 13, "reordered: record 13 comes before record 12"},
		{"record moved later", func(_ *testing.T, _ string, l [][]byte) [][]byte {
			r := l[4]
			l = slices.Delete(l, 4, 5)
			return slices.Insert(l, 15, r)
		}, ProblemReordered, 6, "record 6 comes before record 5"},
		{"forged record inserted", func(t *testing.T, _ string, l [][]byte) [][]byte {
			return slices.Insert(l, 12, forge(t, 13, l[11]))
		}, ProblemInserted, 13, "record 13 appears twice"},
		{"forged record inserted, later seqs renumbered", func(t *testing.T, _ string, l [][]byte) [][]byte {
			renumber(l[12:], 1)
			return slices.Insert(l, 12, forge(t, 13, l[11]))
		}, ProblemEdited, 13, "record 13 was edited (or inserted)"},
		{"record duplicated", func(_ *testing.T, _ string, l [][]byte) [][]byte {
			return slices.Insert(l, 8, l[7])
		}, ProblemInserted, 8, "record 8 appears twice"},
		{"garbage line", func(_ *testing.T, _ string, l [][]byte) [][]byte {
			return slices.Insert(l, 5, []byte("hello"))
		}, ProblemMalformed, 6, "record 6 is damaged"},
		{"last line cut", func(t *testing.T, path string, l [][]byte) [][]byte {
			writeLines(t, path, l[:19])
			appendBytes(t, path, string(l[19][:40]))
			return nil
		}, ProblemTruncated, 20, "file truncated after record 19"},
		{"last records cut, head kept", func(_ *testing.T, _ string, l [][]byte) [][]byte {
			return l[:17]
		}, ProblemTruncated, 18, "records 18 to 20 were cut from the end"},
		{"every record cut, head kept", func(_ *testing.T, _ string, l [][]byte) [][]byte {
			return [][]byte{}
		}, ProblemTruncated, 1, "cut from the end"},
		// What the chain alone cannot see: records cut from the end
		// together with the head. The report still names the last record,
		// for comparison with a copy kept elsewhere.
		{"last records and head removed (undetectable)", func(t *testing.T, path string, l [][]byte) [][]byte {
			os.Remove(HeadPath(path))
			return l[:17]
		}, "", 0, ""},
		{"plain (non-durable) log", func(t *testing.T, _ string, l [][]byte) [][]byte {
			return [][]byte{[]byte(`{"ts":"2025-03-04T05:06:07Z","msg":"grant_use"}`)}
		}, ProblemMalformed, 0, "not written by the durable sink"},
		{"head damaged", func(t *testing.T, path string, l [][]byte) [][]byte {
			os.WriteFile(HeadPath(path), []byte("alter-audit-head v1 seq=1\n"), 0o600)
			return l
		}, ProblemMalformed, 0, "damaged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tempLog(t)
			writeLog(t, path, DurableOptions{}, 0, 20)
			if lines := tt.tamper(t, path, fileLines(t, path)); lines != nil {
				writeLines(t, path, lines)
			}
			rep, err := Verify(path)
			checkProblem(t, err, tt.kind, tt.seq, tt.want)
			if tt.kind == "" && rep.Records == 0 {
				t.Errorf("report %+v", rep)
			}
		})
	}
}

func checkProblem(t *testing.T, err error, kind ProblemKind, seq uint64, want string) {
	t.Helper()
	if kind == "" {
		if err != nil {
			t.Fatalf("unexpected problem: %v", err)
		}
		return
	}
	var p *Problem
	if !errors.As(err, &p) {
		t.Fatalf("err = %v, want a %s problem", err, kind)
	}
	if p.Kind != kind || p.Seq != seq || !strings.Contains(p.Reason, want) {
		t.Errorf("got %s seq %d %q\nwant %s seq %d containing %q", p.Kind, p.Seq, p.Error(), kind, seq, want)
	}
	if p.File == "" {
		t.Error("problem names no file")
	}
}

func TestVerifyAcrossRotatedFiles(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, files []string)
		kind   ProblemKind
		want   string
	}{
		{"intact", func(*testing.T, []string) {}, "", ""},
		{"middle file removed", func(t *testing.T, f []string) { os.Remove(f[2]) }, ProblemMissing, "(was a rotated file removed?)"},
		{"last record of a rotated file edited", func(t *testing.T, f []string) {
			l := fileLines(t, f[1])
			l[len(l)-1] = bytes.Replace(l[len(l)-1], []byte("POST"), []byte("PUT"), 1)
			writeLines(t, f[1], l)
		}, ProblemEdited, "does not continue"},
		{"first line of a rotated file removed", func(t *testing.T, f []string) {
			writeLines(t, f[3], fileLines(t, f[3])[1:])
		}, ProblemMissing, "lines before record"},
		{"oldest files removed (retention)", func(t *testing.T, f []string) {
			os.Remove(f[0])
			os.Remove(f[1])
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tempLog(t)
			writeLog(t, path, DurableOptions{MaxSize: 4000}, 0, 40)
			files, err := Files(path)
			if err != nil || len(files) < 5 {
				t.Fatalf("files %v %v", files, err)
			}
			tt.tamper(t, files)
			rep, err := Verify(path)
			if tt.kind == "" {
				if err != nil || rep.LastSeq != 40 {
					t.Fatalf("report %+v, err %v", rep, err)
				}
				return
			}
			var p *Problem
			if !errors.As(err, &p) || p.Kind != tt.kind || !strings.Contains(p.Reason, tt.want) {
				t.Errorf("err = %v, want %s containing %q", err, tt.kind, tt.want)
			}
		})
	}
}

func TestVerifyExplicitFiles(t *testing.T) {
	path := tempLog(t)
	writeLog(t, path, DurableOptions{MaxSize: 4000}, 0, 20)
	files, _ := Files(path)
	// Listed out of order, the files do not chain.
	swapped := slices.Clone(files)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	if _, err := VerifyFiles(swapped...); err == nil {
		t.Error("files out of order verified")
	}
	// The newest files alone verify, anchored at their first record.
	rep, err := Verify(files[len(files)-2:]...)
	if err != nil || rep.FirstSeq <= 1 || rep.LastSeq != 20 || !rep.HeadChecked {
		t.Errorf("report %+v, err %v", rep, err)
	}
	if _, err := Verify(tempLog(t)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing log: %v", err)
	}
}
