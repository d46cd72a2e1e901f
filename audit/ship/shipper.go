package ship

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/wire"
)

// Sender delivers a batch; *client.Client is one. It must be idempotent
// by record ID. Errors wrapping secretstore.ErrInvalid mean the server
// refused the batch's content; any other error is retried.
type Sender interface {
	ShipAudit(ctx context.Context, recs []wire.AuditRecord) (int, error)
}

// Options configure a Shipper.
type Options struct {
	// Path is the durable audit log (audit.path).
	Path string
	// StatePath is the position file; default Path + ".ship".
	StatePath string
	Sender    Sender
	// Batch is the most records per request (default and maximum
	// wire.MaxAuditBatch).
	Batch int
	// Interval is how often the log is looked at when all is shipped
	// (default 1s).
	Interval time.Duration
	// MinBackoff and MaxBackoff bound the pause after a failed send
	// (defaults 1s and 1m).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *zap.Logger
}

// Shipper ships one durable log. Use it from one goroutine; Shipped and
// Failing may be read from any.
type Shipper struct {
	opts Options
	log  *zap.Logger
	pos  position
	cur  cursor // in memory only: where pos's record ends

	// For metrics, read from other goroutines.
	shipped atomic.Uint64 // pos.Seq as of the last acknowledgement
	failing atomic.Bool   // the last pass failed
}

// New loads the shipping state. It does not need the log to exist yet.
func New(o Options) (*Shipper, error) {
	switch o.Path {
	case "", "stdout", "stderr":
		return nil, errors.New("audit shipping needs the durable audit log's file path")
	}
	if o.Sender == nil {
		return nil, errors.New("audit shipping: no sender")
	}
	if o.StatePath == "" {
		o.StatePath = o.Path + ".ship"
	}
	if o.Batch <= 0 || o.Batch > wire.MaxAuditBatch {
		o.Batch = wire.MaxAuditBatch
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(time.Minute, o.MinBackoff)
	}
	pos, err := loadState(o.StatePath)
	if err != nil {
		return nil, err
	}
	s := &Shipper{opts: o, log: o.Logger, pos: pos}
	s.shipped.Store(pos.Seq)
	if s.log == nil {
		s.log = zap.NewNop()
	}
	return s, nil
}

// Shipped returns the seq of the last record the server acknowledged.
func (s *Shipper) Shipped() uint64 { return s.shipped.Load() }

// Failing reports whether the last shipping pass failed (the records
// wait in the durable log).
func (s *Shipper) Failing() bool { return s.failing.Load() }

// Run ships until ctx ends, retrying with backoff. Whatever is not
// shipped when it stops stays in the log and the state file, for the
// next run.
func (s *Shipper) Run(ctx context.Context) {
	backoff := s.opts.MinBackoff
	failing := false
	for ctx.Err() == nil {
		n, err := s.ShipOnce(ctx)
		wait := s.opts.Interval
		s.failing.Store(err != nil && ctx.Err() == nil)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				s.log.Warn("audit shipping failed; records stay in the durable log and are retried", zap.Error(err))
				failing = true
			}
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(backoff*2, s.opts.MaxBackoff)
		case err == nil:
			if failing {
				s.log.Info("audit shipping resumed", zap.Uint64("shipped_seq", s.pos.Seq))
				failing = false
			}
			backoff = s.opts.MinBackoff
			if n > 0 {
				s.log.Debug("audit records shipped", zap.Int("count", n), zap.Uint64("shipped_seq", s.pos.Seq))
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// ShipOnce sends everything in the log that the server has not
// acknowledged, batch by batch, and returns how many records it sent.
func (s *Shipper) ShipOnce(ctx context.Context) (int, error) {
	total, gapRetries := 0, 0
	for {
		b, err := s.collect(gapRetries >= maxGapRetries)
		if errors.Is(err, errGap) {
			// Most likely the file list was read while the sink rotated:
			// list again. A gap that persists is real (files removed).
			gapRetries++
			continue
		}
		if errors.Is(err, errDiverged) {
			s.log.Warn("the audit log does not continue from the last shipped record (replaced or restored?); shipping it from its start, records the server has are skipped",
				zap.Uint64("shipped_seq", s.pos.Seq))
			s.pos, s.cur = position{Version: stateVersion}, cursor{}
			s.shipped.Store(0)
			continue
		}
		if err != nil {
			return total, err
		}
		if b.empty() {
			return total, nil
		}
		if err := s.send(ctx, b.recs); err != nil {
			return total, err
		}
		next := position{Version: stateVersion, Seq: b.lastSeq, Hash: b.lastHash}
		if b.lastSeq == 0 { // only unreadable lines: nothing to record but the cursor
			next = s.pos
		}
		if next != s.pos {
			if err := saveState(s.opts.StatePath, next); err != nil {
				return total, err
			}
		}
		s.pos, s.cur = next, b.cur
		s.shipped.Store(next.Seq)
		total += len(b.recs)
		gapRetries = 0
	}
}

// send delivers a batch; when the server refuses it as invalid, one
// record at a time, skipping (and logging) the ones it refuses.
func (s *Shipper) send(ctx context.Context, recs []wire.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	_, err := s.opts.Sender.ShipAudit(ctx, recs)
	if err == nil || !errors.Is(err, secretstore.ErrInvalid) {
		return err
	}
	if len(recs) == 1 {
		s.log.Error("the server refused an audit record; it stays in the local log only",
			zap.String("record_id", recs[0].ID), zap.Error(err))
		return nil
	}
	for _, r := range recs {
		if err := s.send(ctx, []wire.AuditRecord{r}); err != nil {
			return err
		}
	}
	return nil
}

// batch is the next records to send and the position they lead to.
type batch struct {
	recs     []wire.AuditRecord
	lastSeq  uint64
	lastHash string
	cur      cursor
	moved    bool // the cursor moved (possibly over unreadable lines only)
}

func (b batch) empty() bool { return len(b.recs) == 0 && !b.moved }

// errDiverged: the log's chain does not continue from the shipped record.
var errDiverged = errors.New("audit log diverged from the shipped position")

// errGap: the next record in the files is not the next in the chain.
var errGap = errors.New("audit log has a gap")

// maxGapRetries is how often a gap is re-read before it is accepted.
const maxGapRetries = 3

// collect reads the next batch from the log files. A record that skips
// seq numbers ends the batch with errGap (nothing of it collected after
// the gap) unless allowGap: a rotation between listing the files and
// opening them hides the renamed file for one listing, and shipping past
// that would skip its records for good.
func (s *Shipper) collect(allowGap bool) (batch, error) {
	files, err := logFiles(s.opts.Path)
	if err != nil {
		return batch{}, fmt.Errorf("audit shipping: %w", err)
	}
	defer closeAll(files)
	b := batch{cur: s.cur}
	if len(files) == 0 {
		return b, nil
	}
	// Start in the newest file whose first record is at or before the
	// next one to ship; older files are done.
	start := 0
	for i := len(files) - 1; i >= 0; i-- {
		if files[i].first.Seq != 0 && files[i].first.Seq <= s.pos.Seq+1 {
			start = i
			break
		}
	}
	var maxSeen uint64
	var diverged, gap bool
	// expect is the seq the next record must have; 0 before anything was
	// shipped, when the oldest record left is where shipping starts.
	expect := s.pos.Seq + 1
	if s.pos.Seq == 0 {
		expect = 0
	}
	for _, f := range files[start:] {
		offset := int64(0)
		if s.cur.first == f.first.Hash {
			offset = s.cur.offset
		}
		err := readLines(f, offset, func(l line) bool {
			if l.bad {
				b.cur, b.moved = l.next, true
				s.log.Warn("skipping an audit line that does not parse (see alter audit verify)", zap.String("file", f.name))
				return true
			}
			e := l.entry
			maxSeen = max(maxSeen, e.Seq)
			switch {
			case e.Seq < s.pos.Seq:
				b.cur, b.moved = l.next, true
				return true
			case e.Seq == s.pos.Seq:
				diverged = e.Hash != s.pos.Hash
				b.cur, b.moved = l.next, true
				return !diverged
			case e.Seq == s.pos.Seq+1 && s.pos.Seq > 0 && e.Prev != s.pos.Hash:
				diverged = true
				return false
			}
			if expect != 0 && e.Seq > expect {
				if !allowGap {
					gap = true
					return false
				}
				s.log.Warn("audit records are missing from the log before they were shipped (files removed?); shipping from the next one left",
					zap.Uint64("missing_from", expect), zap.Uint64("next_seq", e.Seq))
			}
			expect = e.Seq + 1
			b.cur, b.moved = l.next, true
			if rec, ok := s.record(e); ok {
				b.recs = append(b.recs, rec)
			}
			b.lastSeq, b.lastHash = e.Seq, e.Hash
			return len(b.recs) < s.opts.Batch
		})
		if err != nil {
			return batch{}, fmt.Errorf("audit shipping: %s: %w", f.name, err)
		}
		if diverged {
			return batch{}, errDiverged
		}
		if gap {
			if len(b.recs) > 0 {
				return b, nil // send what precedes the gap first
			}
			return batch{}, errGap
		}
		if len(b.recs) >= s.opts.Batch {
			break
		}
	}
	// A log whose records all come before the shipped one was replaced by
	// a shorter one.
	if s.pos.Seq > 0 && len(b.recs) == 0 && maxSeen > 0 && maxSeen < s.pos.Seq {
		return batch{}, errDiverged
	}
	return b, nil
}

// record turns a log line into what the server stores. The filter columns
// are copies; a value the server would refuse there (too long, control
// characters) is left out of the column, and stays in the body.
func (s *Shipper) record(e audit.Entry) (wire.AuditRecord, bool) {
	if e.Decision != audit.DecisionAllow && e.Decision != audit.DecisionDeny {
		s.log.Warn("skipping an audit record without an allow/deny decision", zap.Uint64("seq", e.Seq))
		return wire.AuditRecord{}, false
	}
	if len(e.Raw) > maxBody || !json.Valid(e.Raw) {
		s.log.Warn("skipping an audit record the server cannot store", zap.Uint64("seq", e.Seq))
		return wire.AuditRecord{}, false
	}
	column := func(v string) string {
		if secretstore.CheckText("audit column", v) != nil {
			return ""
		}
		return v
	}
	return wire.AuditRecord{
		ID:       RecordID(e),
		Time:     e.Time,
		GrantID:  column(e.GrantID),
		Actor:    column(e.Actor),
		Decision: e.Decision,
		RunID:    column(e.RunID),
		Tool:     column(e.Tool),
		Body:     json.RawMessage(e.Raw),
	}, true
}

// maxBody is the server's limit on one record's body.
const maxBody = 64 << 10

// RecordID is the ID a log line is shipped under: its seq and line hash.
func RecordID(e audit.Entry) string {
	return fmt.Sprintf("%d-%s", e.Seq, e.Hash)
}
