package secretstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/alter-sidecar/alter/internal/filelock"
)

// Writing the store file safely. Two rules: a reader (another process, or
// a crash) only ever sees the old file or the new one, never half of one;
// and two writers never both start from the same old file, which would lose
// one's change. The first is a temp file renamed over the original; the
// second is an exclusive lock (filelock) on a sibling "<path>.lock" held from reading
// the file to renaming the new one.
//
// The lock file is left in place: removing it would let a writer that
// opened it just before the removal lock a file nobody else sees.

// lockStore takes the exclusive write lock for the store at path. The lock
// is polled rather than blocked on so a cancelled ctx ends the wait.
func lockStore(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock store: %w", err)
	}
	wait := time.Millisecond
	for {
		locked, err := filelock.TryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock store %s: %w", path, err)
		}
		if locked {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("lock store %s: %w", path, ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, 50*time.Millisecond)
	}
	// Closing the descriptor releases the lock.
	return func() { f.Close() }, nil
}

// writeAtomic replaces path with data: a temp file in the same directory
// (mode 0600), fsync, rename, fsync of the directory.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write store: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp already uses 0600; say so in case that ever changes.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("write store: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write store: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write store: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write store: %w", err)
	}
	return syncDir(dir)
}
