package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// openWait starts a long poll (wait 60 s after the current number) or an
// event stream with tok, in the background. The returned channel gets the
// status (and, for a long poll, the body) when it ends; cancel ends it.
func openWait(t *testing.T, e *env, tok string, stream bool) (ends <-chan answer, cancel func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	path := "/v1/sidecar/events"
	if !stream {
		var now wire.Changes
		e.must(200, "GET", "/v1/sidecar/changes", tok, nil, &now)
		path = "/v1/sidecar/changes?wait=60s&after=" + strconv.FormatInt(now.Seq, 10)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	out := make(chan answer, 1)
	go func() {
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			out <- answer{status: -1, body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		out <- answer{status: resp.StatusCode, header: resp.Header, body: b}
	}()
	return out, cancel
}

// sidecarToken creates another sidecar token for app.
func (e *env) sidecarToken(app, name string) string {
	e.t.Helper()
	_, tok, err := e.db.CreateToken(context.Background(), storage.NewToken{Kind: storage.TokenSidecar, Name: name, App: app})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// One token may hold only so many long polls and event streams, and all
// tokens together only so many; the one beyond gets 429 too_many_requests
// with Retry-After, and a slot is free again as soon as a wait ends.
func TestWaitLimits(t *testing.T) {
	const perToken = DefaultMaxWaitsPerToken
	cases := []struct {
		name            string
		perToken, total int    // Options; 0 for the defaults
		held            int    // waits opened first, alternately by billing and search when split
		split           bool   // held is shared by billing and search (else billing alone)
		stream          bool   // held and extra are event streams (else long polls)
		extra           string // "billing", "search" or "other" (a second billing token)
		want            int
	}{
		{"long polls: one more than the per-token cap", 0, 0, perToken, false, false, "billing", 429},
		{"long polls: up to the per-token cap", 0, 0, perToken - 1, false, false, "billing", 200},
		{"long polls: another app's token is unaffected", 0, 0, perToken, false, false, "search", 200},
		{"long polls: another token of the same app is unaffected", 0, 0, perToken, false, false, "other", 200},
		{"event streams: one more than the per-token cap", 0, 0, perToken, false, true, "billing", 429},
		{"event streams: another token is unaffected", 0, 0, perToken, false, true, "search", 200},
		{"global cap: any token is refused", 0, 4, 4, true, false, "other", 429},
		{"global cap: event streams", 0, 4, 4, true, true, "other", 429},
		{"small per-token cap", 2, 0, 2, false, false, "billing", 429},
	}
	testdb.ForEach(t, func(t *testing.T, addr string) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, addr, func(o *Options) { o.MaxWaitsPerToken, o.MaxWaits = tc.perToken, tc.total })
				tokens := map[string]string{"billing": e.billing, "search": e.search, "other": e.sidecarToken("billing", "pod-3")}
				var cancels []func()
				defer func() {
					for _, c := range cancels {
						c()
					}
				}()
				for i := range tc.held {
					tok := e.billing
					if tc.split && i%2 == 1 {
						tok = e.search
					}
					_, cancel := openWait(t, e, tok, tc.stream)
					cancels = append(cancels, cancel)
				}
				waitFor(t, "the waits to open", func() bool { return e.api.waits.count() == tc.held })

				ends, cancel := openWait(t, e, tokens[tc.extra], tc.stream)
				if tc.want == 200 {
					// Accepted: it is parked beside the others.
					waitFor(t, "the extra wait to open", func() bool { return e.api.waits.count() == tc.held+1 })
					cancel()
					return
				}
				defer cancel()
				a := <-ends
				checkError(t, a, 429, wire.CodeTooManyRequests, "too many")
				if got := a.header.Get("Retry-After"); got != strconv.Itoa(retryAfter) {
					t.Fatalf("Retry-After %q", got)
				}
				// Slots come back when waits end.
				for _, c := range cancels {
					c()
				}
				waitFor(t, "the waits to close", func() bool { return e.api.waits.count() == 0 })
				ends, cancel2 := openWait(t, e, tokens[tc.extra], tc.stream)
				defer cancel2()
				waitFor(t, "a wait after the others closed", func() bool { return e.api.waits.count() == 1 })
				select {
				case a := <-ends:
					t.Fatalf("the wait ended: %d %s", a.status, a.body)
				default:
				}
			})
		}
	})
}

// A flood of long polls (many tokens, under the caps) leaves the server
// available: admin calls and sidecar resolves still succeed, the database
// pool stays under its ceiling, and one write wakes every poll.
func TestLongPollFlood(t *testing.T) {
	const tokens, perToken = 64, DefaultMaxWaitsPerToken // 512 long polls
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr, func(o *Options) { o.MaxWaitsPerApp = tokens * perToken })
		var g wire.GrantInfo
		e.must(201, "POST", "/v1/secrets", e.admin, bearerSecret("billing", sentinel, "api.stripe.com"), &g)
		var polls []<-chan answer
		for i := range tokens {
			tok := e.sidecarToken("flood", fmt.Sprintf("flood-%d", i))
			for range perToken {
				ends, cancel := openWait(t, e, tok, false)
				defer cancel()
				polls = append(polls, ends)
			}
		}
		waitFor(t, "the long polls to park", func() bool { return e.api.waits.count() == tokens*perToken })

		// A write for another app wakes every poll (each lists its changes
		// once) and they park again; meanwhile the server answers.
		var busy sync.WaitGroup
		for range 4 {
			busy.Go(func() {
				e.must(201, "POST", "/v1/secrets", e.admin, bearerSecret("billing", sentinel, "api.stripe.com"), nil)
				e.must(200, "GET", "/v1/grants", e.admin, nil, nil)
				e.must(200, "GET", "/v1/sidecar/grants/"+g.ID, e.billing, nil, nil)
				e.must(200, "GET", "/readyz", "", nil, nil)
			})
		}
		busy.Wait()
		st := e.db.PoolStats()
		if st.MaxOpenConnections <= 0 || st.OpenConnections > st.MaxOpenConnections {
			t.Fatalf("pool: %d open, ceiling %d", st.OpenConnections, st.MaxOpenConnections)
		}
		if n := e.api.waits.count(); n != tokens*perToken {
			t.Fatalf("%d polls open after the other app's writes, want %d", n, tokens*perToken)
		}

		// A write for their app answers every one of them.
		var fg wire.GrantInfo
		e.must(201, "POST", "/v1/secrets", e.admin, bearerSecret("flood", sentinel, "api.stripe.com"), &fg)
		for i, ends := range polls {
			a := <-ends
			var ch wire.Changes
			if a.status != 200 || json.Unmarshal(a.body, &ch) != nil || len(ch.Changes) != 1 || ch.Changes[0].GrantID != fg.ID {
				t.Fatalf("poll %d: %d %s", i, a.status, a.body)
			}
		}
		if st := e.db.PoolStats(); st.OpenConnections > st.MaxOpenConnections {
			t.Fatalf("pool after the wake-up: %d open, ceiling %d", st.OpenConnections, st.MaxOpenConnections)
		}
		waitFor(t, "the polls to release their slots", func() bool { return e.api.waits.count() == 0 })
	})
}

// The tokens of one app together hold at most MaxWaitsPerApp waits, so
// one app's sidecars cannot take the slots another app's need; and a poll
// with wait=0 holds no slot, so a sidecar refused one still hears changes.
func TestWaitLimitPerApp(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t), func(o *Options) { o.MaxWaitsPerApp = 3 })
	for i := range 3 {
		_, cancel := openWait(t, e, e.sidecarToken("billing", fmt.Sprintf("p%d", i)), false)
		defer cancel()
	}
	waitFor(t, "the waits to open", func() bool { return e.api.waits.count() == 3 })
	ends, cancel := openWait(t, e, e.sidecarToken("billing", "p9"), true)
	defer cancel()
	checkError(t, <-ends, 429, wire.CodeTooManyRequests, "too many")
	_, cancel = openWait(t, e, e.search, false)
	defer cancel()
	waitFor(t, "another app's wait", func() bool { return e.api.waits.count() == 4 })

	var now, ch wire.Changes
	e.must(200, "GET", "/v1/sidecar/changes", e.billing, nil, &now)
	poll := "/v1/sidecar/changes?wait=0s&after=" + strconv.FormatInt(now.Seq, 10)
	e.must(200, "GET", poll, e.billing, nil, &ch)
	if len(ch.Changes) != 0 || ch.Seq != now.Seq {
		t.Fatalf("a wait=0 poll without changes: %+v", ch)
	}
	if n := e.api.waits.count(); n != 4 {
		t.Fatalf("%d waits open after a wait=0 poll, want 4", n)
	}
	id := e.addSecret("billing")
	e.must(200, "GET", poll, e.billing, nil, &ch)
	if len(ch.Changes) != 1 || ch.Changes[0].GrantID != id || ch.Seq <= now.Seq {
		t.Fatalf("a wait=0 poll past the cap: %+v", ch)
	}
}

// A revoked sidecar token's open long polls and event streams end at the
// revocation, on every replica (the revocation is a change that wakes
// every wait, and a woken wait checks its token again). They used to go
// on delivering changes until they ended by themselves: 60 s for a long
// poll, never for a stream.
func TestRevokedTokenEndsWaits(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr)
		var tok wire.Token
		e.must(201, "POST", "/v1/tokens", e.admin, wire.NewToken{Kind: "sidecar", Name: "doomed", App: "billing"}, &tok)
		poll, cancel := openWait(t, e, tok.Secret, false)
		defer cancel()
		stream, cancel2 := openWait(t, e, tok.Secret, true)
		defer cancel2()
		// Another token's wait is not ended.
		other, cancel3 := openWait(t, e, e.billing, false)
		defer cancel3()
		waitFor(t, "the waits to open", func() bool { return e.api.waits.count() == 3 })
		e.must(200, "POST", "/v1/tokens/"+tok.ID+"/revoke", e.admin, nil, nil)
		deadline := time.After(5 * time.Second)
		select {
		case a := <-poll:
			checkError(t, a, 401, wire.CodeUnauthorized, "")
		case <-deadline:
			t.Fatal("the revoked token's long poll is still open")
		}
		select {
		case <-stream:
		case <-deadline:
			t.Fatal("the revoked token's event stream is still open")
		}
		waitFor(t, "the slots to be released", func() bool { return e.api.waits.count() == 1 })
		select {
		case a := <-other:
			t.Fatalf("another token's long poll ended: %d %s", a.status, a.body)
		default:
		}
	})
}
