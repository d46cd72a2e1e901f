package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// A long poll on one server wakes within a second when a change is made
// through ANOTHER server sharing the database (two storage.DB opened
// separately: on PostgreSQL, LISTEN/NOTIFY between replicas).
func TestLongPollWakesAcrossReplicas(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		a := newEnv(t, addr)
		b := newEnv(t, addr)
		var start wire.Changes
		a.must(200, "GET", "/v1/sidecar/changes", a.billing, nil, &start) // "now"
		if len(start.Changes) != 0 {
			t.Fatalf("after absent: %+v", start)
		}
		type result struct {
			ch  wire.Changes
			at  time.Time
			err string
		}
		done := make(chan result, 1)
		go func() {
			ans := a.call("GET", "/v1/sidecar/changes?wait=10s&after="+strconv.FormatInt(start.Seq, 10), a.billing, nil)
			var r result
			r.at = time.Now()
			if ans.status != 200 || json.Unmarshal(ans.body, &r.ch) != nil {
				r.err = string(ans.body)
			}
			done <- r
		}()
		time.Sleep(300 * time.Millisecond) // the poll is parked
		var g wire.GrantInfo
		wrote := time.Now()
		b.must(201, "POST", "/v1/secrets", b.admin, bearerSecret("billing", sentinel, "api.stripe.com"), &g)
		select {
		case r := <-done:
			if r.err != "" {
				t.Fatalf("long poll: %s", r.err)
			}
			if len(r.ch.Changes) != 1 || r.ch.Changes[0].GrantID != g.ID || r.ch.Changes[0].Kind != storage.ChangeAdd || r.ch.Seq < r.ch.Changes[0].Seq {
				t.Fatalf("changes: %+v", r.ch)
			}
			t.Logf("woke %v after the write", r.at.Sub(wrote))
			if d := r.at.Sub(wrote); d > time.Second {
				t.Fatalf("woke %v after the write", d)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the long poll did not wake")
		}
	})
}

func TestLongPoll(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr)
		var g wire.GrantInfo
		e.must(201, "POST", "/v1/secrets", e.admin, bearerSecret("billing", sentinel, "api.stripe.com"), &g)
		var now wire.Changes
		e.must(200, "GET", "/v1/sidecar/changes", e.billing, nil, &now)

		// Changes already there answer at once, only the app's own.
		var all wire.Changes
		e.must(200, "GET", "/v1/sidecar/changes?after=0&wait=10s", e.billing, nil, &all)
		if len(all.Changes) != 1 || all.Changes[0].GrantID != g.ID || all.Seq != now.Seq {
			t.Fatalf("after=0: %+v (now %d)", all, now.Seq)
		}
		// Another app's change does not answer the poll; it ends empty
		// after wait, with the app's own number: the global one would say
		// how busy other apps are.
		go func() {
			time.Sleep(100 * time.Millisecond)
			e.must(201, "POST", "/v1/secrets", e.admin, bearerSecret("search", sentinel, "api.stripe.com"), nil)
		}()
		began := time.Now()
		var empty wire.Changes
		e.must(200, "GET", "/v1/sidecar/changes?wait=700ms&after="+strconv.FormatInt(now.Seq, 10), e.billing, nil, &empty)
		if len(empty.Changes) != 0 || empty.Seq != now.Seq || time.Since(began) < 600*time.Millisecond {
			t.Fatalf("other app's change: %+v after %v", empty, time.Since(began))
		}
		if empty.Changes == nil {
			t.Fatal(`"changes" is null, want []`)
		}
		for _, tc := range []struct{ name, query, want string }{
			{"bad after", "after=x", "after"},
			{"negative after", "after=-1", "after"},
			{"bad wait", "after=0&wait=forever", "wait"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				checkError(t, e.call("GET", "/v1/sidecar/changes?"+tc.query, e.billing, nil), 400, wire.CodeInvalid, tc.want)
			})
		}
	})
}

// sseEvent is one Server-Sent Event, or a comment.
type sseEvent struct {
	comment, event, id, data string
}

// readSSE sends the stream's events and comments to a channel.
func readSSE(t *testing.T, e *env, lastID string) (<-chan sseEvent, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/sidecar/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.billing)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 100)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				out <- ev
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.comment = strings.TrimSpace(line[1:])
			default:
				k, v, _ := strings.Cut(line, ": ")
				switch k {
				case "event":
					ev.event = v
				case "id":
					ev.id = v
				case "data":
					ev.data = v
				}
			}
		}
	}()
	return out, cancel
}

// nextChange returns the next change event, skipping comments.
func nextChange(t *testing.T, events <-chan sseEvent) (sseEvent, storage.Change) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			if ev.event == "" {
				continue
			}
			var c storage.Change
			if ev.event != "change" || json.Unmarshal([]byte(ev.data), &c) != nil || ev.id != strconv.FormatInt(c.Seq, 10) {
				t.Fatalf("bad event %+v", ev)
			}
			return ev, c
		case <-timeout:
			t.Fatal("no event")
		}
	}
}

func TestEventStream(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr, func(o *Options) { o.KeepAlive = 100 * time.Millisecond })
		events, stop := readSSE(t, e, "")
		defer stop()
		var g wire.GrantInfo
		e.must(201, "POST", "/v1/secrets", e.admin, bearerSecret("search", sentinel, "api.stripe.com"), nil) // not ours
		e.must(201, "POST", "/v1/secrets", e.admin, bearerSecret("billing", sentinel, "api.stripe.com"), &g)
		first, c1 := nextChange(t, events)
		if c1.GrantID != g.ID || c1.Kind != storage.ChangeAdd {
			t.Fatalf("first event: %+v", c1)
		}
		e.must(200, "POST", "/v1/grants/"+g.ID+"/revoke", e.admin, nil, nil)
		_, c2 := nextChange(t, events)
		if c2.GrantID != g.ID || c2.Kind != storage.ChangeRevoke || c2.Seq <= c1.Seq {
			t.Fatalf("second event: %+v", c2)
		}
		// Idle: keepalive comments.
		sawKeepalive := false
		for deadline := time.After(2 * time.Second); !sawKeepalive; {
			select {
			case ev := <-events:
				sawKeepalive = ev.comment == "keepalive"
			case <-deadline:
				t.Fatal("no keepalive comment")
			}
		}
		stop()

		// Resume after the first event: the second comes again, not the first.
		resumed, stop2 := readSSE(t, e, first.id)
		defer stop2()
		if _, c := nextChange(t, resumed); c.Seq != c2.Seq {
			t.Fatalf("resumed with %+v, want seq %d", c, c2.Seq)
		}
		checkError(t, e.call("GET", "/v1/sidecar/events?after=x", e.billing, nil), 400, wire.CodeInvalid, "after")
	})
}

// Closing the handler ends parked long polls at once (graceful shutdown).
func TestCloseEndsLongPolls(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t))
	done := make(chan answer, 1)
	go func() { done <- e.call("GET", "/v1/sidecar/changes?after=0&wait=60s", e.billing, nil) }()
	time.Sleep(200 * time.Millisecond)
	e.api.Close()
	select {
	case a := <-done:
		if a.status != 200 {
			t.Fatalf("closed poll: %d %s", a.status, a.body)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not end the long poll")
	}
}

// TestCursorIsPerApp: the sequence numbers a sidecar is given are its
// app's own: other apps' writes do not move them, so they reveal nothing
// of other apps' activity. (They were the global sequence.)
func TestCursorIsPerApp(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t))
	id := e.addSecret("billing")
	var now, pol, poll, later wire.Changes
	e.must(200, "GET", "/v1/sidecar/changes", e.billing, nil, &now)
	for range 5 {
		e.addSecret("search")
	}
	e.must(200, "GET", "/v1/sidecar/changes", e.billing, nil, &later)
	e.must(200, "GET", "/v1/sidecar/policies", e.billing, nil, &pol)
	e.must(200, "GET", "/v1/sidecar/changes?wait=0s&after="+strconv.FormatInt(now.Seq, 10), e.billing, nil, &poll)
	if later.Seq != now.Seq || pol.Seq != now.Seq || poll.Seq != now.Seq {
		t.Fatalf("billing's numbers moved with search's writes: %d, %d, %d; want %d", later.Seq, pol.Seq, poll.Seq, now.Seq)
	}
	// The app's own change moves them, and is listed.
	e.must(200, "POST", "/v1/grants/"+id+"/revoke", e.admin, nil, nil)
	e.must(200, "GET", "/v1/sidecar/changes?wait=10s&after="+strconv.FormatInt(now.Seq, 10), e.billing, nil, &poll)
	if len(poll.Changes) != 1 || poll.Changes[0].GrantID != id || poll.Seq != poll.Changes[0].Seq || poll.Seq <= now.Seq {
		t.Fatalf("after billing's revoke: %+v", poll)
	}
}
