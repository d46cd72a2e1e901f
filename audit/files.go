package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// rotatedName is the name a full log at path gets: its first record's seq,
// zero-padded so that names sort in chain order.
func rotatedName(path string, firstSeq uint64) string {
	return fmt.Sprintf("%s.%012d", path, firstSeq)
}

// Files returns the durable log at path as a chain of files, oldest first:
// the rotated files "<path>.<digits>" in numeric order, then path itself
// if it exists. It fails when neither exists.
func Files(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type rotated struct {
		name string
		seq  uint64
	}
	var rs []rotated
	for _, e := range ents {
		digits, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		seq, err := strconv.ParseUint(digits, 10, 64)
		if err != nil {
			continue
		}
		rs = append(rs, rotated{filepath.Join(filepath.Dir(path), e.Name()), seq})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].seq < rs[j].seq })
	out := make([]string, 0, len(rs)+1)
	for _, r := range rs {
		out = append(out, r.name)
	}
	if _, err := os.Stat(path); err == nil {
		out = append(out, path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	return out, nil
}

// syncDir makes a rename or create in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
