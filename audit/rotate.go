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
	return s.openLog()
}
