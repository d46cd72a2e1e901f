package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

// start opens the log at start-up and resumes the chain from what is on
// disk: the current file's last record, else the newest rotated file's,
// else genesis. The head must agree.
func (s *DurableSink) start() error {
	fi, err := os.Stat(s.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("audit %s: %w", s.path, err)
	}
	s.regular = err != nil || fi.Mode().IsRegular()
	if s.regular {
		// Lock before reading: no other sink may be appending meanwhile.
		if err := s.lockHead(); err != nil {
			return err
		}
	}
	if err := s.openLog(); err != nil {
		return err
	}
	if !s.regular {
		return nil // a device: nothing to resume, and no head beside it
	}
	h, hasHead, err := readHead(HeadPath(s.path))
	if err != nil {
		return fmt.Errorf("audit %s: %w (if the log verifies, remove it to accept the log as it is)", s.path, err)
	}
	if err := s.resumeCurrent(); err != nil {
		return err
	}
	if s.seq == 0 {
		if err := s.resumeRotated(); err != nil {
			return err
		}
	}
	verifyHint := fmt.Sprintf("refusing to continue the chain (run alter audit verify %s; to accept the log as it is, remove %s)", s.path, HeadPath(s.path))
	switch {
	case hasHead && h.Seq > s.seq:
		return fmt.Errorf("audit %s ends at record %d but %s says the log reached record %d: records were cut from the end; %s",
			s.path, s.seq, HeadPath(s.path), h.Seq, verifyHint)
	case hasHead && h.Seq == s.seq && h.Hash != s.hash:
		return fmt.Errorf("audit %s: record %d does not match %s: the last record was edited; %s", s.path, s.seq, HeadPath(s.path), verifyHint)
	}
	s.synced = s.seq
	if !hasHead || h.Seq != s.seq {
		if err := s.writeHead(head{Seq: s.seq, Hash: s.hash}); err != nil {
			return fmt.Errorf("audit %s: write %s: %w", s.path, HeadPath(s.path), err)
		}
	}
	return nil
}

// openLog opens the current file (creating it durably) into s.f.
func (s *DurableSink) openLog() error {
	_, statErr := os.Stat(s.path)
	f, err := s.opts.openFile(s.path)
	if err != nil {
		return fmt.Errorf("audit %s: %w", s.path, err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		if err := syncDir(filepath.Dir(s.path)); err != nil {
			f.Close()
			return fmt.Errorf("audit %s: sync directory: %w", s.path, err)
		}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit %s: %w", s.path, err)
	}
	s.f, s.regular, s.size, s.firstSeq = f, fi.Mode().IsRegular(), 0, 0
	return nil
}

// resumeCurrent takes the chain state from the current file. A torn last
// line (no newline: a write a crash interrupted, so never acknowledged) is
// cut off, but only once every complete line of the file verifies.
func (s *DurableSink) resumeCurrent() error {
	fi, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("audit %s: %w", s.path, err)
	}
	size := fi.Size()
	if size == 0 {
		return nil
	}
	end, err := afterLastNewline(s.f, size)
	if err != nil {
		return fmt.Errorf("audit %s: %w; refusing to continue the chain", s.path, err)
	}
	if end < size {
		if err := s.cutTorn(end, size); err != nil {
			return err
		}
		if end == 0 {
			return nil
		}
	}
	last, start, err := lineBefore(s.f, end)
	if err != nil {
		return fmt.Errorf("audit %s: %w; refusing to continue the chain", s.path, err)
	}
	e, err := parseChained(last)
	if err != nil {
		return fmt.Errorf("audit %s line %d: the last record is damaged (%v); refusing to continue the chain (run alter audit verify %s)",
			s.path, lineNumber(s.f, start), err, s.path)
	}
	first, err := firstLine(s.f, end)
	if err != nil {
		return fmt.Errorf("audit %s: %w", s.path, err)
	}
	fe, err := parseChained(first)
	if err != nil {
		return fmt.Errorf("audit %s line 1: the first record is damaged (%v); refusing to continue the chain (run alter audit verify %s)", s.path, err, s.path)
	}
	s.seq, s.hash, s.size, s.firstSeq = e.Seq, e.Hash, end, fe.Seq
	return nil
}

// cutTorn removes the bytes after the last newline once the lines before
// them verify on their own.
func (s *DurableSink) cutTorn(end, size int64) error {
	v := &verifier{}
	err := v.file(s.path, io.NewSectionReader(s.f, 0, end))
	if err == nil {
		_, err = v.finish()
	}
	if err != nil {
		return fmt.Errorf("audit %s: the last line is incomplete (a write torn by a crash?) and the lines before it do not verify: %v; refusing to continue the chain", s.path, err)
	}
	if err := s.f.Truncate(end); err != nil {
		return fmt.Errorf("audit %s: cut torn last line: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("audit %s: cut torn last line: %w", s.path, err)
	}
	s.log.Warn("audit log: removed a torn last line left by a crash; that record was never acknowledged",
		zap.String("file", s.path), zap.Int("line", v.lastLine+1), zap.Int64("bytes", size-end), zap.Uint64("after_seq", v.lastSeq))
	return nil
}

// resumeRotated takes the chain state from the newest rotated file, for a
// current file that is empty or was never created after a rotation.
func (s *DurableSink) resumeRotated() error {
	files, err := Files(s.path)
	if err != nil {
		return fmt.Errorf("audit %s: %w", s.path, err)
	}
	if files[len(files)-1] == s.path {
		files = files[:len(files)-1]
	}
	if len(files) == 0 {
		return nil // a new chain
	}
	newest := files[len(files)-1]
	f, err := os.Open(newest)
	if err != nil {
		return fmt.Errorf("audit %s: %w", s.path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("audit %s: %w", s.path, err)
	}
	end, err := afterLastNewline(f, fi.Size())
	if err == nil && end != fi.Size() {
		err = errors.New("its last line is incomplete")
	}
	var last []byte
	if err == nil {
		last, _, err = lineBefore(f, end)
	}
	var e Entry
	if err == nil {
		e, err = parseChained(last)
	}
	if err != nil {
		return fmt.Errorf("audit %s: the rotated file %s cannot be continued: %v; refusing to continue the chain (run alter audit verify %s)", s.path, newest, err, s.path)
	}
	s.seq, s.hash = e.Seq, e.Hash
	return nil
}

// ensureOpen gets the sink a usable log before a write: it notices a log
// that was removed or replaced while open (the chain then continues in a
// new file) and reopens after a failure.
func (s *DurableSink) ensureOpen() error {
	if s.f != nil && s.regular {
		if gone, err := replaced(s.path, s.f); err != nil {
			return fmt.Errorf("audit %s: %w", s.path, err)
		} else if gone {
			s.log.Error("audit log was removed or replaced while open; the chain continues in a new file (records before it are no longer in "+s.path+")",
				zap.String("file", s.path), zap.Uint64("last_seq", s.seq))
			s.f.Close()
			s.f = nil
		}
	}
	if s.f == nil {
		if err := s.reopen(); err != nil {
			return err
		}
	}
	if s.headFile != nil {
		if gone, err := replaced(HeadPath(s.path), s.headFile); err != nil {
			return fmt.Errorf("audit %s: %w", s.path, err)
		} else if gone {
			s.log.Error("audit head file was removed or replaced; writing it again", zap.String("file", HeadPath(s.path)))
			s.headFile.Close()
			s.headFile = nil
			if err := s.lockHead(); err != nil {
				return err
			}
			s.headDirty = true
		}
	}
	return nil
}

// replaced reports whether path no longer names the open file f.
func replaced(path string, f interface{ Stat() (os.FileInfo, error) }) (bool, error) {
	pfi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	ffi, err := f.Stat()
	if err != nil {
		return false, err
	}
	return !os.SameFile(pfi, ffi), nil
}

// reopen opens the log again while the sink runs. The file must end with
// the record the sink wrote last; if it ends with the record after it,
// that is one whose Write failed and could not be cut back then, and it
// is cut now. Anything else means someone else changed the log.
func (s *DurableSink) reopen() error {
	if err := s.openLog(); err != nil {
		return err
	}
	if !s.regular {
		return nil
	}
	fi, err := s.f.Stat()
	if err == nil && fi.Size() > 0 {
		err = s.adopt(fi.Size())
	}
	if err != nil {
		s.f.Close()
		s.f = nil
		return err
	}
	return nil
}

// adopt checks a reopened, non-empty log against the sink's state and
// cuts a failed record from its end.
func (s *DurableSink) adopt(size int64) error {
	end, err := afterLastNewline(s.f, size)
	if err != nil {
		return fmt.Errorf("audit %s: %w", s.path, err)
	}
	cut := end // a torn fragment after end is a failed write of ours
	if end > 0 {
		last, start, err := lineBefore(s.f, end)
		if err != nil {
			return fmt.Errorf("audit %s: %w", s.path, err)
		}
		e, err := parseChained(last)
		switch {
		case err == nil && e.Seq == s.seq && e.Hash == s.hash:
		case err == nil && e.Seq == s.seq+1 && e.Prev == s.hash:
			cut = start
		default:
			got := "a damaged record"
			if err == nil {
				got = fmt.Sprintf("record %d", e.Seq)
			}
			return fmt.Errorf("audit %s was changed by someone else: it ends with %s, this sink last wrote record %d; not writing to it (run alter audit verify %s)",
				s.path, got, s.seq, s.path)
		}
	}
	if cut < size {
		s.log.Warn("audit log: removed a record whose write had failed", zap.String("file", s.path), zap.Int64("bytes", size-cut))
		if err := s.f.Truncate(cut); err != nil {
			return fmt.Errorf("audit %s: cut a failed record: %w", s.path, err)
		}
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("audit %s: cut a failed record: %w", s.path, err)
		}
	}
	s.size = cut
	if cut > 0 {
		first, err := firstLine(s.f, cut)
		if err != nil {
			return fmt.Errorf("audit %s: %w", s.path, err)
		}
		fe, err := parseChained(first)
		if err != nil {
			return fmt.Errorf("audit %s line 1: %v", s.path, err)
		}
		s.firstSeq = fe.Seq
	}
	return nil
}

// afterLastNewline returns the offset just past the last newline in the
// first size bytes of r, 0 when there is none.
func afterLastNewline(r io.ReaderAt, size int64) (int64, error) {
	i, err := lastNewlineBefore(r, size)
	if err != nil {
		return 0, err
	}
	return i + 1, nil
}

// lastNewlineBefore returns the offset of the last newline before end, or
// -1 when the file has none. It looks back at most MaxLineBytes+1 bytes.
func lastNewlineBefore(r io.ReaderAt, end int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for pos := end; pos > 0; {
		if end-pos > MaxLineBytes+1 {
			return 0, errLineTooLong
		}
		n := min(int64(len(buf)), pos)
		pos -= n
		if _, err := r.ReadAt(buf[:n], pos); err != nil && err != io.EOF {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return pos + int64(i), nil
		}
	}
	return -1, nil
}

// lineBefore returns the line that ends with the newline at end-1, and
// the offset where it starts.
func lineBefore(r io.ReaderAt, end int64) ([]byte, int64, error) {
	i, err := lastNewlineBefore(r, end-1)
	if err != nil {
		return nil, 0, err
	}
	start := i + 1
	line := make([]byte, end-1-start)
	if _, err := r.ReadAt(line, start); err != nil && err != io.EOF {
		return nil, 0, err
	}
	return line, start, nil
}

// firstLine returns the first line of a file whose complete lines end at
// end.
func firstLine(r io.ReaderAt, end int64) ([]byte, error) {
	lr := newLineReader(io.NewSectionReader(r, 0, end))
	line, _, err := lr.next()
	return line, err
}

// lineNumber counts the lines before offset off, for error messages.
func lineNumber(r io.ReaderAt, off int64) int {
	lr := newLineReader(io.NewSectionReader(r, 0, off))
	for {
		if _, _, err := lr.next(); err != nil {
			return lr.n + 1
		}
	}
}
