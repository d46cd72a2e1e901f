package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
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

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := serverconfig.Default(home)
	cfg.Listen, cfg.ShutdownTimeout = addr, 5*time.Second
	a := &app{stderr: &errOut, homeFlag: home}
	db, err := a.openServerDB(context.Background(), cfg, home)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var announce bytes.Buffer
	go func() { done <- runServer(ctx, cfg, nil, db, zap.NewNop(), &announce) }()

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
