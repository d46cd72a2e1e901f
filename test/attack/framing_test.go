package attack

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Class 5: ambiguous or oversized framing is refused before anything is
// forwarded, on the proxy listener and inside terminated tunnels alike.
func TestAttackRequestFraming(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOpts{setup: func(e *env) {
		e.addGrant("api", "--type", "bearer", "--allow-host", "api.attack.test")
	}})
	g := e.grants["api"]
	plain := func(raw string) func() *resp {
		return func() *resp { return e.send("POST https://api.attack.test/f HTTP/1.1\r\n" + raw) }
	}
	tunnel := func(raw string) func() *resp {
		return func() *resp {
			return e.sendTLS("api.attack.test:443", "api.attack.test", "POST /f HTTP/1.1\r\n"+raw)
		}
	}
	head := "Host: api.attack.test\r\nX-Alter-Grant: " + g + "\r\n"
	refusedCases := []struct {
		name   string
		status int
		raw    string
	}{
		{"duplicate Content-Length, different", 400, head + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
		{"Content-Length list", 400, head + "Content-Length: 5, 6\r\n\r\nhello!"},
		{"negative Content-Length", 400, head + "Content-Length: -1\r\n\r\n"},
		{"signed Content-Length", 400, head + "Content-Length: +5\r\n\r\nhello"},
		{"Transfer-Encoding xchunked", 501, head + "Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"Transfer-Encoding chunked, identity", 501, head + "Transfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"Transfer-Encoding identity", 501, head + "Transfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello"},
		{"Transfer-Encoding twice", 501, head + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"Transfer-Encoding space before colon", 400, head + "Transfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"oversized header block", 431, head + "X-Big: " + strings.Repeat("a", 70<<10) + "\r\nContent-Length: 0\r\n\r\n"},
		{"many headers", 431, head + strings.Repeat("X-Many: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 2000) + "Content-Length: 0\r\n\r\n"},
	}
	for _, c := range refusedCases {
		t.Run("plain/"+c.name, func(t *testing.T) { e.refused(t, c.status, "", plain(c.raw)) })
		t.Run("tunnel/"+c.name, func(t *testing.T) { e.refused(t, c.status, "", tunnel(c.raw)) })
	}
	// Content-Length together with Transfer-Encoding is refused with 400
	// (the proxy watches the raw head: net/http would drop Content-Length).
	for name, te := range map[string]string{"CL then TE": "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "TE then CL": "Transfer-Encoding: chunked\r\nContent-Length: 30\r\n"} {
		for kind, send := range map[string]func(string) func() *resp{"plain": plain, "tunnel": tunnel} {
			t.Run(kind+"/"+name, func(t *testing.T) {
				before, hits := e.evil.bytes.Load(), e.good.hits.Load()
				r := send(head + te + "\r\n5\r\nhello\r\n0\r\n\r\n")()
				if e.evil.bytes.Load() != before || e.good.hits.Load() != hits {
					t.Fatal("an ambiguous request was forwarded")
				}
				if r.status != 400 {
					t.Errorf("%s: %s", name, r)
				}
			})
		}
	}
	// A malformed chunked body is only seen while it streams, after the
	// headers (and the credential) went to the allowed host. What the client
	// gets depends on one event, which each case fixes:
	//   - the upstream reads the body before it answers (as this one does):
	//     it gets a truncated body, and the proxy answers 400 bad_request,
	//     never what the upstream said about the truncated request;
	//   - the upstream answered before the body broke off (/early does not
	//     read it): that answer was relayed, and then the proxy closes the
	//     client's connection, since the next request cannot be found.
	// Either way nothing reaches another host.
	for kind, send := range map[string]func(string) func() *resp{"plain": plain, "tunnel": tunnel} {
		t.Run(kind+"/bad chunk size mid-stream", func(t *testing.T) {
			before := e.evil.bytes.Load()
			if r := send(head + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")(); r.status != 400 || r.code() != "bad_request" {
				t.Errorf("want 400 bad_request, got %s", r)
			}
			if e.evil.bytes.Load() != before {
				t.Fatal("bytes reached the evil upstream")
			}
		})
		t.Run(kind+"/bad chunk after the upstream answered", func(t *testing.T) {
			before := e.evil.bytes.Load()
			c := e.open(t, kind)
			defer c.Close()
			br := bufio.NewReader(c)
			start := "POST /early HTTP/1.1\r\n"
			if kind == "plain" {
				start = "POST https://api.attack.test/early HTTP/1.1\r\n"
			}
			if _, err := io.WriteString(c, start+head+"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"); err != nil {
				t.Fatal(err)
			}
			r := e.checked(readResp(br, "POST"))
			if r.status != 200 || !strings.Contains(r.body, "early answer") {
				t.Fatalf("want the upstream's early 200, got %s", r)
			}
			if _, err := io.WriteString(c, "zz\r\nhello\r\n0\r\n\r\n"); err != nil {
				return // already closed: as good as a close after
			}
			// The connection ends (net/http's server may first say
			// "400 Bad Request" about the broken body): never a second
			// answer from the upstream.
			rest, err := io.ReadAll(br)
			if err != nil {
				t.Fatalf("the connection stayed open after a malformed body: %v", err)
			}
			if len(rest) > 0 && !strings.HasPrefix(string(rest), "HTTP/1.1 400 ") {
				t.Fatalf("after the malformed body the client got %q", rest)
			}
			if e.evil.bytes.Load() != before {
				t.Fatal("bytes reached the evil upstream")
			}
		})
		t.Run(kind+"/obs-fold is joined, as RFC 9112 allows", func(t *testing.T) {
			s := e.allowed(t, e.good, send(head+"Transfer-Encoding:\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
			if s.Body != "hello" {
				t.Errorf("upstream body %q", s.Body)
			}
		})
	}
	t.Run("plain/HTTP2 preface on the proxy listener", func(t *testing.T) {
		e.refused(t, 0, "", func() *resp {
			r := e.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
			if r.err == nil && r.status < 400 {
				t.Errorf("HTTP/2 prior knowledge got %s", r)
			}
			return &resp{}
		})
	})
	for kind, send := range map[string]func(string) func() *resp{"plain": plain, "tunnel": tunnel} {
		t.Run(kind+"/Upgrade h2c with a grant", func(t *testing.T) {
			r := send(head + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 0\r\n\r\n")()
			if r.status != 400 {
				t.Errorf("Upgrade h2c: %s", r)
			}
		})
		// A WebSocket handshake is switched: the upstream sees the upgrade
		// (and the credential, with a grant), the client the cleaned 101,
		// and then bytes go both ways on the connection.
		for _, grant := range []bool{true, false} {
			name := map[bool]string{true: "with", false: "without"}[grant]
			t.Run(kind+"/Upgrade websocket "+name+" a grant", func(t *testing.T) {
				c := e.open(t, kind)
				defer c.Close()
				target := "/ws"
				if kind == "plain" {
					target = "https://api.attack.test/ws"
				}
				marker := "Host: api.attack.test\r\n"
				if grant {
					marker = head
				}
				if _, err := io.WriteString(c, "GET "+target+" HTTP/1.1\r\n"+marker+
					"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(c)
				hr, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				var raw strings.Builder
				_ = hr.Header.Write(&raw)
				e.checked(&resp{raw: raw.String()})
				onlyAlterRequestID(t, hr.Header)
				if hr.StatusCode != 101 || hr.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
					t.Fatalf("want the upstream's 101, got %d %v", hr.StatusCode, hr.Header)
				}
				s := e.good.lastSeen()
				if wantAuth := map[bool]string{true: "Bearer " + e.secret("api")}[grant]; s.Header.Get("Authorization") != wantAuth || !strings.EqualFold(s.Header.Get("Upgrade"), "websocket") ||
					s.Header.Get("X-Alter-Grant") != "" {
					t.Errorf("the upstream saw %v", s.Header)
				}
				if _, err := io.WriteString(c, "frames go through"); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len("frames go through"))
				if _, err := io.ReadFull(br, got); err != nil || string(got) != "frames go through" {
					t.Fatalf("relay: %q %v", got, err)
				}
			})
		}
	}
	t.Run("plain/valid chunked body is forwarded intact", func(t *testing.T) {
		s := e.allowed(t, e.good, plain(head+"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
		if s.Body != "hello" || s.Header.Get("Transfer-Encoding") != "" && len(s.Header.Values("Content-Length")) > 1 {
			t.Errorf("upstream body %q", s.Body)
		}
	})
}
