package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// The change stream. A sidecar remembers the last sequence number it has
// seen and asks for the changes after it, either by long poll (changes) or
// as Server-Sent Events (events). Both wait in storage.WaitChange, which
// wakes on a write made through any replica.
//
// The cursor: changes commit in sequence order (writers hold the write
// lock while they draw numbers), so once the newest number N has been read
// and the app's changes after the cursor listed, every change of the app up
// to N has been seen and the wait may go on from N, past other apps'
// changes, without skipping one of ours. The number a sidecar is given
// back is its app's own (the last change of the app it was sent, or the
// one it sent): the global one would tell it how busy other apps are.

const (
	changeBatch = 1000
	defaultWait = 30 * time.Second
)

// listChanges lists the app's changes after `after` and the cursor to go
// on from. current is a newest number read before the listing (by
// LastChange, or the one WaitChange woke with).
func (h *handler) listChanges(ctx context.Context, app string, after, current int64) (cs []storage.Change, cursor int64, err error) {
	if cs, err = h.store.ChangesFor(ctx, app, after, changeBatch); err != nil {
		return nil, 0, err
	}
	cursor = max(after, current)
	if len(cs) > 0 {
		last := cs[len(cs)-1].Seq
		if len(cs) == changeBatch {
			cursor = last // more may follow; continue right after this batch
		} else {
			cursor = max(cursor, last)
		}
	}
	return cs, cursor, nil
}

// parseAfter reads a sequence number; ok is false when s is empty.
func parseAfter(s, what string) (int64, bool, *apiError) {
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false, badRequest(what + ": want a change sequence number (a whole number, 0 or more)")
	}
	return n, true, nil
}

// untilStopped is ctx, also cancelled when the handler is closed.
func (h *handler) untilStopped(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(h.stopped, cancel)
	return ctx, func() { stop(); cancel() }
}

// changes is the long poll. Waiting costs no query (see storage.WaitChange):
// a poll reads the newest number once when it arrives, then lists the
// app's changes once per wake-up.
func (h *handler) changes(w http.ResponseWriter, r *http.Request) {
	tok := tokenFrom(r.Context())
	app := tok.App
	q := r.URL.Query()
	after, given, e := parseAfter(q.Get("after"), "after")
	if e != nil {
		writeError(w, r, e)
		return
	}
	wait := defaultWait
	if s := q.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			writeError(w, r, badRequest(`wait: want a Go duration such as "25s" (at most 60s)`))
			return
		}
		wait = d
	}
	wait = min(wait, h.maxWait)
	if !given {
		seq, err := h.store.LastChangeFor(r.Context(), app)
		if err != nil {
			fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, wire.Changes{Changes: []storage.Change{}, Seq: seq})
		return
	}
	if wait == 0 {
		// A poll, not a wait: it holds no slot (see waitlimit.go).
		current, err := h.store.LastChange(r.Context())
		var cs []storage.Change
		if err == nil {
			cs, _, err = h.listChanges(r.Context(), app, after, current)
		}
		if err != nil {
			fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, wire.Changes{Changes: cs, Seq: appCursor(after, current, cs)})
		return
	}
	release, ok := h.startWait(w, r)
	if !ok {
		return
	}
	defer release()
	ctx, cancel := h.untilStopped(r.Context())
	defer cancel()
	ctx, cancelWait := context.WithTimeout(ctx, wait)
	defer cancelWait()
	current, err := h.store.LastChange(ctx)
	sent := after // the client's cursor; waiting goes on from the global number
	for {
		var cs []storage.Change
		var cursor int64
		if err == nil {
			cs, cursor, err = h.listChanges(ctx, app, after, current)
		}
		if err != nil {
			if ctx.Err() != nil && r.Context().Err() == nil {
				break // waited long enough (or shutting down): answer empty
			}
			fail(w, r, err)
			return
		}
		// after > current: the sequence went back (a restored database);
		// answer at once so the sidecar sees the lower number.
		if len(cs) > 0 || after > current {
			writeJSON(w, http.StatusOK, wire.Changes{Changes: cs, Seq: appCursor(sent, current, cs)})
			return
		}
		after = cursor
		if current, err = h.store.WaitChange(ctx, after); err != nil {
			if r.Context().Err() != nil {
				return // the client left
			}
			if ctx.Err() == nil {
				fail(w, r, err)
				return
			}
			break
		}
		// Woken: the wake may be this token's revocation.
		if err := h.store.TokenLive(ctx, tok.ID); err != nil {
			fail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, wire.Changes{Changes: []storage.Change{}, Seq: sent})
}

// appCursor is the number a long poll answers with: the last of the app's
// changes it lists, else the number the client sent; lower than that only
// when the sequence went back (a restored database: then the current
// number, so the client sees it fall).
func appCursor(sent, current int64, cs []storage.Change) int64 {
	switch {
	case len(cs) > 0:
		return cs[len(cs)-1].Seq
	case sent > current:
		return current
	}
	return sent
}

// events is the change stream as Server-Sent Events. It resumes after
// Last-Event-ID (a reconnecting client's last event) or ?after=, else
// starts at the current number; it sends a keepalive comment when idle so
// proxies and the client can tell a quiet stream from a dead one.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	tok := tokenFrom(r.Context())
	app := tok.App
	after, given, e := parseAfter(r.Header.Get("Last-Event-ID"), "Last-Event-ID")
	if e == nil && !given {
		after, given, e = parseAfter(r.URL.Query().Get("after"), "after")
	}
	if e != nil {
		writeError(w, r, e)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, r, withDetail(errInternal, errors.New("the response writer cannot flush")))
		return
	}
	release, ok := h.startWait(w, r)
	if !ok {
		return
	}
	defer release()
	current, err := h.store.LastChange(r.Context())
	if err != nil {
		fail(w, r, err)
		return
	}
	if !given {
		after = current
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	ctx, cancel := h.untilStopped(r.Context())
	defer cancel()
	send := func(s string) bool {
		if _, err := fmt.Fprint(w, s); err != nil {
			return false
		}
		flusher.Flush()
		return true
	}
	if !send(": keepalive\n\n") { // headers and a first byte out at once
		return
	}
	for {
		cs, cursor, err := h.listChanges(ctx, app, after, current)
		if err != nil {
			if ctx.Err() == nil {
				h.logStreamError(r, err)
			}
			return // the client reconnects with Last-Event-ID
		}
		for _, c := range cs {
			data, err := json.Marshal(c)
			if err != nil || !send(fmt.Sprintf("event: change\nid: %d\ndata: %s\n\n", c.Seq, data)) {
				return
			}
		}
		after = cursor
		if len(cs) == changeBatch {
			continue // current still bounds the rest
		}
		if current, ok = h.waitOrKeepAlive(ctx, r, after, send); !ok {
			return
		}
		// Woken: the wake may be this token's revocation. The 200 is
		// sent, so the stream just ends; the reconnect gets 401.
		if err := h.store.TokenLive(ctx, tok.ID); err != nil {
			h.logStreamError(r, err)
			return
		}
	}
}

// waitOrKeepAlive waits for a change after `after`, sending a keepalive
// comment every keepAlive meanwhile. ok is false when the stream is over.
func (h *handler) waitOrKeepAlive(ctx context.Context, r *http.Request, after int64, send func(string) bool) (seq int64, ok bool) {
	for {
		waitCtx, cancelWait := context.WithTimeout(ctx, h.keepAlive)
		seq, err := h.store.WaitChange(waitCtx, after)
		cancelWait()
		switch {
		case ctx.Err() != nil:
			return 0, false
		case errors.Is(err, context.DeadlineExceeded):
			if !send(": keepalive\n\n") {
				return 0, false
			}
		case err != nil:
			h.logStreamError(r, err)
			return 0, false
		default:
			return seq, true
		}
	}
}

// logStreamError notes why a stream ended, once its 200 is already sent.
func (h *handler) logStreamError(r *http.Request, err error) {
	if info := infoFrom(r.Context()); info != nil {
		info.code, info.detail = fromError(err).code, err.Error()
	}
}
