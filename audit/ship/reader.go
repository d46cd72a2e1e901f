package ship

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/alter-sidecar/alter/audit"
)

// cursor is where the next unshipped line of one file starts. A file is
// known by its first line's hash, which rotation (a rename) keeps.
type cursor struct {
	first  string
	offset int64
}

// line is one complete log line and where the line after it starts.
type line struct {
	entry audit.Entry
	bad   bool // did not parse as a chained record
	next  cursor
}

// logFile is one file of the log, open, with its first record. It is
// read through the descriptor it was opened with: the sink may rename the
// live file and create a new one under its name at any moment, and the
// first line read must belong to the same file as the lines read later.
type logFile struct {
	name  string
	f     *os.File
	first audit.Entry
}

// logFiles opens the log's files, oldest first, with their first
// records; a file with no complete line yet is left out. Close them with
// closeAll.
func logFiles(path string) ([]logFile, error) {
	names, err := audit.Files(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []logFile
	for _, name := range names {
		f, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // rotated away between listing and opening: listed again next pass
		}
		if err != nil {
			closeAll(out)
			return nil, err
		}
		first, ok, err := firstEntry(f)
		if err != nil || !ok {
			f.Close()
			if err != nil {
				closeAll(out)
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			continue
		}
		out = append(out, logFile{name: name, f: f, first: first})
	}
	return out, nil
}

func closeAll(files []logFile) {
	for _, lf := range files {
		lf.f.Close()
	}
}

func firstEntry(f *os.File) (audit.Entry, bool, error) {
	lr := newLineReader(io.NewSectionReader(f, 0, 1<<62), 0)
	raw, ok, err := lr.next()
	if err != nil || !ok {
		return audit.Entry{}, false, ignoreEOF(err)
	}
	e, err := audit.ParseEntry(raw)
	if err != nil {
		// A damaged first line: the file is still read, known by its hash.
		return audit.Entry{Raw: raw, Hash: audit.LineHash(raw)}, true, nil
	}
	return e, true, nil
}

func ignoreEOF(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}

// readLines calls fn for each complete line of file from offset on, until
// fn returns false or the file ends. A line over audit.MaxLineBytes is
// passed as bad.
func readLines(file logFile, offset int64, fn func(line) bool) error {
	lr := newLineReader(io.NewSectionReader(file.f, offset, 1<<62), offset)
	for {
		raw, ok, err := lr.next()
		if err == io.EOF || (err == nil && !ok) {
			return nil // the end, or a torn last line left for the next pass
		}
		l := line{next: cursor{first: file.first.Hash, offset: lr.offset}}
		switch {
		case errors.Is(err, errLineTooLong):
			l.bad = true
		case err != nil:
			return err
		default:
			e, perr := audit.ParseEntry(raw)
			l.entry, l.bad = e, perr != nil || e.Seq == 0
		}
		if !fn(l) {
			return nil
		}
	}
}

// lineReader splits a file into lines and counts the bytes consumed.
type lineReader struct {
	br     *bufio.Reader
	offset int64 // start of the next line
}

var errLineTooLong = errors.New("line too long")

func newLineReader(r io.Reader, offset int64) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10), offset: offset}
}

// next returns the next complete line without its newline. ok is false
// (with a nil error) for a last line that has no newline yet; nothing of
// it is consumed as far as offset is concerned. A line longer than
// audit.MaxLineBytes is skipped whole and reported as errLineTooLong.
func (lr *lineReader) next() (raw []byte, ok bool, err error) {
	var buf []byte
	var n int64
	tooLong := false
	for {
		chunk, err := lr.br.ReadSlice('\n')
		n += int64(len(chunk))
		if !tooLong {
			buf = append(buf, chunk...)
			if len(buf) > audit.MaxLineBytes+1 {
				tooLong, buf = true, nil
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			if n == 0 {
				return nil, false, io.EOF
			}
			return nil, false, nil
		case err != nil:
			return nil, false, err
		}
		lr.offset += n
		if tooLong {
			return nil, true, errLineTooLong
		}
		return bytes.TrimSuffix(buf, []byte("\n")), true, nil
	}
}
