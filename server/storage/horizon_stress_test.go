package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testdb"
)

// TestHorizonStress: many writers in the reader's own database commit,
// roll back, nest savepoints, prepare and hold their transactions open
// while one reader pages AuditAfter from its last position, as a
// forwarder does. Every committed record must reach the reader exactly
// once: one whose transaction commits after the reader went past its
// position is never read, and the test fails naming it. The verdict
// depends on what was read, never on timing; the interleavings do.
func TestHorizonStress(t *testing.T) {
	for _, tc := range []struct {
		name  string
		kinds []stressKind
		n     int // transactions per writer
	}{
		// Nothing older holds the horizon back, so a transaction that
		// takes its id while the horizon is being worked out is the
		// lowest one open: it must be seen. Such moments are rare, so
		// there are many transactions.
		{"short transactions", shortKinds, 500},
		// Transactions with a low id open while later ones commit and
		// the reader reads on.
		{"long transactions among short ones", append(slices.Clone(shortKinds), longKinds...), 200},
	} {
		t.Run(tc.name, func(t *testing.T) { stress(t, tc.kinds, tc.n) })
	}
}

const stressWriters = 8

// stress runs stressWriters writers of n transactions of kinds against
// one reader and checks what it read.
func stress(t *testing.T, kinds []stressKind, n int) {
	addr := testdb.PostgresDatabase(t, "") // its writers and reader only
	// The reader's statements cross a network's delay, as a server's do:
	// the moments between the horizon's statements, in which writers take
	// ids and commit, are as long as there.
	d := openT(t, throughDelay(t, addr, time.Millisecond))
	raw := testdb.Raw(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var maxPrepared int
	if err := raw.QueryRowContext(ctx, "SELECT current_setting('max_prepared_transactions')::int").Scan(&maxPrepared); err != nil {
		t.Fatal(err)
	}
	if maxPrepared < stressWriters {
		kinds = slices.DeleteFunc(slices.Clone(kinds), func(k stressKind) bool { return slices.Contains(k.steps, prepare) })
	}
	t.Cleanup(func() { rollbackPrepared(t, raw) })
	var prefix string // the names of prepared transactions are the cluster's
	if err := raw.QueryRowContext(ctx, "SELECT current_database()").Scan(&prefix); err != nil {
		t.Fatal(err)
	}

	r := &stressReader{d: d, passed: make(chan struct{})}
	var writers sync.WaitGroup
	committed := make([][]string, stressWriters)
	for w := range stressWriters {
		writers.Go(func() {
			ids, err := runWriter(ctx, raw, r, kinds, n, fmt.Sprintf("%s_%d", prefix, w), w)
			if err != nil {
				t.Errorf("writer %d: %v", w, err)
				cancel()
			}
			committed[w] = ids
		})
	}
	writersDone := make(chan struct{})
	go func() {
		defer close(writersDone)
		writers.Wait()
	}()
	// Transactions of another database of the cluster, in the snapshots
	// the horizon starts from: the horizon must look past them.
	elsewhere := testdb.Raw(t, os.Getenv(testdb.EnvURL))
	churned := make(chan error, 1)
	go func() { churned <- churn(ctx, elsewhere, writersDone) }()

	read, err := r.readUntil(ctx, writersDone, raw)
	if err != nil {
		cancel() // the writers waiting for passes stop
	}
	<-writersDone
	if cerr := <-churned; cerr != nil && err == nil {
		t.Errorf("another database's transactions: %v", cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		return
	}

	want := map[string]bool{}
	for _, ids := range committed {
		for _, id := range ids {
			want[id] = true
		}
	}
	truth, err := trailIDs(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(truth) != len(want) {
		t.Fatalf("the table holds %d records, the writers committed %d: the test's bookkeeping is wrong", len(truth), len(want))
	}
	for _, id := range truth {
		if !want[id] {
			t.Fatalf("%s is in the table but no writer committed it", id)
		}
	}
	seen := map[string]int{}
	for _, id := range read {
		seen[id]++
	}
	var skipped, twice []string
	for id := range want {
		switch seen[id] {
		case 0:
			skipped = append(skipped, id)
		case 1:
		default:
			twice = append(twice, id)
		}
	}
	slices.Sort(skipped)
	slices.Sort(twice)
	if len(skipped) > 0 || len(twice) > 0 {
		t.Fatalf("of %d committed records the reader skipped %d %v and read %d more than once %v",
			len(want), len(skipped), first(skipped, 10), len(twice), first(twice, 10))
	}
	t.Logf("%d records committed in %d kinds of transaction, each read once in %d passes", len(want), len(kinds), r.passes)
}

// step is one thing a writer does in its transaction.
type step int

const (
	begin          step = iota
	insert              // one record, committed if its transaction is
	takeID              // pg_current_xact_id(): the id is taken before any record
	savepoint           // records after it go if it is rolled back to
	release             // ends the savepoint, keeping its records
	rollbackTo          // drops the records since the savepoint
	pause               // a random short while (an interleaving, not a wait for anything)
	readerPasses        // until the reader has made two more passes
	commit              // ends the transaction, keeping its records
	rollback            // ends it, dropping them
	prepare             // PREPARE TRANSACTION: it has no session any more
	commitPrepared      // COMMIT PREPARED of the one prepare left waiting
)

type stressKind struct {
	name  string
	steps []step
}

// shortKinds are transactions that end soon after they take their id.
var shortKinds = []stressKind{
	{"a record on its own", []step{insert}}, // id and commit in one statement
	{"another record on its own", []step{insert}},
	{"one record", []step{begin, insert, commit}},
	{"several records", []step{begin, insert, insert, insert, commit}},
	{"records in a savepoint", []step{begin, savepoint, insert, release, insert, commit}},
	{"a savepoint rolled back", []step{begin, insert, savepoint, insert, insert, rollbackTo, insert, commit}},
	{"rolled back", []step{begin, insert, insert, rollback}},
	{"held open a while", []step{begin, takeID, pause, insert, pause, commit}},
	{"records held open a while", []step{begin, insert, pause, insert, commit}},
}

// longKinds stay open while the reader reads on: their id is below those
// of records other writers commit meanwhile, which the reader must not
// go past. The prepared one runs where max_prepared_transactions allows.
var longKinds = []stressKind{
	{"an id taken while the reader reads on", []step{begin, takeID, readerPasses, insert, commit}},
	{"an id taken in a savepoint while the reader reads on", []step{begin, savepoint, takeID, readerPasses, insert, release, commit}},
	{"a record left uncommitted while the reader reads on", []step{begin, insert, readerPasses, insert, commit}},
	{"rolled back after the reader read on", []step{begin, insert, readerPasses, rollback}},
	{"prepared while the reader reads on", []step{begin, insert, insert, prepare, readerPasses, commitPrepared}},
}

// runWriter runs n transactions of kinds on a session of its own and
// returns the ids of the records it committed. name makes its prepared
// transactions' names.
func runWriter(ctx context.Context, db *sql.DB, r *stressReader, kinds []stressKind, n int, name string, w int) (_ []string, err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil { // not back to the pool inside a transaction
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
		conn.Close()
	}()
	rnd := rand.New(rand.NewPCG(uint64(w), 0)) // the same mix of kinds on every run
	var committed []string
	exec := func(query string, args ...any) error {
		_, err := conn.ExecContext(ctx, query, args...)
		return err
	}
	// Commits that wait for no disk flush end more transactions in the
	// moments between the horizon's statements. Visibility is the same:
	// a commit is seen once its transaction leaves the proc array.
	if err := exec("SET synchronous_commit = off"); err != nil {
		return nil, err
	}
	for nth := range n {
		k := kinds[rnd.IntN(len(kinds))]
		gid := fmt.Sprintf("%s_%d", name, nth)
		var pending []string // inserted, not yet committed
		mark := 0            // len(pending) at the savepoint
		inTx := false
		for i, s := range k.steps {
			var serr error
			switch s {
			case begin:
				serr, inTx = exec("BEGIN"), true
			case insert:
				id := fmt.Sprintf("w%d/t%d/s%d", w, nth, i)
				serr = exec(`INSERT INTO audit (id, source, at, decision, body) VALUES ($1, 'app/stress', $2, 'allow', '{}')`, id, micro(time.Now()))
				if pending = append(pending, id); !inTx {
					committed, pending = append(committed, pending...), nil
				}
			case takeID:
				serr = exec("SELECT pg_current_xact_id()")
			case savepoint:
				serr, mark = exec("SAVEPOINT s"), len(pending)
			case release:
				serr = exec("RELEASE SAVEPOINT s")
			case rollbackTo:
				serr, pending = exec("ROLLBACK TO SAVEPOINT s"), pending[:mark]
			case pause:
				time.Sleep(time.Duration(rnd.IntN(2000)) * time.Microsecond)
			case readerPasses:
				serr = r.waitPasses(ctx, 2)
			case commit:
				serr, committed, pending = exec("COMMIT"), append(committed, pending...), nil
			case rollback:
				serr, pending = exec("ROLLBACK"), nil
			case prepare:
				serr = exec("PREPARE TRANSACTION '" + gid + "'")
			case commitPrepared:
				serr, committed, pending = exec("COMMIT PREPARED '"+gid+"'"), append(committed, pending...), nil
			}
			if serr != nil {
				return nil, fmt.Errorf("%s, step %d: %w", k.name, i, serr)
			}
		}
	}
	return committed, nil
}

// stressReader pages the trail from its last position, as a forwarder
// does, and lets writers wait for its passes.
type stressReader struct {
	d      *DB
	mu     sync.Mutex
	passes int
	passed chan struct{} // closed at the end of a pass, then replaced
}

// waitPasses returns once the reader has ended n passes after the call:
// the last of them began after it.
func (r *stressReader) waitPasses(ctx context.Context, n int) error {
	r.mu.Lock()
	until := r.passes + n
	r.mu.Unlock()
	for {
		r.mu.Lock()
		done, passed := r.passes >= until, r.passed
		r.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-passed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *stressReader) pass() {
	r.mu.Lock()
	r.passes++
	close(r.passed)
	r.passed = make(chan struct{})
	r.mu.Unlock()
}

// readUntil reads until the writers are done and it has reached the last
// record of the trail, and returns the ids it read in order. Positions
// must only go up.
func (r *stressReader) readUntil(ctx context.Context, writersDone <-chan struct{}, raw *sql.DB) ([]string, error) {
	var read []string
	var pos AuditPosition
	var last *AuditPosition // the trail's last record, once the writers are done
	// Mostly pages that catch up: a reader goes past an open transaction
	// only when it is at the front.
	limits := []int{500, 1, 500, 7, 500, 50}
	for i := 0; ; i++ {
		page, err := r.d.AuditAfter(ctx, pos, limits[i%len(limits)])
		if err != nil {
			return read, fmt.Errorf("AuditAfter after %d passes: %w", r.passes, err)
		}
		for _, rec := range page {
			if !pos.Before(rec.Position) {
				return read, fmt.Errorf("position %v after %v", rec.Position, pos)
			}
			pos = rec.Position
			read = append(read, rec.ID)
		}
		r.pass()
		if last == nil {
			select {
			case <-writersDone:
				p, err := lastPosition(ctx, raw)
				if err != nil {
					return read, err
				}
				last = &p
			default:
			}
		}
		if last != nil && !pos.Before(*last) {
			return read, nil
		}
		if len(page) == 0 {
			// Nothing below the horizon yet: the writers' commits, or a
			// transaction of autovacuum's, move it, and neither tells.
			time.Sleep(time.Millisecond)
		}
	}
}

// churn takes transaction ids in the database db names until stop is
// closed, holding each transaction open a moment.
func churn(ctx context.Context, db *sql.DB, stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "SELECT pg_current_xact_id()"); err != nil {
			_ = tx.Rollback()
			return err
		}
		time.Sleep(500 * time.Microsecond) // open across some of the reader's horizons
		if err := tx.Commit(); err != nil {
			return err
		}
	}
}

// trailIDs are the ids of every record in the table, read directly.
func trailIDs(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT id FROM audit ORDER BY xid, seq")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// lastPosition is the position of the trail's last record, read directly.
func lastPosition(ctx context.Context, db *sql.DB) (AuditPosition, error) {
	var p AuditPosition
	err := db.QueryRowContext(ctx, "SELECT xid, seq FROM audit ORDER BY xid DESC, seq DESC LIMIT 1").Scan(&p.XID, &p.Seq)
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil
	}
	return p, err
}

// rollbackPrepared rolls back what a failed run left prepared in the
// database db names, which would keep it from being dropped.
func rollbackPrepared(t *testing.T, db *sql.DB) {
	rows, err := db.Query("SELECT gid FROM pg_prepared_xacts WHERE database = current_database()")
	if err != nil {
		t.Errorf("prepared transactions: %v", err)
		return
	}
	var gids []string
	for rows.Next() {
		var gid string
		if err := rows.Scan(&gid); err == nil {
			gids = append(gids, gid)
		}
	}
	rows.Close()
	for _, gid := range gids {
		if _, err := db.Exec("ROLLBACK PREPARED '" + gid + "'"); err != nil {
			t.Errorf("rollback prepared %s: %v", gid, err)
		}
	}
}

func first(ids []string, n int) []string {
	return ids[:min(n, len(ids))]
}

// throughDelay is addr reached through a proxy on 127.0.0.1 that holds
// what the client sends for delay before passing it on.
func throughDelay(t *testing.T, addr string, delay time.Duration) string {
	t.Helper()
	u, err := url.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	server := u.Host
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		conns.Wait()
	})
	conns.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", server)
			if err != nil {
				c.Close()
				continue
			}
			conns.Go(func() {
				defer s.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						time.Sleep(delay)
						if _, werr := s.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
			})
			conns.Go(func() {
				defer c.Close()
				_, _ = io.Copy(c, s)
			})
		}
	})
	u.Host = l.Addr().String()
	return u.String()
}
