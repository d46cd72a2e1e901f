package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

// rotate renames the full log to rotatedName and opens a new, empty one.
// The next record goes first in the new file, marked file_start, and
// chains to the renamed file's last record like any other.
func (s *DurableSink) rotate() error {
	if s.opts.SyncInterval > 0 {
		// The renamed file must be complete on disk before it is left.
		if err := s.flush(); err != nil {
			return err
		}
	}
	name := rotatedName(s.path, s.firstSeq)
	if _, err := os.Lstat(name); err == nil {
		return fmt.Errorf("audit %s: cannot rotate: %s already exists", s.path, name)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("audit %s: cannot rotate: %w", s.path, err)
	}
	s.f.Close()
	s.f = nil // if the rename fails, the next Write reopens the full file and tries again
	if err := os.Rename(s.path, name); err != nil {
		return fmt.Errorf("audit %s: rotate: %w", s.path, err)
	}
	s.size, s.firstSeq = 0, 0
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return fmt.Errorf("audit %s: rotate: sync directory: %w", s.path, err)
	}
	s.log.Info("audit log rotated", zap.String("file", name), zap.Uint64("last_seq", s.seq))
	if err := s.openLog(); err != nil {
		return err
	}
	s.prune()
	return nil
}

// prune removes the oldest rotated files beyond opts.MaxFiles. A file
// that cannot be removed is logged and tried again at the next rotation:
// keeping too much is no reason to refuse a record.
func (s *DurableSink) prune() {
	if s.opts.MaxFiles <= 0 {
		return
	}
	files, err := Files(s.path)
	if err != nil {
		s.log.Warn("audit log retention: cannot list the rotated files", zap.Error(err))
		return
	}
	rotated := files
	if rotated[len(rotated)-1] == s.path {
		rotated = rotated[:len(rotated)-1] // the live log, just opened
	}
	for len(rotated) > s.opts.MaxFiles {
		if err := os.Remove(rotated[0]); err != nil {
			s.log.Warn("audit log retention: cannot remove a rotated file", zap.String("file", rotated[0]), zap.Error(err))
			return
		}
		s.log.Info("audit log retention: removed the oldest rotated file", zap.String("file", rotated[0]), zap.Int("max_files", s.opts.MaxFiles))
		rotated = rotated[1:]
	}
}
