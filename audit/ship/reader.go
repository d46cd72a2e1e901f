package ship

import (
	"bufio"
	"bytes"
	"errors"
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

// logFile is one file of the log with its first record.
type logFile struct {
	name  string
	first audit.Entry
}

// logFiles lists the log's files, oldest first, with their first
// records; a file with no complete line yet is left out.
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
		first, ok, err := firstEntry(name)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // rotated away between listing and opening: listed again next pass
			}
			return nil, err
		}
		if ok {
			out = append(out, logFile{name: name, first: first})
		}
	}
	return out, nil
}

func firstEntry(name string) (audit.Entry, bool, error) {
	f, err := os.Open(name)
	if err != nil {
		return audit.Entry{}, false, err
	}
	defer f.Close()
	lr := newLineReader(f, 0)
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
	f, err := os.Open(file.name)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	lr := newLineReader(f, offset)
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
