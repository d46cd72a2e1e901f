//go:build !windows

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// options are the parsed command line.
type options struct {
	Scenarios     []scenario
	Concurrency   []int
	Duration      time.Duration // of one measured run (one leg, one round)
	Warmup        time.Duration // per leg, before the rounds of a cell
	Rounds        int
	Modes         []string // modeClosed and/or modeOpen
	Rate          float64  // requests/s in open-loop mode
	MaxRequests   int      // per run, a bound on memory and time
	Audit         string
	Proxy         string // proxyAlter, or proxyGoproxy for the reference
	CPUProfile    string // absolute path, for the proxy child
	UpstreamHTTP2 bool   // proxy.UpstreamOptions.HTTP2 in the child
	NoFastPath    bool   // proxy.Options.DisableFastPath in the child
	Binary        string // absolute path of an alter binary to measure instead of the child
	JSON          bool
	Smoke         bool
}

// Load modes. Closed loop measures throughput: each worker sends its next
// request when the previous one returns. Open loop measures latency: requests
// are due at a fixed rate whether or not earlier ones have returned, and
// latency counts from the due time, so a stall shows up in the tail instead
// of silently lowering the send rate (coordinated omission).
const (
	modeClosed = "closed"
	modeOpen   = "open"
)

// Audit sink choices for the proxy child.
const (
	auditFile    = "file"    // zap sink on a temp file, as in production
	auditDevNull = "devnull" // zap sink on /dev/null: encoding and write(2), no disk
	auditNone    = "none"    // a sink that drops records: isolates the audit cost
)

var errHelp = errors.New("help requested")

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("alter-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o                                 options
		scen, conc, mode, cpuprof, binary string
	)
	fs.StringVar(&scen, "scenarios", "a,b,c,d,e", "scenarios to run, by letter or name: "+scenarioHelp())
	fs.StringVar(&conc, "concurrency", "1,32,256", "comma-separated client concurrencies")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "length of one measured run (one leg of one round)")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured run per leg before the rounds (fills pools and caches)")
	fs.IntVar(&o.Rounds, "rounds", 5, "interleaved direct/proxy rounds per cell; the report gives their median")
	fs.StringVar(&mode, "mode", modeClosed, "load mode: closed (throughput), open (latency at --rate) or both")
	fs.Float64Var(&o.Rate, "rate", 500, "requests/s in open-loop mode, shared by all workers")
	fs.IntVar(&o.MaxRequests, "max-requests", 2_000_000, "cap on requests in one run")
	fs.StringVar(&o.Proxy, "proxy", proxyAlter, "the proxy measured: alter, or goproxy (plain goproxy, tuned, swapping the marker for a fixed token: a reference for what alter's own work costs)")
	fs.StringVar(&o.Audit, "audit", auditFile, "proxy audit sink: file (temp file), devnull (zap on /dev/null) or none")
	fs.StringVar(&cpuprof, "cpuprofile", "", "write a CPU profile of the proxy child to this file")
	fs.BoolVar(&o.UpstreamHTTP2, "upstream-http2", false, "the proxy sends grant-bearing requests with net/http's client, as with upstream.http2: true (default: its own HTTP/1.1 client)")
	fs.BoolVar(&o.NoFastPath, "no-fast-path", false, "the proxy reads every request with net/http's server instead of its fast path (proxy.Options.DisableFastPath)")
	fs.StringVar(&binary, "binary", "", "measure the built alter binary at `PATH`, run as an operator runs it (PATH proxy --config FILE), instead of the in-process proxy child")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	fs.BoolVar(&o.Smoke, "smoke", false, "quick check: short runs, one round, concurrency 1 and 4, both modes")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, errHelp
		}
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.Smoke {
		// Smoke shortens everything the user did not set explicitly.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["duration"] {
			o.Duration = 150 * time.Millisecond
		}
		if !set["warmup"] {
			o.Warmup = 50 * time.Millisecond
		}
		if !set["rounds"] {
			o.Rounds = 1
		}
		if !set["concurrency"] {
			conc = "1,4"
		}
		if !set["mode"] {
			mode = "both"
		}
		if !set["rate"] {
			o.Rate = 200
		}
	}
	var err error
	if o.Scenarios, err = parseScenarios(scen); err != nil {
		return o, err
	}
	if o.Concurrency, err = parseInts(conc); err != nil {
		return o, fmt.Errorf("--concurrency: %w", err)
	}
	switch mode {
	case modeClosed, modeOpen:
		o.Modes = []string{mode}
	case "both":
		o.Modes = []string{modeClosed, modeOpen}
	default:
		return o, fmt.Errorf("--mode %q: want closed, open or both", mode)
	}
	switch o.Proxy {
	case proxyAlter:
	case proxyGoproxy:
		if o.UpstreamHTTP2 || o.NoFastPath {
			return o, errors.New("--upstream-http2 and --no-fast-path are alter options; --proxy goproxy has no use for them")
		}
		for _, s := range o.Scenarios {
			if err := referenceUnsupported(s); err != nil {
				return o, fmt.Errorf("--proxy goproxy: %w", err)
			}
		}
	default:
		return o, fmt.Errorf("--proxy %q: want alter or goproxy", o.Proxy)
	}
	switch o.Audit {
	case auditFile, auditDevNull, auditNone:
	default:
		return o, fmt.Errorf("--audit %q: want file, devnull or none", o.Audit)
	}
	switch {
	case o.Duration <= 0 || o.Duration > time.Hour:
		return o, fmt.Errorf("--duration %v: want more than 0 and at most 1h", o.Duration)
	case o.Warmup < 0 || o.Warmup > time.Hour:
		return o, fmt.Errorf("--warmup %v: want 0 to 1h", o.Warmup)
	case o.Rounds < 1 || o.Rounds > 1000:
		return o, fmt.Errorf("--rounds %d: want 1 to 1000", o.Rounds)
	case o.Rate <= 0 || o.Rate > 1e6:
		return o, fmt.Errorf("--rate %v: want more than 0 and at most 1e6", o.Rate)
	case o.MaxRequests < 1:
		return o, fmt.Errorf("--max-requests %d: want at least 1", o.MaxRequests)
	}
	if cpuprof != "" {
		if o.CPUProfile, err = filepath.Abs(cpuprof); err != nil {
			return o, err
		}
	}
	if binary != "" {
		if o.Binary, err = checkBinary(binary, o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// checkBinary refuses what the built binary cannot do and returns its
// absolute path (a bare name is looked up in PATH, as a shell would).
func checkBinary(binary string, o options) (string, error) {
	switch {
	case o.Proxy == proxyGoproxy:
		return "", errors.New("--binary measures alter; it cannot be the goproxy reference (--proxy goproxy)")
	case o.CPUProfile != "":
		return "", errors.New("--cpuprofile profiles the in-process proxy child; with --binary, profile the binary itself")
	case o.NoFastPath:
		return "", errors.New("--no-fast-path is not a setting of the alter binary; it needs the in-process proxy child")
	case o.Audit == auditNone:
		return "", errors.New("--audit none is not possible with --binary: alter always writes its audit log (use --audit devnull)")
	}
	path, err := exec.LookPath(binary)
	if err != nil {
		return "", fmt.Errorf("--binary: %w", err)
	}
	return filepath.Abs(path)
}

// parseInts parses "1,32,256", refusing values outside 1..4096: more
// workers than that would exhaust ephemeral ports before measuring anything.
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 4096 {
			return nil, fmt.Errorf("%q: want an integer from 1 to 4096", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	return out, nil
}
