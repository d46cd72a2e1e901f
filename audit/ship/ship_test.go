package ship_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/audit/ship"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/client/clienttest"
	"github.com/alter-sidecar/alter/server/storage"
)

// env is a durable log, a fake server and a client for it.
type env struct {
	dir, path string
	fake      *clienttest.Fake
	send      *countingSender
	sink      *audit.DurableSink
	written   int
	logs      *observer.ObservedLogs
}

func newEnv(t *testing.T, maxSize int64) *env {
	t.Helper()
	f := clienttest.New()
	t.Cleanup(f.Close)
	c, err := client.New(client.Options{URL: f.URL(), Token: client.Token(f.SidecarToken), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &env{dir: dir, path: filepath.Join(dir, "audit.log"), fake: f, send: &countingSender{next: c}}
	e.openSink(t, maxSize)
	t.Cleanup(func() { e.sink.Close() })
	return e
}

func (e *env) openSink(t *testing.T, maxSize int64) {
	t.Helper()
	sink, err := audit.NewDurableSink(e.path, audit.DurableOptions{MaxSize: maxSize})
	if err != nil {
		t.Fatal(err)
	}
	e.sink = sink
}

func (e *env) shipper(t *testing.T, batch int) *ship.Shipper {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	e.logs = logs
	s, err := ship.New(ship.Options{Path: e.path, Sender: e.send, Batch: batch, Logger: zap.New(core),
		Interval: 10 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// write appends n records; every third is a denial.
func (e *env) write(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		e.written++
		d := audit.DecisionAllow
		if e.written%3 == 0 {
			d = audit.DecisionDeny
		}
		r := audit.Record{Time: time.Now(), RequestID: fmt.Sprintf("req-%d", e.written), GrantID: "00000000-0000-4000-8000-000000000001",
			Actor: "app", Method: "GET", Scheme: "https", Host: "api.example.com", Port: 443, Path: strings.Repeat("/p", 40), Decision: d, Status: 200}
		if e.written%2 == 0 { // a call context on every other record; the rest are as older sidecars wrote them
			r.RunID, r.Tool = fmt.Sprintf("run-%d", e.written%5), "search"
		}
		if err := e.sink.Write(r); err != nil {
			t.Fatal(err)
		}
	}
}

// checkDelivered: the server holds exactly the records of the log, once
// each, under the IDs the log's lines give.
func (e *env) checkDelivered(t *testing.T) {
	t.Helper()
	got := e.fake.Audit()
	want := map[string]bool{}
	files, err := audit.Files(e.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		entries, _, err := audit.ReadEntries(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range entries {
			want[ship.RecordID(en)] = true
			rec, ok := got[ship.RecordID(en)]
			if !ok {
				t.Errorf("record %d not delivered", en.Seq)
				continue
			}
			if string(rec.Body) != string(en.Raw) || rec.Decision != en.Decision || !rec.Time.Equal(en.Time) ||
				rec.RunID != en.RunID || rec.Tool != en.Tool {
				t.Errorf("record %d delivered wrong: %+v", en.Seq, rec)
			}
		}
	}
	if len(want) != e.written {
		t.Fatalf("log holds %d records, %d written", len(want), e.written)
	}
	for id := range got {
		if !want[id] {
			t.Errorf("server holds %s, which is not in the log", id)
		}
	}
	if ins := e.send.inserted(); ins != e.written {
		t.Errorf("server inserted %d records, want %d (double counting?)", ins, e.written)
	}
}

// countingSender passes batches on and can lose acknowledgements.
type countingSender struct {
	next     ship.Sender
	mu       sync.Mutex
	total    int
	loseAcks int // the next N batches are delivered but reported failed
	refuse   string
}

func (c *countingSender) ShipAudit(ctx context.Context, recs []storage.AuditRecord) (int, error) {
	c.mu.Lock()
	refuse := c.refuse
	c.mu.Unlock()
	for _, r := range recs {
		if refuse != "" && r.ID == refuse {
			return 0, fmt.Errorf("%w: record refused", secretstore.ErrInvalid)
		}
	}
	n, err := c.next.ShipAudit(ctx, recs)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += n
	if err == nil && c.loseAcks > 0 {
		c.loseAcks--
		return 0, errors.New("connection reset before the answer")
	}
	return n, err
}

func (c *countingSender) inserted() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

func TestShipsAndResumes(t *testing.T) {
	e := newEnv(t, 0)
	e.write(t, 25)
	s := e.shipper(t, 10)
	n, err := s.ShipOnce(context.Background())
	if err != nil || n != 25 || s.Shipped() != 25 {
		t.Fatalf("ShipOnce = %d, %v; shipped seq %d", n, err, s.Shipped())
	}
	if posts := e.fake.AuditPosts.Load(); posts != 3 {
		t.Fatalf("%d posts for 25 records in batches of 10", posts)
	}
	// A new shipper (a restart) resumes from the state file.
	s2 := e.shipper(t, 10)
	if s2.Shipped() != 25 {
		t.Fatalf("restart lost the position: %d", s2.Shipped())
	}
	if n, err := s2.ShipOnce(context.Background()); n != 0 || err != nil {
		t.Fatalf("restart resent %d records (%v)", n, err)
	}
	e.write(t, 4)
	if n, err := s2.ShipOnce(context.Background()); n != 4 || err != nil {
		t.Fatalf("after the restart: %d, %v", n, err)
	}
	e.checkDelivered(t)
	if mode := fileMode(t, e.path+".ship"); mode != 0o600 {
		t.Errorf("state file mode %04o", mode)
	}
}

func fileMode(t *testing.T, p string) os.FileMode {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestServerDownThenUp: nothing is lost and nothing counted twice across
// an outage, lost acknowledgements and a restart.
func TestServerDownThenUp(t *testing.T) {
	e := newEnv(t, 0)
	e.write(t, 7)
	s := e.shipper(t, 5)
	e.fake.SetAuditDown(true)
	if _, err := s.ShipOnce(context.Background()); !errors.Is(err, secretstore.ErrStoreUnavailable) {
		t.Fatalf("server down: err = %v", err)
	}
	if s.Shipped() != 0 {
		t.Fatal("position moved without an acknowledgement")
	}
	e.write(t, 6)
	e.fake.SetAuditDown(false)
	e.send.loseAcks = 2 // delivered, but the shipper hears nothing
	for i := 0; i < 2; i++ {
		if _, err := s.ShipOnce(context.Background()); err == nil {
			t.Fatal("lost acknowledgement not reported")
		}
	}
	s = e.shipper(t, 5) // and a restart on top
	if _, err := s.ShipOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.checkDelivered(t)
}

func TestRotation(t *testing.T) {
	e := newEnv(t, 4096) // a few records per file
	s := e.shipper(t, 7)
	for round := 0; round < 6; round++ {
		e.write(t, 5+round)
		if _, err := s.ShipOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := audit.Files(e.path)
	if len(files) < 4 {
		t.Fatalf("expected several rotated files, got %d", len(files))
	}
	e.checkDelivered(t)
	// A restart re-reads the rotated files to find its place, sends nothing.
	before := e.fake.AuditPosts.Load()
	if n, err := e.shipper(t, 7).ShipOnce(context.Background()); n != 0 || err != nil {
		t.Fatalf("restart after rotation resent %d (%v)", n, err)
	}
	if e.fake.AuditPosts.Load() != before {
		t.Fatal("restart posted")
	}
}

func TestRunLoop(t *testing.T) {
	e := newEnv(t, 4096)
	s := e.shipper(t, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	e.fake.SetAuditDown(true)
	e.write(t, 30)
	time.Sleep(100 * time.Millisecond)
	e.fake.SetAuditDown(false)
	e.write(t, 10)
	// Wait for the acknowledgements, not just the server's copy: stopping
	// between the two would leave the last batch for the next run.
	deadline := time.Now().Add(5 * time.Second)
	for (e.send.inserted() < 40 || e.logs.FilterMessageSnippet("resumed").Len() == 0) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	e.checkDelivered(t)
	if e.logs.FilterMessageSnippet("shipping failed").Len() == 0 || e.logs.FilterMessageSnippet("resumed").Len() == 0 {
		t.Fatal("outage and recovery not logged")
	}
}

func TestTornLastLineWaits(t *testing.T) {
	e := newEnv(t, 0)
	e.write(t, 3)
	e.sink.Close()
	f, err := os.OpenFile(e.path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"ts":"2026-01-01T00:00:00Z","seq":4`)
	f.Close()
	s := e.shipper(t, 10)
	if n, err := s.ShipOnce(context.Background()); n != 3 || err != nil {
		t.Fatalf("ShipOnce = %d, %v", n, err)
	}
	e.openSink(t, 0) // cuts the torn line, continues the chain
	e.write(t, 2)
	if n, err := s.ShipOnce(context.Background()); n != 2 || err != nil {
		t.Fatalf("after the repair: %d, %v", n, err)
	}
	e.checkDelivered(t)
}

// TestReplacedLog: a log started afresh (new chain, seq from 1) is
// shipped again from its start under new IDs.
func TestReplacedLog(t *testing.T) {
	e := newEnv(t, 0)
	e.write(t, 5)
	s := e.shipper(t, 10)
	if _, err := s.ShipOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.sink.Close()
	for _, p := range []string{e.path, e.path + ".head"} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	e.openSink(t, 0)
	e.written = 0
	e.write(t, 3)
	if n, err := s.ShipOnce(context.Background()); n != 3 || err != nil {
		t.Fatalf("ShipOnce on the new log = %d, %v", n, err)
	}
	if got := len(e.fake.Audit()); got != 8 {
		t.Fatalf("server holds %d records, want 5 old + 3 new", got)
	}
	if e.logs.FilterMessageSnippet("does not continue").Len() == 0 {
		t.Fatal("the replaced log was not reported")
	}
}

func TestRefusedRecordIsSkipped(t *testing.T) {
	e := newEnv(t, 0)
	e.write(t, 6)
	entries, _, _ := audit.ReadEntries(e.path)
	e.send.refuse = ship.RecordID(entries[2])
	s := e.shipper(t, 10)
	if n, err := s.ShipOnce(context.Background()); err != nil || s.Shipped() != 6 {
		t.Fatalf("ShipOnce = %d, %v, shipped %d", n, err, s.Shipped())
	}
	if got := len(e.fake.Audit()); got != 5 {
		t.Fatalf("server holds %d records, want 5", got)
	}
	if e.logs.FilterMessageSnippet("refused").Len() != 1 {
		t.Fatal("refusal not logged once")
	}
}

func TestNoLogYet(t *testing.T) {
	dir := t.TempDir()
	s, err := ship.New(ship.Options{Path: filepath.Join(dir, "audit.log"), Sender: &countingSender{}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.ShipOnce(context.Background()); n != 0 || err != nil {
		t.Fatalf("ShipOnce without a log = %d, %v", n, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "audit.log.ship"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ship.New(ship.Options{Path: filepath.Join(dir, "audit.log"), Sender: &countingSender{}}); err == nil {
		t.Fatal("a garbage state file was accepted")
	}
}
