package forward_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/server/wire"
)

// sdParam unescapes one structured-data PARAM-VALUE the way RFC 5424
// 6.3.3 reads it: a backslash before '"', '\' or ']' is dropped, and an
// unescaped '"' ends the value. It returns the value and what follows.
func sdParam(t *testing.T, s string) (string, string) {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s) && strings.IndexByte(`"\]`, s[i+1]) >= 0:
			b.WriteByte(s[i+1])
			i++
		case c == '"':
			return b.String(), s[i+1:]
		case c == ']':
			t.Fatalf("an unescaped ']' inside a PARAM-VALUE: %q", s)
		default:
			b.WriteByte(c)
		}
	}
	t.Fatalf("PARAM-VALUE not closed: %q", s)
	return "", ""
}

// TestSyslogAttackInjection: record ids, sources and bodies holding what a
// collector parses (quotes, ']' and '\' of structured data, newlines and
// CR, a forged octet count and second message, NUL, a BOM, a terminal
// escape) stay inside their one frame and field: the collector reads
// exactly one message per record, its SD values unescape to the sent
// ones, and the MSG is the record's JSON with no raw control byte.
func TestSyslogAttackInjection(t *testing.T) {
	forgedFrame := "\n57 <110>1 2026-01-01T00:00:00.000000Z evil alter - audit [alter@32473 id=\"x\"] forged\n"
	for _, tc := range []struct {
		name       string
		id, source string
		body       string
	}{
		{"sd closers in the id", `1-a"] [evil@1 x="y`, "", `{"ts":"2026-01-02T03:04:05Z","msg":"m"}`},
		{"backslashes", `2-a\"\\\]`, `app\"/tok\`, `{"ts":"2026-01-02T03:04:05Z"}`},
		{"newline and forged frame in the id", "3-a" + forgedFrame, "", `{"ts":"2026-01-02T03:04:05Z"}`},
		{"forged frame in the body", "4-a", "billing/t", `{"ts":"2026-01-02T03:04:05Z","path":` + mustJSON(t, forgedFrame) + `}`},
		{"control bytes in the body", "5-a", "", `{"ts":"2026-01-02T03:04:05Z","tool":"\u001b]0;pwned\u0007\r\n\u0000"}`},
		{"bom and line separators", "6-\ufeff\u2028", "", `{"ts":"2026-01-02T03:04:05Z","r":"\ufeff\u2028\u2029"}`},
		{"long id", "7-" + strings.Repeat("]", 2000), "", `{"ts":"2026-01-02T03:04:05Z"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := wire.AuditRecord{ID: tc.id, Source: tc.source, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
				Decision: audit.DecisionAllow, Body: json.RawMessage(tc.body)}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			sl, err := forward.NewSyslog(forward.SyslogOptions{Address: ln.Addr().String(), Hostname: "sidecar-1"})
			if err != nil {
				t.Fatal(err)
			}
			if n, err := sl.ShipAudit(t.Context(), []wire.AuditRecord{rec, rec}); n != 2 || err != nil {
				t.Fatalf("ShipAudit = %d, %v", n, err)
			}
			sl.Close()
			conn, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			for i := 0; i < 2; i++ {
				frame, err := forward.ReadFrame(br)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				head := "<110>1 2026-01-02T03:04:05.000000Z sidecar-1 alter - audit [" + forward.SDID + ` id="`
				if !bytes.HasPrefix(frame, []byte(head)) {
					t.Fatalf("frame %d header: %q", i, frame)
				}
				id, rest := sdParam(t, string(frame[len(head):]))
				if id != tc.id {
					t.Fatalf("id = %q, want %q", id, tc.id)
				}
				if tc.source != "" {
					if !strings.HasPrefix(rest, ` source="`) {
						t.Fatalf("no source param: %q", rest)
					}
					var src string
					src, rest = sdParam(t, rest[len(` source="`):])
					if src != tc.source {
						t.Fatalf("source = %q, want %q", src, tc.source)
					}
				}
				msg, ok := strings.CutPrefix(rest, "] \ufeff")
				if !ok {
					t.Fatalf("structured data not closed before the MSG: %q", rest)
				}
				for _, c := range []byte(msg) {
					if c < 0x20 || c == 0x7f {
						t.Fatalf("raw control byte %#x in the MSG %q", c, msg)
					}
				}
				var got forward.Record
				if err := json.Unmarshal([]byte(msg), &got); err != nil || got.ID != tc.id {
					t.Fatalf("MSG %q: %v", msg, err)
				}
				var want, have any
				_ = json.Unmarshal([]byte(tc.body), &want)
				_ = json.Unmarshal(got.Record, &have)
				if mustJSON(t, want) != mustJSON(t, have) {
					t.Fatalf("record = %s, want %s", got.Record, tc.body)
				}
			}
			// Nothing after the two frames: no forged third one.
			_ = conn.SetReadDeadline(time.Now().Add(time.Second))
			if b, err := br.ReadByte(); err == nil {
				t.Fatalf("a byte %q after the last frame", b)
			}
		})
	}
}

// TestSyslogAttackRefusesNonUTF8: an id or source that is not UTF-8 is
// refused before anything is written (PARAM-VALUE is UTF-8).
func TestSyslogAttackRefusesNonUTF8(t *testing.T) {
	for _, tc := range []struct{ name, id, source string }{
		{"id", "1-\xff\xfe", ""},
		{"source", "1-a", "app/\xc0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := forward.Message(wire.AuditRecord{ID: tc.id, Source: tc.source, Body: json.RawMessage(`{}`)}, "-")
			if err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// stuckCollector accepts connections and never reads from them, so a
// sender's writes block once the socket buffers are full.
func stuckCollector(t *testing.T) (addr string, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 16)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			ch <- struct{}{}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), ch
}

// bigBatch is more bytes than any socket buffers hold.
func bigBatch() []wire.AuditRecord {
	body := json.RawMessage(`{"ts":"2026-01-02T03:04:05Z","path":"` + strings.Repeat("p", 60<<10) + `"}`)
	recs := make([]wire.AuditRecord, 400) // 24 MB
	for i := range recs {
		recs[i] = wire.AuditRecord{ID: "r-" + strings.Repeat("x", i%7), Time: time.Now(), Decision: audit.DecisionAllow, Body: body}
	}
	return recs
}

// TestSyslogAttackStuckCollectorIsCancelled: a collector that accepts and
// never reads cannot hold a write past its context: cancelling ends
// ShipAudit at once (an error, nothing counted as sent), not after the
// 30-second write timeout.
func TestSyslogAttackStuckCollectorIsCancelled(t *testing.T) {
	addr, accepted := stuckCollector(t)
	sl, err := forward.NewSyslog(forward.SyslogOptions{Address: addr, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// No sl.Close here: it would wait for a stuck write's lock; the
	// collector's cleanup closes the connection instead.
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	go func() {
		n, err := sl.ShipAudit(ctx, bigBatch())
		res <- result{n, err}
	}()
	<-accepted
	cancel()
	select {
	case r := <-res:
		if r.n != 0 || r.err == nil {
			t.Fatalf("ShipAudit = %d, %v; want 0 and an error", r.n, r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ShipAudit still writing to a collector that never reads, 20s after its context ended")
	}
}

// TestSyslogAttackStopWithStuckCollector: Forwarders.Stop returns within
// its timeout (plus slack) when the collector never reads, and says why.
func TestSyslogAttackStopWithStuckCollector(t *testing.T) {
	addr, accepted := stuckCollector(t)
	sl, err := forward.NewSyslog(forward.SyslogOptions{Address: addr, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	l := newLog(t)
	for i := 0; i < 40; i++ {
		if err := l.sink.Write(audit.Record{RequestID: "r", Decision: audit.DecisionAllow, Path: "/" + strings.Repeat("p", 3000),
			Reason: strings.Repeat("r", audit.MaxReasonBytes)}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := forward.Start(l.path, []forward.Target{{Name: "stuck", Sender: repeat{sl, 300}}},
		forward.LogOptions{Interval: time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	<-accepted
	stopped := make(chan struct{})
	start := time.Now()
	go func() {
		f.Stop(500 * time.Millisecond)
		close(stopped)
	}()
	select {
	case <-stopped:
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("Stop took %v", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Stop(500ms) has not returned after 20s: a write to a collector that never reads holds it")
	}
}

// repeat sends each batch n times in one write, so a small log is enough
// to fill the socket buffers.
type repeat struct {
	s *forward.Syslog
	n int
}

func (r repeat) ShipAudit(ctx context.Context, recs []wire.AuditRecord) (int, error) {
	var all []wire.AuditRecord
	for i := 0; i < r.n; i++ {
		all = append(all, recs...)
	}
	n, err := r.s.ShipAudit(ctx, all)
	if err != nil {
		return 0, err
	}
	if n != len(all) {
		return 0, errors.New("short")
	}
	return len(recs), nil
}

func (r repeat) Close() error { return r.s.Close() }

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
