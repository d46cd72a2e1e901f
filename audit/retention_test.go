package audit

import (
	"testing"
)

// TestMaxFiles: rotation keeps at most MaxFiles rotated files, removing
// the oldest whole, and what is left still verifies (from a later start)
// and resumes.
func TestMaxFiles(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxFiles int
	}{
		{"keep all", 0},
		{"keep two", 2},
		{"keep one", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempLog(t)
			opts := DurableOptions{MaxSize: 4096, MaxFiles: tc.maxFiles}
			writeLog(t, path, opts, 0, 60)
			writeLog(t, path, opts, 60, 120) // a restart in between
			files, err := Files(path)
			if err != nil {
				t.Fatal(err)
			}
			rotated := len(files) - 1
			switch {
			case tc.maxFiles == 0 && rotated < 5:
				t.Fatalf("only %d rotated files: the test writes too little", rotated)
			case tc.maxFiles > 0 && rotated != tc.maxFiles:
				t.Fatalf("%d rotated files kept, want %d", rotated, tc.maxFiles)
			}
			rep, err := Verify(path)
			if err != nil {
				t.Fatalf("verify after retention: %v", err)
			}
			if rep.LastSeq != 120 || (tc.maxFiles == 0) != (rep.FirstSeq == 1) {
				t.Fatalf("report %+v", rep)
			}
		})
	}
}
