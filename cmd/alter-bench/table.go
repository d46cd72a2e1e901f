//go:build !windows

package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// writeTable prints one line per cell, then what it means and where it ran.
func writeTable(w io.Writer, r *report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tconc\tmode\tdirect rps\tproxy rps\tratio\tdirect p50/p99/p99.9 ms\tproxy p50/p99/p99.9 ms\t+p50 ms\t+p99 ms\tproxy CPU µs/req\tproxy peak MiB\terrors d/p\t")
	for _, c := range r.Cells {
		mode := c.Mode
		if c.Mode == modeOpen {
			mode = fmt.Sprintf("open@%g", c.RateRPS)
		}
		fmt.Fprintf(tw, "%s %s\t%d\t%s\t%.0f\t%.0f\t%.2f\t%s\t%s\t%+.3f\t%+.3f\t%.1f\t%.1f\t%s\t\n",
			c.Scenario, c.Name, c.Concurrency, mode,
			c.Direct.RPS, c.Proxy.RPS, c.ThroughputRatio,
			lat3(c.Direct), lat3(c.Proxy),
			c.AddedP50Ms, c.AddedP99Ms, c.ProxyCPUPerReqUs,
			float64(c.ProxyPeakRSSKB)/1024, errCounts(c))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	m, s := r.Machine, r.Settings
	fmt.Fprintf(w, "\nratio = proxy rps / direct rps; +p50/+p99 = proxy minus direct latency; all are medians of %d interleaved rounds of %gs per leg.\n", s.Rounds, s.DurationS)
	switch {
	case s.Proxy == proxyGoproxy:
		fmt.Fprintf(w, "proxy = the goproxy reference (plain goproxy, tuned, swapping the marker for a fixed token: no grant lookup, policy, header hygiene or audit), not alter.\n")
	case s.Binary != "":
		fmt.Fprintf(w, "proxy = the alter binary at %s, run as `alter proxy --config FILE`; proxy CPU = its user+system time per proxied request, read from /proc in clock ticks; audit sink: %s.\n", s.Binary, s.Audit)
	default:
		fmt.Fprintf(w, "proxy CPU = user+system time of the proxy child process per proxied request; audit sink: %s.\n", s.Audit)
	}
	if s.Proxy != proxyGoproxy {
		if s.UpstreamHTTP2 {
			fmt.Fprintf(w, "upstream client for grant requests: net/http's, as with upstream.http2: true (--upstream-http2).\n")
		}
		if s.NoFastPath {
			fmt.Fprintf(w, "every request read by net/http's server, not the proxy's fast path (--no-fast-path).\n")
		}
	}
	fmt.Fprintf(w, "open@R = open loop at R requests/s, latency from each request's due time.\n")
	fmt.Fprintf(w, "machine: %s, %d CPUs, GOMAXPROCS %d, %s %s/%s, kernel %s, load %s at start; proxy peak RSS over the run %.1f MiB\n",
		m.CPUModel, m.NumCPU, m.GOMAXPROCS, m.GoVersion, m.OS, m.Arch, m.Kernel, m.LoadAvg, float64(r.ProxyPeakRSSKB)/1024)
	for _, c := range r.Cells {
		for _, l := range []struct {
			name string
			s    legStats
		}{{"direct", c.Direct}, {"proxy", c.Proxy}} {
			if l.s.FirstError != "" {
				fmt.Fprintf(w, "first error %s/c%d/%s %s: %s\n", c.Scenario, c.Concurrency, c.Mode, l.name, l.s.FirstError)
			}
		}
	}
	return nil
}

func lat3(s legStats) string {
	return fmt.Sprintf("%.2f/%.2f/%.2f", s.P50Ms, s.P99Ms, s.P999Ms)
}

func errCounts(c cell) string {
	f := func(s legStats) string {
		if s.Missed > 0 {
			return fmt.Sprintf("%d+%dm", s.Errors, s.Missed)
		}
		return fmt.Sprint(s.Errors)
	}
	return strings.Join([]string{f(c.Direct), f(c.Proxy)}, "/")
}
