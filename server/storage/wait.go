package storage

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Waiting for changes. A long poll or an event stream parks in WaitChange
// until the change sequence passes a number. The wake-up has to reach every
// replica, not only the one that wrote:
//
//   - PostgreSQL: every write sends NOTIFY NotifyChannel in its transaction
//     (changes.go); one listener connection per DB LISTENs and wakes all
//     local waiters, which then re-read LastChange. Waiters also re-check
//     every second, so a listener that is reconnecting delays a wake-up by
//     at most that.
//   - SQLite: one process owns the file; waiters poll LastChange every
//     200 ms (a cheap indexed MAX).
//
// A wake-up only means "look again": the answer always comes from the
// database, never from the notification's payload.

const (
	sqlitePoll   = 200 * time.Millisecond
	postgresPoll = time.Second
	relisten     = time.Second
)

// waker fans one notification out to every waiter: the channel is closed
// and replaced on each signal.
type waker struct {
	mu      sync.Mutex
	ch      chan struct{}
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
}

func newWaker() *waker { return &waker{ch: make(chan struct{})} }

func (w *waker) signal() {
	w.mu.Lock()
	close(w.ch)
	w.ch = make(chan struct{})
	w.mu.Unlock()
}

func (w *waker) wait() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch
}

// start runs listen once, in the background, until stop.
func (w *waker) start(listen func(ctx context.Context)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.started, w.cancel, w.done = true, cancel, make(chan struct{})
	go func() {
		defer close(w.done)
		listen(ctx)
	}()
}

func (w *waker) stop() {
	w.mu.Lock()
	cancel, done := w.cancel, w.done
	w.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// WaitChange returns the newest change number as soon as it is greater
// than after, or when ctx ends (then with ctx's error and the newest
// number seen).
func (d *DB) WaitChange(ctx context.Context, after int64) (int64, error) {
	poll := sqlitePoll
	if d.eng.name == postgresEngine.name {
		poll = postgresPoll
		d.wake.start(d.listen)
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var last int64
	for {
		woken := d.wake.wait() // before the read, so no signal falls between
		seq, err := d.LastChange(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return last, ctx.Err()
			}
			return last, err
		}
		if last = seq; last > after {
			return last, nil
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-woken:
		case <-tick.C:
		}
	}
}

// listen keeps a LISTEN connection open until ctx ends, reconnecting after
// a failure. It has its own connection (not the pool's): it is held for
// the DB's whole life.
func (d *DB) listen(ctx context.Context) {
	for {
		_ = d.listenOnce(ctx) // the error is a dropped connection; waiters poll meanwhile
		d.wake.signal()       // a notification may have been missed: everyone looks again
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
	d.wake.signal() // changes made before LISTEN took effect
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		d.wake.signal()
	}
}
