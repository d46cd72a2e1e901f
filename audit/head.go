package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/alter-sidecar/alter/internal/filelock"
)

// HeadPath returns the head file kept beside the durable log at path.
func HeadPath(path string) string { return path + ".head" }

// head is the last record the sink made durable: the anchor that makes a
// log cut short detectable.
type head struct {
	Seq  uint64
	Hash string
}

const headMagic = "alter-audit-head v1"

// headLen is the size of every head file: fixed, so an overwrite in place
// never leaves a tail of an older, longer value.
var headLen = len(head{Hash: Genesis}.format())

func (h head) format() string {
	return fmt.Sprintf("%s seq=%020d sha256=%s\n", headMagic, h.Seq, h.Hash)
}

// parseHead reads the format written by head.format.
func parseHead(b []byte) (head, error) {
	s := string(b)
	rest, ok := strings.CutPrefix(s, headMagic+" seq=")
	if !ok || len(s) != headLen || !strings.HasSuffix(s, "\n") {
		return head{}, errors.New("not an audit head file (or damaged)")
	}
	seqText, hash, ok := strings.Cut(strings.TrimSuffix(rest, "\n"), " sha256=")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if !ok || err != nil || !isHash(hash) {
		return head{}, errors.New("not an audit head file (or damaged)")
	}
	return head{Seq: seq, Hash: hash}, nil
}

// readHead returns the head at path; ok is false when there is none.
func readHead(path string) (h head, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return head{}, false, nil
	}
	if err != nil {
		return head{}, false, err
	}
	if len(b) == 0 {
		return head{}, false, nil // created by lockHead, not written yet
	}
	if len(b) > headLen+1 {
		b = b[:headLen+1] // enough to fail the length check without reading more
	}
	h, err = parseHead(b)
	if err != nil {
		return head{}, false, fmt.Errorf("%s: %w", path, err)
	}
	return h, true, nil
}

// lockHead opens the head file, creating it empty if needed, and takes an
// exclusive lock on it for the sink's lifetime: two processes appending
// to one log would interleave two chains.
func (s *DurableSink) lockHead() error {
	path := HeadPath(s.path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit %s: %w", s.path, err)
	}
	var locked bool
	if s.opts.WaitLock {
		locked, err = true, filelock.Lock(f)
	} else {
		locked, err = filelock.TryLock(f)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("audit %s: lock %s: %w", s.path, path, err)
	}
	if !locked {
		f.Close()
		return fmt.Errorf("audit %s is in use by another process (it holds the lock on %s)", s.path, path)
	}
	s.headFile = f
	return nil
}

// writeHead overwrites the head in place and fsyncs it. A device log has
// no head.
func (s *DurableSink) writeHead(h head) error {
	if s.headFile == nil {
		return nil
	}
	if _, err := s.headFile.WriteAt([]byte(h.format()), 0); err != nil {
		return err
	}
	return s.headFile.Sync()
}
