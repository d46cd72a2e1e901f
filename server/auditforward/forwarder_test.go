package auditforward

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/storage"
)

// TestForwardsTheTrailInCommitOrder: what was in the trail before the
// start and what comes after arrive once each, in commit order, a batch
// at most per send.
func TestForwardsTheTrailInCommitOrder(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		db := openDB(t, addr)
		want := insert(t, db, "before", 250)
		r := newReceiver()
		f := start(t, db, "r1", r, nil)
		want = append(want, insert(t, db, "after", 30)...)
		r.waitFor(t, "every record", func() bool { return len(r.got()) >= len(want) })
		if got := r.got(); !slices.Equal(got, want) {
			t.Fatalf("received %d records, not the trail in commit order", len(got))
		}
		r.mu.Lock()
		calls := r.calls
		r.mu.Unlock()
		if calls < 3 {
			t.Fatalf("%d records in %d sends: batches are at most 100", len(want), calls)
		}
		f.Stop(time.Second) // the loop's last position is recorded once it has ended
		st := f.Status()[0]
		if !st.Holding || st.Forwarded != uint64(len(want)) || st.Failing {
			t.Fatalf("status = %+v", st)
		}
	})
}

// TestFailedSendsComeAgain: a batch the receiver refuses, or cuts off
// after a few records, is sent again from the first record it did not
// acknowledge; nothing is skipped or sent twice.
func TestFailedSendsComeAgain(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*receiver)
	}{
		{"refused three times", func(r *receiver) { r.fail = 3 }},
		{"cut off after 7 records", func(r *receiver) { r.partial = 7 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, testdb.SQLite(t))
			want := insert(t, db, "rec", 40)
			r := newReceiver()
			tc.edit(r)
			f := start(t, db, "r1", r, nil)
			defer f.Stop(time.Second)
			r.waitFor(t, "every record", func() bool { return len(r.got()) >= len(want) })
			if err := once(want, r.got()); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.got(), want) {
				t.Fatal("records out of order after a retry")
			}
		})
	}
}

// TestOneReplicaSendsAtATime: two replicas forward one target; the one
// holding the lease sends everything, and when it stops (releasing it)
// the other goes on from its position.
func TestOneReplicaSendsAtATime(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		db := openDB(t, addr)
		ra, rb := newReceiver(), newReceiver()
		a := start(t, db, "a", ra, nil)
		first := insert(t, db, "first", 20)
		ra.waitFor(t, "replica a to send the first records", func() bool { return len(ra.got()) >= len(first) })
		// b is started after a holds the lease: b must not send while a runs.
		b := start(t, db, "b", rb, nil)
		defer b.Stop(time.Second)
		second := insert(t, db, "second", 20)
		ra.waitFor(t, "replica a to send the second records", func() bool { return len(ra.got()) >= 40 })
		if n := len(rb.got()); n != 0 {
			t.Fatalf("replica b sent %d records while a held the lease", n)
		}
		a.Stop(time.Second)
		third := insert(t, db, "third", 20)
		rb.waitFor(t, "replica b to take over", func() bool { return len(rb.got()) >= len(third) })
		all := append(append(append([]string{}, first...), second...), third...)
		if err := once(all, append(ra.got(), rb.got()...)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDeadHolderLeaseRunsOut: a replica killed while holding a target
// does not release it; another takes it over once the lease has run out,
// from the last acknowledged position, and not before.
func TestDeadHolderLeaseRunsOut(t *testing.T) {
	db := openDB(t, testdb.SQLite(t))
	ctx := context.Background()
	c := newClock()
	const lease = 30 * time.Second
	if _, held, err := db.ClaimForward(ctx, "siem", "dead", c.now, c.now.Add(lease)); err != nil || !held {
		t.Fatalf("claim for the dead replica: %v %v", held, err)
	}
	want := insert(t, db, "rec", 10)
	r := newReceiver()
	f := start(t, db, "alive", r, func(o *Options) { o.Now, o.Lease = c.Now, lease })
	defer f.Stop(time.Second)
	c.waitReads(t, 5)
	if n := len(r.got()); n != 0 || f.Status()[0].Holding {
		t.Fatalf("%d records sent within the dead replica's lease", n)
	}
	c.advance(lease + time.Second)
	r.waitFor(t, "the takeover", func() bool { return len(r.got()) >= len(want) })
	if err := once(want, r.got()); err != nil {
		t.Fatal(err)
	}
}

// TestLeaseLostDuringASend: a send that outlasts the lease, while another
// replica took the target over, does not move the new holder's position.
func TestLeaseLostDuringASend(t *testing.T) {
	db := openDB(t, testdb.SQLite(t))
	ctx := context.Background()
	c := newClock()
	// Renewals tick every third of the lease in real time: an hour keeps
	// them out of this test, which is about the advance after the send.
	const lease = time.Hour
	insert(t, db, "rec", 5)
	r := newReceiver()
	r.block = make(chan struct{})
	f := start(t, db, "slow", r, func(o *Options) { o.Now, o.Lease = c.Now, lease })
	defer f.Stop(time.Second)
	r.waitStarted(t)
	c.advance(lease + time.Second)
	if _, held, err := db.ClaimForward(ctx, "siem", "other", c.now, c.now.Add(lease)); err != nil || !held {
		t.Fatalf("the other replica's claim: %v %v", held, err)
	}
	r.unblock()
	r.waitFor(t, "the slow send to end", func() bool { return len(r.got()) == 5 })
	c.waitReads(t, 2) // the advance, then the next pass
	states, err := db.ForwardStates(ctx)
	if err != nil || len(states) != 1 || states[0].Holder != "other" || states[0].Position != (storage.AuditPosition{}) {
		t.Fatalf("after the lost lease: %+v, %v (the other replica's position must stand)", states, err)
	}
	if f.Status()[0].Holding {
		t.Fatal("the slow replica still thinks it holds the target")
	}
}

// TestStopSendsWhatIsLeft: records written just before a clean stop go
// in its last pass, and the lease is released for the next replica.
func TestStopSendsWhatIsLeft(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		db := openDB(t, addr)
		r := newReceiver()
		first := insert(t, db, "first", 3)
		// An hour between reads: only the first pass and the last one send.
		// On PostgreSQL a pass sees only what is below the database's
		// horizon, which another package's open transaction in the shared
		// test database holds back, so each pass starts once its records
		// are readable.
		readable(t, db, len(first))
		f := start(t, db, "r1", r, func(o *Options) { o.Interval = time.Hour })
		r.waitFor(t, "the first pass", func() bool { return len(r.got()) >= len(first) })
		late := insert(t, db, "late", 250)
		readable(t, db, len(first)+len(late))
		f.Stop(10 * time.Second)
		if err := once(append(first, late...), r.got()); err != nil {
			t.Fatal(err)
		}
		states, err := db.ForwardStates(context.Background())
		if err != nil || len(states) != 1 || states[0].Holder != "" {
			t.Fatalf("lease not released: %+v, %v", states, err)
		}
	})
}

// TestStopDoesNotWaitForASilentReceiver: a receiver that never answers
// holds a stop for its timeout at most, and nothing is acknowledged.
func TestStopDoesNotWaitForASilentReceiver(t *testing.T) {
	db := openDB(t, testdb.SQLite(t))
	insert(t, db, "rec", 3)
	r := newReceiver()
	r.block = make(chan struct{}) // never closed
	f := start(t, db, "r1", r, nil)
	stopped := make(chan struct{})
	go func() {
		f.Stop(50 * time.Millisecond)
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(waitTimeout):
		t.Fatal("Stop waited for a receiver that never answers")
	}
	// Nothing acknowledged, and the lease released although the stop's
	// deadline was used up: another replica takes over at once.
	states, err := db.ForwardStates(context.Background())
	if err != nil || len(states) != 1 || states[0].Position != (storage.AuditPosition{}) || states[0].Holder != "" {
		t.Fatalf("state after a silent receiver: %+v, %v", states, err)
	}
}

func TestStartRefusesBadTargets(t *testing.T) {
	db := openDB(t, testdb.SQLite(t))
	r := newReceiver()
	for _, tc := range []struct {
		name string
		edit func(*Options)
	}{
		{"no store", func(o *Options) { o.Store = nil }},
		{"a target without a name", func(o *Options) { o.Targets[0].Name = "" }},
		{"a target without a sender", func(o *Options) { o.Targets[0].Sender = nil }},
		{"a name used twice", func(o *Options) { o.Targets = append(o.Targets, o.Targets[0]) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Store: db, Targets: nil}
			o.Targets = append(o.Targets, targetOf(r))
			tc.edit(&o)
			if f, err := Start(o); err == nil {
				f.Stop(time.Second)
				t.Fatal("started")
			}
		})
	}
}

func TestBackoffDoubles(t *testing.T) {
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {7, time.Minute}, {100, time.Minute}} {
		if got := backoff(time.Second, time.Minute, tc.failures); got != tc.want {
			t.Errorf("backoff after %d failures = %s, want %s", tc.failures, got, tc.want)
		}
	}
}

// TestSlowSendKeepsTheLease: a receiver slower than the lease does not
// hand the target to another replica: the sender renews it during the
// send.
func TestSlowSendKeepsTheLease(t *testing.T) {
	db := openDB(t, testdb.SQLite(t))
	ctx := context.Background()
	c := newClock()
	const lease = 300 * time.Millisecond // renewed every 100 ms of real time
	want := insert(t, db, "rec", 5)
	r := newReceiver()
	r.block = make(chan struct{})
	f := start(t, db, "slow", r, func(o *Options) { o.Now, o.Lease = c.Now, lease })
	defer f.Stop(time.Second)
	r.waitStarted(t)
	c.advance(time.Hour) // the lease taken at the claim is long over
	c.waitReads(t, 2)    // a renewal read the clock, claimed, and the next one began
	if _, held, err := db.ClaimForward(ctx, "siem", "other", c.now, c.now.Add(lease)); err != nil || held {
		t.Fatalf("another replica took the target during a slow send: %v %v", held, err)
	}
	r.unblock()
	r.waitFor(t, "the slow send to end", func() bool { return len(r.got()) == len(want) })
	f.Stop(time.Second)
	states, err := db.ForwardStates(ctx)
	if err != nil || len(states) != 1 || states[0].Position.Seq == 0 {
		t.Fatalf("the slow replica's acknowledged batch was not recorded: %+v, %v", states, err)
	}
}

// TestTakenLeaseEndsTheSend: when a renewal during a send finds another
// replica holding the target, the send ends (the new holder sends it).
func TestTakenLeaseEndsTheSend(t *testing.T) {
	db := openDB(t, testdb.SQLite(t))
	ctx := context.Background()
	c := newClock()
	const lease = 300 * time.Millisecond
	insert(t, db, "rec", 5)
	r := newReceiver()
	r.block = make(chan struct{}) // never closed: only a cancel ends the send
	f := start(t, db, "slow", r, func(o *Options) { o.Now, o.Lease = c.Now, lease })
	defer f.Stop(time.Second)
	r.waitStarted(t)
	// Take the target between two renewals: each try first lets the
	// current lease run out.
	deadline := time.Now().Add(waitTimeout)
	for {
		c.advance(time.Hour)
		if _, held, err := db.ClaimForward(ctx, "siem", "other", c.now, c.now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		} else if held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never got the lease between renewals")
		}
	}
	r.waitFor(t, "the send to be cancelled", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.cancelled > 0
	})
	states, err := db.ForwardStates(ctx)
	if err != nil || states[0].Holder != "other" || states[0].Position != (storage.AuditPosition{}) {
		t.Fatalf("after the takeover: %+v, %v", states, err)
	}
}
