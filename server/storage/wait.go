package storage

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Waiting for changes. A long poll or an event stream parks in WaitChange
// until the change sequence passes a number. The wake-up has to reach every
// replica, not only the one that wrote.
//
// One watcher per DB, started by the first waiter and stopped by Close,
// keeps the newest change number in memory; waiters only compare against
// it and park on a broadcast channel, so ten thousand parked long polls
// cost no database work (they used to run a query each every 200 ms, and
// all at once on every wake-up: enough to exhaust file descriptors on
// SQLite and connections on PostgreSQL). The watcher reads LastChange:
//
//   - PostgreSQL: whenever its own LISTEN connection gets a notification
//     (every write sends NOTIFY NotifyChannel in its transaction, see
//     changes.go), and every second in case the listener is reconnecting.
//   - SQLite: every 200 ms (one process owns the file; a cheap indexed MAX).
//   - Both: at once after a write through this DB commits.
//
// A wake-up only means "look again": the number always comes from the
// database, never from a notification's payload.

const (
	sqlitePoll   = 200 * time.Millisecond
	postgresPoll = time.Second
	relisten     = time.Second
	// watchRead bounds one LastChange of the watcher, so a stuck pool or
	// database turns into an error the waiters see.
	watchRead = 10 * time.Second
)

// errClosed is what waiters get once the DB is closed.
var errClosed = errors.New("storage: closed")

// watcher holds the newest change number and wakes waiters when it moves.
type watcher struct {
	mu   sync.Mutex
	seq  int64
	read bool  // seq has been read at least once
	err  error // the last read's failure; nil after a successful read
	// changed is closed and replaced whenever seq, read or err change:
	// a broadcast to every parked waiter.
	changed chan struct{}
	// kick asks the watcher to read again now (a notification, a local
	// write). Buffered 1: kicks arriving during a read coalesce into one.
	kick chan struct{}

	started bool
	cancel  context.CancelFunc
	done    chan struct{}
}

func newWatcher() *watcher {
	return &watcher{changed: make(chan struct{}), kick: make(chan struct{}, 1)}
}

// state is what waiters compare against, and the channel to park on.
func (w *watcher) state() (seq int64, read bool, changed <-chan struct{}, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq, w.read, w.changed, w.err
}

// set records a read and wakes the waiters if anything they look at moved.
// A failing database wakes them once (they return the error), not on every
// failed read.
func (w *watcher) set(seq int64, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	moved := (err == nil) != (w.err == nil)
	if err == nil {
		moved = moved || !w.read || seq != w.seq
		w.seq, w.read = seq, true
	}
	w.err = err
	if moved {
		close(w.changed)
		w.changed = make(chan struct{})
	}
}

// poke asks for a read now without blocking.
func (w *watcher) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// start runs watch once, in the background, until stop.
func (w *watcher) start(watch func(ctx context.Context)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.started, w.cancel, w.done = true, cancel, make(chan struct{})
	go func() {
		defer close(w.done)
		watch(ctx)
	}()
}

// stop ends the watcher and releases every waiter with errClosed; later
// waiters get errClosed at once.
func (w *watcher) stop() {
	w.mu.Lock()
	w.started = true // never start after Close
	cancel, done := w.cancel, w.done
	w.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	w.set(0, unavailable(errClosed))
}

// WaitChange returns the newest change number as soon as it is greater
// than after, or when ctx ends (then with ctx's error and the newest
// number seen). It reads nothing itself: it waits on the DB's watcher,
// and returns the watcher's error if the database cannot be read.
func (d *DB) WaitChange(ctx context.Context, after int64) (int64, error) {
	d.wake.start(d.watch)
	for {
		seq, read, changed, err := d.wake.state()
		switch {
		case read && seq > after:
			return seq, nil
		case err != nil:
			return seq, err
		}
		select {
		case <-ctx.Done():
			return seq, ctx.Err()
		case <-changed:
		}
	}
}

// watch reads LastChange on every tick and kick until ctx ends. On
// PostgreSQL it also runs the listener that kicks it.
func (d *DB) watch(ctx context.Context) {
	poll := sqlitePoll
	var listening sync.WaitGroup
	if d.eng.name == postgresEngine.name {
		poll = postgresPoll
		listening.Go(func() { d.listen(ctx) })
	}
	defer listening.Wait()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, watchRead)
		seq, err := d.LastChange(rctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		d.wake.set(seq, err)
		select {
		case <-ctx.Done():
			return
		case <-d.wake.kick:
		case <-tick.C:
		}
	}
}

// listen keeps a LISTEN connection open until ctx ends, reconnecting after
// a failure. It has its own connection (not the pool's): it is held for
// the DB's whole life.
func (d *DB) listen(ctx context.Context) {
	for {
		_ = d.listenOnce(ctx) // the error is a dropped connection; the watcher polls meanwhile
		d.wake.poke()         // a notification may have been missed: look again
		select {
		case <-ctx.Done():
			return
		case <-time.After(relisten):
		}
	}
}

func (d *DB) listenOnce(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, d.addr)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return err
	}
	d.wake.poke() // changes made before LISTEN took effect
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		d.wake.poke()
	}
}
