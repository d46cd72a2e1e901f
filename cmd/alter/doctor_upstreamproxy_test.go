package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/config"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// corpProxy answers CONNECTs: 200 with the right Basic credentials, else 407.
func corpProxy(t *testing.T, user, pass string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				if req.Method != http.MethodConnect || req.Header.Get("Proxy-Authorization") != want {
					fmt.Fprint(c, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
					return
				}
				fmt.Fprint(c, "HTTP/1.1 200 Connection established\r\n\r\n")
			}()
		}
	}()
	return ln.Addr().String()
}

func TestDoctorUpstreamProxy(t *testing.T) {
	const pass = "corp-pass-sentinel-31"
	addr := corpProxy(t, "alice", pass)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	grants := []secretstore.GrantInfo{{Grant: secretstore.Grant{Policy: policy.Spec{Destinations: []string{"https://api.example.com"}}}, Status: secretstore.StatusActive}}
	cases := []struct {
		name, url string
		grants    []secretstore.GrantInfo
		want      string
	}{
		{"right credentials", "http://alice:" + pass + "@" + addr, grants, "ok    upstream.proxy: " + addr + " opens tunnels (CONNECT api.example.com:443: 200)"},
		{"wrong credentials", "http://alice:wrong-" + pass + "@" + addr, grants, "FAIL  upstream.proxy: " + addr + " wants other credentials"},
		{"no grant host", "http://alice:" + pass + "@" + addr, nil, "ok    upstream.proxy: " + addr + " accepts connections"},
		{"nothing listening", "http://" + closedAddr, grants, "FAIL  upstream.proxy: " + closedAddr + " does not accept connections"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte("version: 1\nupstream:\n  proxy: "+c.url+"\n"), t.TempDir(), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			doctorUpstreamProxy(context.Background(), &doctor{out: &out}, cfg.Upstream, c.grants)
			if !strings.Contains(out.String(), c.want) {
				t.Fatalf("doctor said %q, want %q", out.String(), c.want)
			}
			if strings.Contains(out.String(), pass) {
				t.Fatalf("doctor printed the upstream proxy's password: %s", out.String())
			}
		})
	}
}
