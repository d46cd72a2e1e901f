package mint_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testclock"
	"github.com/alter-sidecar/alter/mint"
)

// TestFailurePause: after a failed token request the credential is not
// tried again at once: requests in the pause get the same error without a
// call to the endpoint; the pause doubles with each failure in a row (1s,
// 2s, 4s ... 30s); a success ends it; a new version of the secret is tried
// at once. (Every proxied request used to ask a failing endpoint again.)
func TestFailurePause(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	te := newTokenEndpoint(t, func(t *testing.T, r *http.Request, form url.Values) (int, any) {
		if failing.Load() {
			return 503, map[string]string{"error": "temporarily_unavailable"}
		}
		return 200, map[string]any{"access_token": "at-ok", "token_type": "Bearer", "expires_in": 3600}
	})
	clock := testclock.New()
	m := newMinter(t, te, clock, nil)
	req := ccRequest(te.srv.URL, nil)
	tokenErr := func() error {
		_, err := m.Token(context.Background(), req)
		return err
	}
	calls := func() int64 { return te.requests.Load() }

	steps := []struct {
		name      string
		advance   time.Duration
		wantCalls int64
	}{
		{"the first request asks", 0, 1},
		{"in the first pause (1s)", 999 * time.Millisecond, 1},
		{"after it", time.Millisecond, 2},
		{"in the second pause (2s)", 1999 * time.Millisecond, 2},
		{"after the second", time.Millisecond, 3},
		{"in the third pause (4s)", 3 * time.Second, 3},
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		for range 5 {
			var me *mint.Error
			if err := tokenErr(); !errors.As(err, &me) || me.Reason != mint.ReasonRejected {
				t.Fatalf("%s: %v, want the endpoint's refusal", s.name, err)
			}
		}
		if got := calls(); got != s.wantCalls {
			t.Fatalf("%s: %d token requests, want %d", s.name, got, s.wantCalls)
		}
	}

	// A new version of the secret (an admin fixed it) is tried at once.
	failing.Store(false)
	v2 := req
	v2.Version = 2
	if tok, err := m.Token(context.Background(), v2); err != nil || tok.Value() != "at-ok" {
		t.Fatalf("a new version in the pause: %v", err)
	}
	if got := calls(); got != 4 {
		t.Fatalf("%d token requests, want 4", got)
	}

	// The pause caps at 30s and a success resets it.
	failing.Store(true)
	v3 := req
	v3.Version = 3
	for range 10 {
		_ = tokenErrFor(m, v3)
		clock.Advance(time.Minute)
	}
	before := calls()
	_ = tokenErrFor(m, v3)
	clock.Advance(30 * time.Second)
	_ = tokenErrFor(m, v3)
	if got := calls() - before; got != 2 {
		t.Fatalf("after many failures: %d requests across 30s, want 2 (the pause is at most 30s)", got)
	}
	failing.Store(false)
	clock.Advance(30 * time.Second)
	if err := tokenErrFor(m, v3); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	clock.Advance(2 * time.Hour) // the token expired: refresh, and fail
	_ = tokenErrFor(m, v3)
	before = calls()
	clock.Advance(time.Second)
	_ = tokenErrFor(m, v3)
	if got := calls() - before; got != 1 {
		t.Fatalf("after a success the pause starts over at 1s: %d requests, want 1", got)
	}
}

func tokenErrFor(m *mint.Minter, r mint.Request) error {
	_, err := m.Token(context.Background(), r)
	return err
}
