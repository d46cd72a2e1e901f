//go:build !windows

package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	// --binary wants an executable file; its content does not matter here.
	bin := filepath.Join(t.TempDir(), "alter")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	relBin, err := filepath.Rel(wd, bin)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		check   func(t *testing.T, o options)
	}{
		{name: "defaults", check: func(t *testing.T, o options) {
			if len(o.Scenarios) != 5 || !slices.Equal(o.Concurrency, []int{1, 32, 256}) || o.Rounds != 5 || !slices.Equal(o.Modes, []string{modeClosed}) {
				t.Errorf("%+v", o)
			}
		}},
		{name: "smoke shortens", args: []string{"--smoke"}, check: func(t *testing.T, o options) {
			if o.Duration >= time.Second || o.Rounds != 1 || !slices.Equal(o.Concurrency, []int{1, 4}) || len(o.Modes) != 2 {
				t.Errorf("%+v", o)
			}
		}},
		{name: "smoke keeps explicit flags", args: []string{"--smoke", "--rounds", "3", "--concurrency", "8"}, check: func(t *testing.T, o options) {
			if o.Rounds != 3 || !slices.Equal(o.Concurrency, []int{8}) {
				t.Errorf("%+v", o)
			}
		}},
		{name: "scenarios by letter and name, deduplicated", args: []string{"--scenarios", "e,tunnel,e"}, check: func(t *testing.T, o options) {
			if len(o.Scenarios) != 2 || o.Scenarios[0].ID != "e" || o.Scenarios[1].ID != "d" {
				t.Errorf("%+v", o.Scenarios)
			}
		}},
		{name: "unknown scenario", args: []string{"--scenarios", "z"}, wantErr: true},
		{name: "zero concurrency", args: []string{"--concurrency", "0"}, wantErr: true},
		{name: "huge concurrency", args: []string{"--concurrency", "100000"}, wantErr: true},
		{name: "bad mode", args: []string{"--mode", "fast"}, wantErr: true},
		{name: "bad audit", args: []string{"--audit", "s3"}, wantErr: true},
		{name: "goproxy reference", args: []string{"--proxy", "goproxy", "--scenarios", "a,b,c,d"}, check: func(t *testing.T, o options) {
			if o.Proxy != proxyGoproxy {
				t.Errorf("proxy %q", o.Proxy)
			}
		}},
		{name: "goproxy reference cannot sign", args: []string{"--proxy", "goproxy", "--scenarios", "a,e"}, wantErr: true},
		{name: "unknown proxy", args: []string{"--proxy", "nginx"}, wantErr: true},
		{name: "upstream http2", args: []string{"--upstream-http2"}, check: func(t *testing.T, o options) {
			if !o.UpstreamHTTP2 {
				t.Errorf("%+v", o)
			}
		}},
		{name: "upstream http2 is alter's", args: []string{"--proxy", "goproxy", "--scenarios", "b", "--upstream-http2"}, wantErr: true},
		{name: "binary", args: []string{"--binary", bin, "--upstream-http2", "--audit", "devnull"}, check: func(t *testing.T, o options) {
			if o.Binary != bin || !o.UpstreamHTTP2 || o.Proxy != proxyAlter {
				t.Errorf("%+v", o)
			}
		}},
		{name: "binary made absolute", args: []string{"--binary", relBin}, check: func(t *testing.T, o options) {
			if o.Binary != bin {
				t.Errorf("binary %q, want %q", o.Binary, bin)
			}
		}},
		{name: "binary missing", args: []string{"--binary", bin + "-missing"}, wantErr: true},
		{name: "binary not executable", args: []string{"--binary", filepath.Dir(bin)}, wantErr: true},
		{name: "binary is not goproxy", args: []string{"--binary", bin, "--proxy", "goproxy", "--scenarios", "a"}, wantErr: true},
		{name: "binary cannot be profiled", args: []string{"--binary", bin, "--cpuprofile", "cpu.out"}, wantErr: true},
		{name: "binary has no no-fast-path", args: []string{"--binary", bin, "--no-fast-path"}, wantErr: true},
		{name: "binary always audits", args: []string{"--binary", bin, "--audit", "none"}, wantErr: true},
		{name: "zero duration", args: []string{"--duration", "0s"}, wantErr: true},
		{name: "zero rounds", args: []string{"--rounds", "0"}, wantErr: true},
		{name: "stray argument", args: []string{"extra"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, o)
			}
		})
	}
}

func TestPercentileAndMedian(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 1000; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		q    float64
		want float64
	}{{0.5, 500}, {0.99, 990}, {0.999, 999}, {1, 1000}} {
		if got := percentile(d, tt.q); got != tt.want {
			t.Errorf("percentile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing")
	}
	if median([]float64{3, 1, 2}) != 2 || median([]float64{4, 1, 3, 2}) != 2.5 || median(nil) != 0 {
		t.Error("median")
	}
}
