package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/server/serverconfig"
)

// The server as `alter server` runs it: a token from `alter server token
// create` works against it, and cancelling (SIGTERM) ends it gracefully,
// parked long polls included.
func TestServerRunsAndShutsDown(t *testing.T) {
	home := t.TempDir()
	var out, errOut bytes.Buffer
	if code := run([]string{"--home", home, "server", "token", "create", "--kind", "sidecar", "--name", "pod", "--app", "billing"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("token create: %d %s", code, errOut.String())
	}
	token := strings.TrimSpace(out.String())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var announce bytes.Buffer
	addr, done := startServer(t, ctx, home, &announce)

	get := func(path string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		return http.DefaultClient.Do(req)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := get("/v1/sidecar/policies")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("policies: %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	polled := make(chan int, 1)
	go func() {
		resp, err := get("/v1/sidecar/changes?after=0&wait=60s")
		if err != nil {
			polled <- 0
			return
		}
		resp.Body.Close()
		polled <- resp.StatusCode
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runServer: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown waited for the long poll")
	}
	if !strings.Contains(announce.String(), "alter server listening on "+addr+" (http, database sqlite)") {
		t.Fatalf("announcement: %q", announce.String())
	}
	if code := <-polled; code != 200 {
		t.Fatalf("the parked long poll got %d, want an empty 200", code)
	}
}

// A user from `alter server user add` logs in to the portal of `alter
// server`, and the session works on a second server on the same database
// (two replicas): the portal's logins and sessions live in the database.
func TestServerPortalUserAcrossReplicas(t *testing.T) {
	home := t.TempDir()
	var out, errOut bytes.Buffer
	const password = "correct horse battery staple"
	if code := run([]string{"--home", home, "server", "user", "add", "alice"}, strings.NewReader(password+"\n"), &out, &errOut); code != 0 {
		t.Fatalf("user add: %d %s", code, errOut.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := func() string {
		addr, done := startServer(t, ctx, home, io.Discard)
		t.Cleanup(func() { cancel(); <-done })
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, err := http.Get("http://" + addr + "/portal/login")
			if err == nil {
				resp.Body.Close()
				return "http://" + addr
			}
			if time.Now().After(deadline) {
				t.Fatalf("server did not come up: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	one, two := start(), start()

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(one + "/portal/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf on the login page")
	}
	login := func(pw string) *http.Response {
		req, _ := http.NewRequest("POST", one+"/portal/login", strings.NewReader(url.Values{"csrf": {string(m[1])}, "method": {"password"},
			"username": {"alice"}, "password": {pw}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range resp.Cookies() {
			req.AddCookie(c)
		}
		r, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r
	}
	if r := login("wrong password here"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", r.StatusCode)
	}
	in := login(password)
	if in.StatusCode != http.StatusSeeOther {
		t.Fatalf("login on one: %d", in.StatusCode)
	}
	for _, base := range []string{one, two} {
		req, _ := http.NewRequest("GET", base+"/portal/grants", nil)
		for _, c := range in.Cookies() {
			if c.Value != "" {
				req.AddCookie(c)
			}
		}
		r, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusOK || !strings.Contains(string(b), "Signed in as alice") {
			t.Errorf("%s/portal/grants with the session from one: %d", base, r.StatusCode)
		}
	}
}

func TestReadNewPassword(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{"one line", "correct horse battery staple\n", "correct horse battery staple", ""},
		{"CRLF", "correct horse battery staple\r\n", "correct horse battery staple", ""},
		{"no newline", "correct horse battery staple", "correct horse battery staple", ""},
		{"spaces kept", "  twelve chars  \n", "  twelve chars  ", ""},
		{"11 two-byte characters", "ééééééééééé\n", "", "11 characters"},
		{"12 multibyte characters", "éééééééééééé\n", "éééééééééééé", ""},
		{"short", "abc12345\n", "", "password too short"},
		{"empty", "", "", "no password on stdin"},
		{"two lines", "correct horse\nbattery staple\n", "", "more than one line"},
		{"too long", strings.Repeat("x", maxPasswordInput+1), "", "longer than"},
		{"not UTF-8", "\xff\xfe correct horse battery\n", "", "not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &app{stdin: strings.NewReader(tc.in), stderr: io.Discard}
			got, err := a.readNewPassword()
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Fatalf("got %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
			if strings.Contains(err.Error(), strings.TrimSpace(tc.in)) && tc.in != "" {
				t.Fatalf("the error repeats the input: %v", err)
			}
		})
	}
}

// startServer runs alter server (runServer) with home's default config on a
// free loopback port until ctx ends, announcing to announce. It returns the
// address, not waiting for it to answer, and the channel runServer's result
// arrives on.
func startServer(t *testing.T, ctx context.Context, home string, announce io.Writer) (string, <-chan error) {
	t.Helper()
	return startServerWith(t, ctx, home, announce, serverFiles{}, nil)
}

// startServerWith is startServer with files and an edit of the config.
func startServerWith(t *testing.T, ctx context.Context, home string, announce io.Writer, files serverFiles, edit func(*serverconfig.Config)) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := serverconfig.Default(home)
	cfg.Listen, cfg.ShutdownTimeout = addr, 5*time.Second
	if edit != nil {
		edit(&cfg)
	}
	a := &app{stderr: io.Discard, homeFlag: home}
	db, err := a.openServerDB(context.Background(), cfg, home)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	done := make(chan error, 1)
	go func() { done <- runServer(ctx, cfg, files, db, zap.NewNop(), announce) }()
	return addr, done
}
