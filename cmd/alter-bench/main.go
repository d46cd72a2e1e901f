//go:build !windows

// Command alter-bench measures what the alter proxy costs. In one process it
// starts local upstreams (plain HTTP and HTTPS under a CA it makes), runs a
// real proxy (file store, CA, leaf cache, audit sink) in a child process,
// and drives load at the upstreams directly and through the proxy in
// interleaved rounds (direct, proxy, direct, proxy, ...), so slow drift on a
// shared machine hits both legs alike. It reports requests/s, p50/p99/p99.9
// latency, the proxy's CPU time per request and its peak RSS, and the
// proxy/direct ratios, as a table or (--json) as JSON.
//
// The proxy runs in a child (this binary re-executed with a hidden
// subcommand) so that its CPU time and memory are its own, not the load
// generator's or the upstreams'.
//
// Usage:
//
//	alter-bench [--scenarios a,b,c,d,e] [--concurrency 1,32,256] [--duration 5s] [--rounds 5]
//	            [--mode closed|open|both] [--rate 500] [--audit file|devnull|none]
//	            [--cpuprofile FILE | --binary PATH] [--json] [--smoke]
//
// --binary measures a built alter binary, run as `alter proxy --config
// FILE`, instead of the child: its CPU time and memory come from /proc.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == childCommand {
		os.Exit(childMain(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(cliMain(os.Args[1:], os.Stdout, os.Stderr))
}

// cliMain is main without the process: it parses args, runs the benchmark
// and prints the report. It returns the exit status.
func cliMain(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		if err == errHelp {
			return 0
		}
		fmt.Fprintln(stderr, "alter-bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, opts, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "alter-bench:", err)
		return 1
	}
	if opts.JSON {
		err = writeJSON(stdout, rep)
	} else {
		err = writeTable(stdout, rep)
	}
	if err != nil {
		fmt.Fprintln(stderr, "alter-bench:", err)
		return 1
	}
	if bad := rep.brokenCells(); len(bad) > 0 {
		// A leg with no successful request means the set-up is wrong, not
		// that the proxy is slow: fail so scripts notice.
		fmt.Fprintf(stderr, "alter-bench: no successful request in %v\n", bad)
		return 1
	}
	return 0
}
