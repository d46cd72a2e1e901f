package audit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// DurableOptions tune a DurableSink. The zero value fsyncs every record
// and never rotates.
type DurableOptions struct {
	// SyncInterval 0 fsyncs the log and the head before Write returns, so
	// a record Write accepted survives a crash: the fail-closed guarantee.
	// A positive interval fsyncs in the background at most that often;
	// records accepted since the last fsync can be lost in a crash.
	SyncInterval time.Duration
	// MaxSize rotates the log before a record would take it past this
	// many bytes; 0 never rotates.
	MaxSize int64
	// MaxFiles keeps at most this many rotated files: after a rotation
	// the oldest beyond it are removed, whole (so the rest still verify,
	// from a later start). 0 keeps them all.
	MaxFiles int
	// Logger is told what the sink repairs or notices on its own: a torn
	// last line cut at start-up, a log file removed while open, rotation.
	// nil discards these messages.
	Logger *zap.Logger

	// WaitLock makes NewDurableSink wait for another process's lock on
	// the log instead of refusing: for writers that open the log, append
	// one record and close it again (the admin log of the CLI commands).
	WaitLock bool

	// openFile opens the log for appending; tests substitute files that
	// fail on demand.
	openFile func(path string) (logFile, error)
}

// logFile is what the sink needs of its open log.
type logFile interface {
	io.Writer
	io.ReaderAt
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

func openOSFile(path string) (logFile, error) {
	// Read-write so that reopening can check the last record.
	return os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_RDWR, 0o600)
}

// DurableSink appends hash-chained records to a file (see the package
// documentation for the format). It is safe for concurrent use.
type DurableSink struct {
	mu   sync.Mutex
	path string
	opts DurableOptions
	enc  zapcore.Encoder
	log  *zap.Logger

	f        logFile // nil: (re)open before the next write
	regular  bool    // false for a device such as /dev/full: no cut-back, rotation or head
	size     int64   // bytes of complete records in f
	firstSeq uint64  // seq of f's first record; 0 while f has none

	seq    uint64 // last record accepted; 0 before the first
	hash   string // its LineHash, or Genesis
	synced uint64 // last seq fsynced and written to the head
	// written is seq for Seq, which must not wait for mu: a Write holds
	// it across fsyncs, and a stuck disk would hang every scrape.
	written atomic.Uint64

	headFile  *os.File // open and flock'ed for the sink's lifetime
	headDirty bool     // the last head write failed

	err    error // why the last write or fsync failed; nil when it succeeded
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

var _ Sink = (*DurableSink)(nil)

// NewDurableSink opens (or creates, mode 0600) the durable log at path and
// resumes its chain; see the package documentation for what it refuses.
// The directory must exist.
func NewDurableSink(path string, opts DurableOptions) (*DurableSink, error) {
	switch path {
	case "", "stdout", "stderr":
		return nil, fmt.Errorf("durable audit log: %q is not a file path", path)
	}
	if opts.SyncInterval < 0 || opts.MaxSize < 0 || opts.MaxFiles < 0 {
		return nil, errors.New("durable audit log: negative sync interval, max size or max files")
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("audit %s: directory %s: %w", path, dir, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("audit %s: %s is not a directory", path, dir)
	}
	if opts.openFile == nil {
		opts.openFile = openOSFile
	}
	s := &DurableSink{path: path, opts: opts, enc: newEncoder(), log: opts.Logger, hash: Genesis}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if err := s.start(); err != nil {
		s.closeFiles()
		return nil, err
	}
	s.written.Store(s.seq)
	if opts.SyncInterval > 0 {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.flushLoop()
	}
	return s, nil
}

// Path returns the log's file name.
func (s *DurableSink) Path() string { return s.path }

// Seq returns the seq of the last record written (0 before the first):
// a shipper's or forwarder's distance from it is how far it lags.
// It does not wait for a Write under way.
func (s *DurableSink) Seq() uint64 { return s.written.Load() }

// Write appends r as the next record of the chain. A zero r.Time is set to
// now. It returns nil only when the record is written and, with the
// default SyncInterval, fsynced and in the head; on an error the record is
// not in the log, and the next Write tries again.
func (s *DurableSink) Write(r Record) error {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.err = s.write(r)
	return s.err
}

func (s *DurableSink) write(r chained) error {
	if err := s.ensureOpen(); err != nil {
		return err
	}
	if s.headDirty || (s.opts.SyncInterval > 0 && s.err != nil) {
		// A head write or background fsync failed: nothing more is
		// accepted until one succeeds.
		if err := s.flush(); err != nil {
			return err
		}
	}
	seq := s.seq + 1
	line, err := encodeLine(s.enc, r, seq, s.hash, s.size == 0)
	if err != nil {
		return fmt.Errorf("audit %s: encode record %d: %w", s.path, seq, err)
	}
	if s.opts.MaxSize > 0 && s.regular && s.size > 0 && s.size+int64(len(line)) > s.opts.MaxSize {
		if err := s.rotate(); err != nil {
			return err
		}
		if line, err = encodeLine(s.enc, r, seq, s.hash, true); err != nil {
			return fmt.Errorf("audit %s: encode record %d: %w", s.path, seq, err)
		}
	}
	before := s.size
	// One write call per line: with O_APPEND a line is never interleaved
	// with another writer's bytes.
	if _, err := s.f.Write(line); err != nil {
		return s.cutBack(before, fmt.Errorf("write record %d: %w", seq, err))
	}
	hash := LineHash(line[:len(line)-1])
	if s.opts.SyncInterval == 0 {
		if err := s.syncLog(); err != nil {
			return s.cutBack(before, fmt.Errorf("fsync record %d: %w", seq, err))
		}
		if err := s.writeHead(head{Seq: seq, Hash: hash}); err != nil {
			// The head may now name a record we are about to cut: put the
			// old one back, or leave it dirty for the next Write to fix.
			if s.writeHead(head{Seq: s.seq, Hash: s.hash}) != nil {
				s.headDirty = true
			}
			return s.cutBack(before, fmt.Errorf("update %s for record %d: %w", HeadPath(s.path), seq, err))
		}
		s.synced = seq
	}
	s.size += int64(len(line))
	if s.firstSeq == 0 {
		s.firstSeq = seq
	}
	s.seq, s.hash = seq, hash
	s.written.Store(seq)
	return nil
}

// cutBack removes whatever the failed record left after size, so that a
// record whose Write failed is never part of the log. When the cut itself
// fails the file is closed: reopening removes the record (see reopen).
func (s *DurableSink) cutBack(size int64, err error) error {
	err = fmt.Errorf("audit %s: %w", s.path, err)
	if !s.regular {
		return err // a device keeps nothing to cut
	}
	cerr := s.f.Truncate(size)
	if cerr == nil {
		cerr = s.f.Sync()
	}
	if cerr != nil {
		s.f.Close()
		s.f = nil
	}
	return err
}

// syncLog fsyncs the log. Devices and pipes cannot be fsynced; for them a
// successful write is all there is.
func (s *DurableSink) syncLog() error {
	err := s.f.Sync()
	if !s.regular && errors.Is(err, syscall.EINVAL) {
		return nil
	}
	return err
}

// flush fsyncs everything written so far and records it in the head.
func (s *DurableSink) flush() error {
	if s.f != nil {
		if err := s.syncLog(); err != nil {
			return fmt.Errorf("audit %s: fsync: %w", s.path, err)
		}
	}
	if err := s.writeHead(head{Seq: s.seq, Hash: s.hash}); err != nil {
		s.headDirty = true
		return fmt.Errorf("audit %s: update %s: %w", s.path, HeadPath(s.path), err)
	}
	s.headDirty = false
	s.synced = s.seq
	return nil
}

// flushLoop fsyncs every SyncInterval while records are waiting.
func (s *DurableSink) flushLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			if !s.closed && s.f != nil && (s.synced != s.seq || s.headDirty) {
				s.err = s.flush()
			}
			s.mu.Unlock()
		}
	}
}

// Ready reports whether the sink can take records: nil after a successful
// write, the last failure otherwise. After a failure it probes the disk
// (reopening the log, fsync, a scratch file beside it) so that readiness
// comes back without a record having to be risked first.
func (s *DurableSink) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.err != nil {
		if s.probe() == nil {
			s.err = nil
		}
	}
	return s.err
}

// probe checks that a record could be written now, without writing one.
func (s *DurableSink) probe() error {
	if err := s.ensureOpen(); err != nil {
		return err
	}
	if !s.regular {
		_, err := s.f.Write([]byte("\n")) // a device has no chain to disturb
		return err
	}
	if err := s.flush(); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(make([]byte, 4096)); err != nil {
		return err
	}
	return f.Sync()
}

// Close fsyncs what is pending, closes the files and releases the lock.
// Later writes return ErrClosed.
func (s *DurableSink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var err error
	if s.f != nil && s.regular && (s.synced != s.seq || s.headDirty) {
		err = s.flush()
	}
	s.closeFiles()
	s.mu.Unlock()
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	return err
}

func (s *DurableSink) closeFiles() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	if s.headFile != nil {
		s.headFile.Close() // releases the flock
		s.headFile = nil
	}
}
