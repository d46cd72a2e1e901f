//go:build !windows

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// run sets everything up, measures every cell and tears down.
func run(ctx context.Context, o options, progress io.Writer) (rep *report, err error) {
	// The proxy's stderr is copied into progress by another goroutine.
	progress = &syncWriter{w: progress}
	dir, err := os.MkdirTemp("", "alter-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	fix, err := newFixture(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("set up store and CAs: %w", err)
	}
	ups, err := startUpstreams(fix.upCA)
	if err != nil {
		return nil, fmt.Errorf("start upstreams: %w", err)
	}
	defer ups.close()

	px, err := startProxy(o, fix, ups.resolve(), progress)
	if err != nil {
		return nil, err
	}
	defer func() {
		// Stopping the child is what writes its CPU profile; the binary
		// drains and flushes its audit log.
		if stopErr := px.stop(); stopErr != nil && err == nil {
			err = fmt.Errorf("proxy: %w", stopErr)
		}
	}()

	rep = &report{Machine: machineFacts(), Settings: settingsOf(o)}
	t := target{fix: fix, resolve: ups.resolve(), proxyAddr: px.address()}
	cells := len(o.Scenarios) * len(o.Concurrency) * len(o.Modes)
	est := time.Duration(cells) * (2*o.Warmup + time.Duration(2*o.Rounds)*o.Duration)
	fmt.Fprintf(progress, "alter-bench: %d cells, about %v; proxy at %s\n", cells, est.Round(time.Second), px.address())
	for _, sc := range o.Scenarios {
		for _, conc := range o.Concurrency {
			for _, mode := range o.Modes {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				c, err := runCell(ctx, o, t, px, sc, conc, mode)
				if err != nil {
					return nil, fmt.Errorf("%s c%d %s: %w", sc.Name, conc, mode, err)
				}
				fmt.Fprintf(progress, "  %s %-18s c%-4d %-6s direct %8.0f rps  proxy %8.0f rps  ratio %.2f  +p50 %.3f ms  %.1f µs/req\n",
					sc.ID, sc.Name, conc, mode, c.Direct.RPS, c.Proxy.RPS, c.ThroughputRatio, c.AddedP50Ms, c.ProxyCPUPerReqUs)
				rep.Cells = append(rep.Cells, c)
			}
		}
	}
	u, err := px.usage()
	if err != nil {
		return nil, err
	}
	rep.ProxyPeakRSSKB = u.MaxRSSKB
	return rep, nil
}

// proxyProc is the measured proxy process: the proxy child, or the alter
// binary with --binary.
type proxyProc interface {
	address() string           // where it listens
	usage() (procUsage, error) // its CPU time and memory so far
	resetPeak() error          // start a new peak RSS
	stop() error
}

// startProxy writes the proxy's config into the fixture's directory and
// starts it.
func startProxy(o options, fix *fixture, resolve map[string]string, progress io.Writer) (proxyProc, error) {
	if o.Binary != "" {
		cfgPath := filepath.Join(fix.dir, "alter.yaml")
		if err := writeBinaryConfig(cfgPath, o, fix, resolve); err != nil {
			return nil, err
		}
		return startBinary(o.Binary, cfgPath, filepath.Join(fix.dir, "home"), progress)
	}
	cfg := childConfig{
		StorePath: fix.storePath, KeyPath: fix.keyPath,
		CACert: fix.mitmCert, CAKey: fix.mitmKey, UpstreamCA: fix.upCert,
		Resolve: resolve, Audit: o.Audit, AuditPath: filepath.Join(fix.dir, "audit.log"),
		CPUProfile: o.CPUProfile, Proxy: o.Proxy, UpstreamHTTP2: o.UpstreamHTTP2, NoFastPath: o.NoFastPath,
	}
	cfgPath := filepath.Join(fix.dir, "child.json")
	js, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, js, 0o600); err != nil {
		return nil, err
	}
	return startChild(cfgPath, progress)
}

func settingsOf(o options) settings {
	s := settings{
		Concurrency: o.Concurrency, Modes: o.Modes, Rounds: o.Rounds,
		DurationS: o.Duration.Seconds(), WarmupS: o.Warmup.Seconds(), Audit: o.Audit, Proxy: o.Proxy,
		UpstreamHTTP2: o.UpstreamHTTP2, NoFastPath: o.NoFastPath, Binary: o.Binary,
	}
	for _, sc := range o.Scenarios {
		s.Scenarios = append(s.Scenarios, sc.ID+"="+sc.Name)
	}
	for _, m := range o.Modes {
		if m == modeOpen {
			s.RateRPS = o.Rate
		}
	}
	return s
}

// runCell measures one scenario at one concurrency in one mode: a warm-up
// per leg, then rounds of direct-then-proxy.
func runCell(ctx context.Context, o options, t target, px proxyProc, sc scenario, conc int, mode string) (cell, error) {
	c := cell{Scenario: sc.ID, Name: sc.Name, Desc: sc.Desc, Concurrency: conc, Mode: mode}
	if mode == modeOpen {
		c.RateRPS = o.Rate
	}
	legs := []leg{legDirect, legProxy}
	do := map[leg]func(context.Context) error{}
	for _, lg := range legs {
		cl := newClient(t, sc, lg, conc)
		defer cl.CloseIdleConnections()
		do[lg] = requester(t, sc, lg, cl)
	}
	if o.Warmup > 0 {
		// Closed loop whatever the mode: the point is to fill connection
		// pools and caches, not to measure.
		for _, lg := range legs {
			runLoad(ctx, loadSpec{Mode: modeClosed, Concurrency: conc, Duration: o.Warmup, MaxRequests: o.MaxRequests}, do[lg])
		}
	}
	if err := px.resetPeak(); err != nil {
		return c, err
	}
	spec := loadSpec{Mode: mode, Concurrency: conc, Duration: o.Duration, Rate: o.Rate, MaxRequests: o.MaxRequests}
	for range o.Rounds {
		var rp roundPair
		for _, lg := range legs {
			r, err := measure(ctx, px, spec, do[lg])
			if err != nil {
				return c, err
			}
			if lg == legDirect {
				rp.Direct = r
			} else {
				rp.Proxy = r
			}
		}
		c.Rounds = append(c.Rounds, rp)
	}
	u, err := px.usage()
	if err != nil {
		return c, err
	}
	c.ProxyPeakRSSKB = u.PeakRSSKB
	c.summarize()
	return c, nil
}

// measure runs one leg once, bracketed by the proxy's and this
// process's CPU counters.
func measure(ctx context.Context, px proxyProc, spec loadSpec, do func(context.Context) error) (legRound, error) {
	// Collect the previous run's garbage now, not during this run.
	runtime.GC()
	p0, err := px.usage()
	if err != nil {
		return legRound{}, err
	}
	s0 := selfUsage()
	res := runLoad(ctx, spec, do)
	s1 := selfUsage()
	p1, err := px.usage()
	if err != nil {
		return legRound{}, err
	}
	if ctx.Err() != nil {
		return legRound{}, errors.Join(errors.New("interrupted"), ctx.Err())
	}
	return newLegRound(res, spec.Duration, p1.CPU-p0.CPU, s1.CPU-s0.CPU), nil
}

// syncWriter serialises writes from this process and the proxy's stderr.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
