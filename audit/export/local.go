package export

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/alter-sidecar/alter/audit"
)

// Log is one local log to export: a durable or plain grant-use log, or
// the admin log, with its rotated files.
type Log struct {
	Source string // the rows' source column: "local", "admin"
	Path   string
}

// Local writes the rows of logs that pass f to w, oldest first: each log
// is read in order (rotated files, then the current one) and the logs are
// merged by time, one pending row per log. Lines that do not parse are
// skipped and counted.
func Local(w *Writer, f Filter, logs ...Log) (skipped int64, err error) {
	streams := make([]*stream, 0, len(logs))
	defer func() {
		for _, s := range streams {
			s.close()
		}
	}()
	for _, l := range logs {
		files, err := audit.Files(l.Path)
		if err != nil {
			return 0, err
		}
		s := &stream{source: l.Source, files: files, filter: f}
		streams = append(streams, s)
		if err := s.advance(); err != nil {
			return s.skipped, err
		}
	}
	for {
		var next *stream
		for _, s := range streams {
			if s.has && (next == nil || s.row.Time.Before(next.row.Time)) {
				next = s
			}
		}
		if next == nil {
			break
		}
		if err := w.Write(next.row); err != nil {
			return 0, err
		}
		if err := next.advance(); err != nil {
			return 0, err
		}
	}
	for _, s := range streams {
		skipped += s.skipped
	}
	return skipped, nil
}

// stream reads one log's matching rows in order.
type stream struct {
	source  string
	files   []string
	filter  Filter
	f       *os.File
	name    string
	sc      *bufio.Scanner
	row     Row
	has     bool
	skipped int64
}

// advance loads the next matching row into s.row; s.has is false at the
// end.
func (s *stream) advance() error {
	s.has = false
	for {
		if s.sc == nil {
			if len(s.files) == 0 {
				return nil
			}
			f, err := os.Open(s.files[0])
			if err != nil {
				return err
			}
			s.f, s.name, s.files = f, s.files[0], s.files[1:]
			s.sc = bufio.NewScanner(f)
			s.sc.Buffer(make([]byte, 64<<10), audit.MaxLineBytes+1)
		}
		if !s.sc.Scan() {
			err := s.sc.Err()
			s.close()
			if errors.Is(err, bufio.ErrTooLong) {
				return fmt.Errorf("%s: a line longer than %d bytes (run alter audit verify)", s.name, audit.MaxLineBytes)
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read %s: %w", s.name, err)
			}
			continue
		}
		r, err := Parse(s.sc.Bytes())
		if err != nil {
			s.skipped++
			continue
		}
		if !s.filter.Match(r) {
			continue
		}
		r.Source = s.source
		if r.RecordID != "" {
			r.RecordID = s.source + ":" + r.RecordID
		}
		s.row, s.has = r, true
		return nil
	}
}

func (s *stream) close() {
	if s.f != nil {
		s.f.Close()
		s.f, s.sc = nil, nil
	}
}
