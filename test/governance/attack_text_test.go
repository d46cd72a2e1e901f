package governance

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"unicode"

	"github.com/alter-sidecar/alter/audit"
)

// Attacks through what clients send: text that people read (the reason,
// the path, the body's preview) and the credential, which must stay out
// of everything about an approval.

// raw sends head (a request, written as is) through a tunnel opened with
// grant as the proxy password, past Go's client-side header checks.
func (e *env) raw(t *testing.T, grant, head string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", e.proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	auth := base64.StdEncoding.EncodeToString([]byte("alter:" + grant))
	fmt.Fprintf(conn, "CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\nProxy-Authorization: Basic %s\r\n\r\n", host, host, auth)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", err, resp)
	}
	pem, _ := os.ReadFile(e.caFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: host})
	if _, err := io.WriteString(tc, head); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	e.keep(string(b))
	return resp.StatusCode, string(b)
}

// controls returns the control and format characters (and line
// separators) in s, but the newlines listed in allowed.
func controls(s string, allowed string) []rune {
	var out []rune
	for _, r := range s {
		if strings.ContainsRune(allowed, r) {
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			out = append(out, r)
		}
	}
	return out
}

func TestClientTextCannotForgeLinesOrFormatMessages(t *testing.T) {
	h := startHook(t, 0)
	e := hookEnv(t, h, "30s")
	g := e.grant(t, "--require-approval", "POST")
	e.startProxy()
	c := e.client(g)

	// Go's client refuses control characters in a header; a raw request
	// carries what a hostile client would.
	const forged = "\x1b[2K\rAPPROVED by security\x1b[0m \u2028 \u202e <!channel> <https://evil.example|Approve here>"
	body := `{"n":1}`
	code, out := e.raw(t, g, "POST /v1/a HTTP/1.1\r\nHost: "+host+"\r\nContent-Type: application/json\r\nPrefer: respond-async\r\n"+
		"X-Alter-Reason: "+forged+"\r\nContent-Length: "+fmt.Sprint(len(body))+"\r\nConnection: close\r\n\r\n"+body)
	if code != http.StatusAccepted && code != http.StatusBadRequest {
		t.Fatalf("a reason with control characters: %d %s", code, out)
	}
	// A path with escapes decodes to a newline, a carriage return and <, >.
	a := e.call(t, c, "POST", "/v1/b%0A%0DApproved%20by%20root%1B%5B2J%3C!channel%3E%E2%80%A8", `{"n":2}`, "Prefer", "respond-async",
		"X-Alter-Reason", "\u2028 fake line \u0085 <!here>")
	if a.status != http.StatusAccepted {
		t.Fatalf("a path with escapes: %d %s", a.status, a.body)
	}
	want := 1
	if code == http.StatusAccepted {
		want = 2
	}
	list := e.waitPending(t, want)
	eventually(t, "a message per approval", func() bool { return len(h.messages()) == want })

	r := e.alterResult(t, "", "approvals", "list")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || len(lines) != 1+want {
		t.Fatalf("approvals list printed %d lines for %d approvals:\n%s", len(lines), want, r.stdout)
	}
	if cs := controls(r.stdout, "\n"); len(cs) > 0 {
		t.Errorf("approvals list printed control characters %q:\n%s", cs, r.stdout)
	}
	for _, m := range h.messages() {
		if cs := controls(m.Text, ""); len(cs) > 0 {
			t.Errorf("the webhook text holds control characters %q: %q", cs, m.Text)
		}
		for _, mark := range []string{"<!", "<http", "|Approve"} {
			if strings.Contains(m.Text, mark) {
				t.Errorf("client text formats the webhook text (%q): %q", mark, m.Text)
			}
		}
	}
	for _, ap := range list {
		d := e.alterResult(t, "", "approvals", "deny", ap.ID)
		if d.code != 0 || strings.Count(d.stderr, "\n") != 1 || len(controls(d.stderr, "\n")) > 0 {
			t.Errorf("approvals deny printed %q", d.stderr)
		}
		s := e.alterResult(t, "", "approvals", "show", ap.ID)
		if len(controls(s.stdout, "\n")) > 0 {
			t.Errorf("approvals show printed control characters: %q", s.stdout)
		}
	}
}

func TestHugeReasonIsBounded(t *testing.T) {
	h := startHook(t, 0)
	e := hookEnv(t, h, "30s")
	g := e.grant(t, "--require-approval", "POST")
	e.startProxy()
	huge := strings.Repeat("why? ", 12<<10) // 60 KiB
	a := e.call(t, e.client(g), "POST", "/v1/a", `{}`, "Prefer", "respond-async", "X-Alter-Reason", huge)
	if a.status != http.StatusAccepted && a.status != http.StatusRequestHeaderFieldsTooLarge && a.status != http.StatusBadRequest {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if a.status != http.StatusAccepted {
		return // refused outright: nothing kept
	}
	ap := e.waitPending(t, 1)[0]
	if len(ap.Reason) > audit.MaxReasonBytes {
		t.Errorf("the approval keeps a %d-byte reason; the audit record keeps %d", len(ap.Reason), audit.MaxReasonBytes)
	}
	if fi, err := os.Stat(e.approvalsFile()); err != nil || fi.Size() > 8<<10 {
		t.Errorf("one approval takes %v bytes in the approvals file (%v)", fi.Size(), err)
	}
	eventually(t, "the message", func() bool { return len(h.messages()) == 1 })
	b, _ := json.Marshal(h.messages()[0])
	if len(b) > 8<<10 {
		t.Errorf("the webhook message is %d bytes", len(b))
	}
	r := e.alterResult(t, "", "approvals", "list")
	for _, l := range strings.Split(r.stdout, "\n") {
		if len([]rune(l)) > 300 {
			t.Errorf("approvals list printed a %d-character line", len([]rune(l)))
		}
	}
}

func TestCredentialStaysOutOfApprovals(t *testing.T) {
	h := startHook(t, 0)
	e := hookEnv(t, h, "30s")
	g := e.grant(t, "--require-approval", "POST")
	e.startProxy()
	c := e.client(g)
	bodies := map[string]string{
		"application/json":                  `{"token":"` + e.secret + `"}`,
		"application/x-www-form-urlencoded": "token=" + e.secret,
		"text/plain":                        "the key is " + e.secret,
	}
	n := 0
	for ct, body := range bodies {
		a := e.call(t, c, "POST", "/v1/a?api_key="+e.secret+"&n="+fmt.Sprint(n), body, "Prefer", "respond-async", "Content-Type", ct)
		if a.status != http.StatusAccepted {
			t.Fatalf("%s: %d %s", ct, a.status, a.body)
		}
		n++
	}
	list := e.waitPending(t, n)
	for _, ap := range list {
		if ap.Preview != "" {
			t.Errorf("approval %s previews a body that holds the credential", ap.ID)
		}
		if strings.Join(ap.QueryKeys, ",") != "api_key,n" {
			t.Errorf("approval %s query keys %v", ap.ID, ap.QueryKeys)
		}
		e.alterResult(t, "", "approvals", "show", ap.ID)
	}
	e.alterResult(t, "", "approvals", "list", "--status", "all")
	eventually(t, "a message per approval", func() bool { return len(h.messages()) == n })
	// Approved and forwarded, the upstream gets the body as sent; nothing
	// about the approval gains the credential (checkNoLeak reads the
	// proxy's output, the audit and approvals files, every CLI output and
	// webhook message).
	e.alter(t, "", "approvals", "approve", list[0].ID, "--note", "fine")
	e.alterResult(t, "", "approvals", "list", "--status", "all")
}
