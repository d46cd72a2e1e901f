// Package auditforward sends the control plane's audit trail (grant uses
// shipped by sidecars and the server's own admin events) to SIEMs, and
// deletes what is older than audit.retention.
//
// Forwarding: each audit.forward target (an audit/forward sender) has a
// position and a lease in the database (storage.ClaimForward). Every
// replica runs a loop per target; the one holding the lease reads the
// records after the position in commit order (storage.AuditAfter), sends
// a batch, and moves the position only once the receiver has
// acknowledged it. So a replica killed mid-batch, a receiver that dies
// before answering, or a lease taken over by another replica makes a
// batch come again (at least once, deduplicated by record id), and
// nothing is skipped. A replica that stops cleanly makes a last pass and
// releases its leases, so another takes over at once.
//
// Retention (retention.go) deletes records older than the retention in
// batches, never one a target has not acknowledged, and records each
// pass that deleted something.
package auditforward

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/server/storage"
)

// Store is what forwarding needs of the database; *storage.DB is one.
type Store interface {
	AuditAfter(ctx context.Context, p storage.AuditPosition, limit int) ([]storage.PositionedRecord, error)
	ClaimForward(ctx context.Context, name, holder string, now, until time.Time) (storage.AuditPosition, bool, error)
	AdvanceForward(ctx context.Context, name, holder string, p storage.AuditPosition, at time.Time) (bool, error)
	ReleaseForward(ctx context.Context, name, holder string) error
}

// Defaults.
const (
	DefaultLease      = 60 * time.Second
	DefaultInterval   = time.Second
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = time.Minute
	// DefaultSendTimeout is the senders' own bound too.
	DefaultSendTimeout = forward.DefaultTimeout
)

// Options configure a Forwarder; zero durations take the defaults.
type Options struct {
	Store   Store
	Targets []forward.Target
	// Holder names this replica in the leases; it must differ between
	// replicas. Empty: the host name, the process id and a random suffix.
	Holder string
	// Lease is how long a target stays with a replica that stops renewing
	// it (killed, cut off from the database) before another takes over.
	// A replica renews it at every pass and, during a send, every third
	// of it.
	Lease time.Duration
	// SendTimeout bounds one send (default DefaultSendTimeout).
	SendTimeout time.Duration
	// Interval is the pause between reads when a target is caught up, or
	// between claims while another replica holds it.
	Interval time.Duration
	// MinBackoff and MaxBackoff bound the pause after a failed send or
	// database call, doubling per failure in a row.
	MinBackoff, MaxBackoff time.Duration
	Now                    func() time.Time
	Log                    *zap.Logger
}

// Forwarder runs one loop per target until Stop.
type Forwarder struct {
	o       Options
	targets []*target
	cancel  context.CancelFunc // ends the loops, after the pass under way
	abort   context.CancelFunc // cuts off that pass (a stop's deadline)
	wg      sync.WaitGroup
}

// Status is what one target's loop knows on this replica (logged when
// the server stops; the database's view, GET /v1/audit/forwarding, is
// the one across replicas).
type Status struct {
	Name string
	// Holding: this replica held the target's lease at its last claim.
	Holding bool
	// Position is the last acknowledged position this replica knows of.
	Position storage.AuditPosition
	// Forwarded counts the records this replica has had acknowledged.
	Forwarded uint64
	// Failing: the last send or database call failed.
	Failing bool
}

// Start checks the options and starts a loop per target.
func Start(o Options) (*Forwarder, error) {
	if o.Store == nil {
		return nil, errors.New("audit forward: no store")
	}
	seen := map[string]bool{}
	for _, t := range o.Targets {
		if t.Name == "" || seen[t.Name] || t.Sender == nil {
			return nil, fmt.Errorf("audit forward: target %q has no name, a name used twice, or no sender", t.Name)
		}
		seen[t.Name] = true
	}
	if o.Holder == "" {
		o.Holder = defaultHolder()
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&o.Lease, DefaultLease}, {&o.Interval, DefaultInterval}, {&o.MinBackoff, DefaultMinBackoff}, {&o.MaxBackoff, DefaultMaxBackoff},
		{&o.SendTimeout, DefaultSendTimeout}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	f := &Forwarder{o: o}
	for _, t := range o.Targets {
		batch := t.Batch
		if batch <= 0 || batch > forward.MaxBatch {
			batch = forward.MaxBatch
		}
		f.targets = append(f.targets, &target{f: f, Target: t, batch: batch, log: o.Log.With(zap.String("forward", t.Name))})
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	// The pass under way when Stop comes is not cut off: its batch has
	// reached the receiver, and without the answer it would go again in
	// the last pass, a duplicate on every clean stop.
	passCtx, abort := context.WithCancel(context.Background())
	f.abort = abort
	for _, t := range f.targets {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			t.run(ctx, passCtx)
		}()
	}
	return f, nil
}

// Holder is this replica's name in the leases.
func (f *Forwarder) Holder() string { return f.o.Holder }

// Status reports each target, in the configured order.
func (f *Forwarder) Status() []Status {
	out := make([]Status, len(f.targets))
	for i, t := range f.targets {
		t.mu.Lock()
		out[i] = t.status
		t.mu.Unlock()
		out[i].Name = t.Name
	}
	return out
}

// Stop ends the loops, letting a send under way end with its answer,
// then sends what the targets this replica holds have not acknowledged
// and releases their leases, all within timeout; what is left goes from
// the next replica that holds them.
func (f *Forwarder) Stop(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	f.cancel()
	context.AfterFunc(ctx, f.abort) // at the deadline, or once stopped
	f.wg.Wait()
	for _, t := range f.targets {
		t.drain(ctx)
		// Its own few seconds: a stop whose deadline the last pass used up
		// still hands the target over at once, not after the lease.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err := f.o.Store.ReleaseForward(rctx, t.Name, f.o.Holder)
		rcancel()
		if err != nil {
			t.log.Warn("audit forward lease not released; another replica takes the target when it runs out", zap.Error(err))
		}
		if c, ok := t.Sender.(io.Closer); ok {
			if err := c.Close(); err != nil {
				t.log.Debug("closing the audit forward connection", zap.Error(err))
			}
		}
	}
}

func defaultHolder() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}
