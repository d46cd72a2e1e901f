//go:build !windows

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// report is the whole output; --json prints it as is.
type report struct {
	Machine  machine  `json:"machine"`
	Settings settings `json:"settings"`
	Cells    []cell   `json:"results"`
	// ProxyPeakRSSKB is the proxy child's peak RSS over the whole run.
	ProxyPeakRSSKB int64 `json:"proxy_peak_rss_kb"`
}

type settings struct {
	Scenarios     []string `json:"scenarios"`
	Concurrency   []int    `json:"concurrency"`
	Modes         []string `json:"modes"`
	DurationS     float64  `json:"duration_s"`
	WarmupS       float64  `json:"warmup_s"`
	Rounds        int      `json:"rounds"`
	RateRPS       float64  `json:"open_loop_rate_rps,omitempty"`
	Audit         string   `json:"audit"`
	Proxy         string   `json:"proxy"`
	UpstreamHTTP2 bool     `json:"upstream_http2,omitempty"`
	NoFastPath    bool     `json:"no_fast_path,omitempty"`
	Binary        string   `json:"binary,omitempty"` // the alter binary measured, if not the in-process child
}

// cell is one scenario at one concurrency in one mode: both legs, every
// round, and the summary.
type cell struct {
	Scenario    string  `json:"scenario"`
	Name        string  `json:"name"`
	Desc        string  `json:"description"`
	Concurrency int     `json:"concurrency"`
	Mode        string  `json:"mode"`
	RateRPS     float64 `json:"rate_rps,omitempty"`

	Direct legStats `json:"direct"`
	Proxy  legStats `json:"proxy"`

	// Ratios and differences are medians of the per-round values: each
	// round's two legs ran back to back, so drift cancels within a round.
	ThroughputRatio  float64 `json:"throughput_ratio"`
	AddedP50Ms       float64 `json:"added_p50_ms"`
	AddedP99Ms       float64 `json:"added_p99_ms"`
	AddedP999Ms      float64 `json:"added_p999_ms"`
	ProxyCPUPerReqUs float64 `json:"proxy_cpu_per_request_us"`
	ProxyPeakRSSKB   int64   `json:"proxy_peak_rss_kb"`

	Rounds []roundPair `json:"rounds"`
}

// legStats summarises one leg over the rounds: medians for rates and
// latencies, sums for counts.
type legStats struct {
	RPS    float64 `json:"rps"`
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	OK     int     `json:"ok"`
	Errors int     `json:"errors"`
	Missed int     `json:"missed,omitempty"`
	// ProxyCPUUtil is the proxy child's CPU seconds per wall second during
	// this leg's runs; on the direct leg it is the idle proxy's background.
	ProxyCPUUtil float64 `json:"proxy_cpu_util"`
	// LoadCPUPerReqUs is this process's CPU (clients and upstreams) per
	// request, for context: it competes with the proxy for the same cores.
	LoadCPUPerReqUs float64 `json:"load_cpu_per_request_us"`
	FirstError      string  `json:"first_error,omitempty"`
}

type roundPair struct {
	Direct legRound `json:"direct"`
	Proxy  legRound `json:"proxy"`
}

type legRound struct {
	OK         int     `json:"ok"`
	Errors     int     `json:"errors"`
	Missed     int     `json:"missed,omitempty"`
	ElapsedS   float64 `json:"elapsed_s"`
	RPS        float64 `json:"rps"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	P999Ms     float64 `json:"p999_ms"`
	ProxyCPUMs float64 `json:"proxy_cpu_ms"`
	LoadCPUMs  float64 `json:"load_cpu_ms"`
	Error      string  `json:"error,omitempty"`
}

// newLegRound turns a run into its row. Rates divide by at least the
// nominal duration: an open-loop run ends when its last request is due
// and answered, slightly before the duration is up, and would otherwise
// report a rate above the one it was given.
func newLegRound(res loadResult, nominal, proxyCPU, loadCPU time.Duration) legRound {
	r := legRound{
		OK: res.OK, Errors: res.Errors, Missed: res.Missed,
		ElapsedS:   res.Elapsed.Seconds(),
		P50Ms:      percentile(res.Latency, 0.50),
		P99Ms:      percentile(res.Latency, 0.99),
		P999Ms:     percentile(res.Latency, 0.999),
		ProxyCPUMs: ms(proxyCPU),
		LoadCPUMs:  ms(loadCPU),
		Error:      res.Error,
	}
	if d := max(res.Elapsed, nominal); d > 0 {
		r.RPS = float64(res.OK) / d.Seconds()
	}
	return r
}

// summarize fills the cell's summaries from its rounds.
func (c *cell) summarize() {
	pick := func(f func(roundPair) float64) float64 {
		xs := make([]float64, 0, len(c.Rounds))
		for _, r := range c.Rounds {
			xs = append(xs, f(r))
		}
		return median(xs)
	}
	c.Direct = legSummary(c.Rounds, func(r roundPair) legRound { return r.Direct })
	c.Proxy = legSummary(c.Rounds, func(r roundPair) legRound { return r.Proxy })
	c.ThroughputRatio = pick(func(r roundPair) float64 { return ratio(r.Proxy.RPS, r.Direct.RPS) })
	c.AddedP50Ms = pick(func(r roundPair) float64 { return r.Proxy.P50Ms - r.Direct.P50Ms })
	c.AddedP99Ms = pick(func(r roundPair) float64 { return r.Proxy.P99Ms - r.Direct.P99Ms })
	c.AddedP999Ms = pick(func(r roundPair) float64 { return r.Proxy.P999Ms - r.Direct.P999Ms })
	c.ProxyCPUPerReqUs = pick(func(r roundPair) float64 { return perRequestUs(r.Proxy.ProxyCPUMs, r.Proxy.OK) })
}

func legSummary(rounds []roundPair, get func(roundPair) legRound) legStats {
	var s legStats
	var rps, p50, p99, p999, util, load []float64
	for _, rp := range rounds {
		r := get(rp)
		s.OK += r.OK
		s.Errors += r.Errors
		s.Missed += r.Missed
		if s.FirstError == "" {
			s.FirstError = r.Error
		}
		rps = append(rps, r.RPS)
		p50 = append(p50, r.P50Ms)
		p99 = append(p99, r.P99Ms)
		p999 = append(p999, r.P999Ms)
		util = append(util, ratio(r.ProxyCPUMs/1000, r.ElapsedS))
		load = append(load, perRequestUs(r.LoadCPUMs, r.OK))
	}
	s.RPS, s.P50Ms, s.P99Ms, s.P999Ms = median(rps), median(p50), median(p99), median(p999)
	s.ProxyCPUUtil, s.LoadCPUPerReqUs = median(util), median(load)
	return s
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func perRequestUs(cpuMs float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return cpuMs * 1000 / float64(n)
}

// brokenCells names the cells where a leg had no successful request.
func (r *report) brokenCells() []string {
	var out []string
	for _, c := range r.Cells {
		if c.Direct.OK == 0 || c.Proxy.OK == 0 {
			out = append(out, fmt.Sprintf("%s/%s/c%d", c.Scenario, c.Mode, c.Concurrency))
		}
	}
	return out
}

func writeJSON(w io.Writer, r *report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
