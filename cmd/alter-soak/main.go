// Command alter-soak runs mixed traffic through an `alter proxy` child
// process for a fixed time and prints the child's memory (VmRSS),
// goroutines (go_goroutines from /metrics) and open file descriptors at the
// start, every -every, at the end of the traffic and once more after the
// clients closed their idle connections. Flat figures mean no leak; it is a
// program, not a test, because it runs for minutes.
//
//	go run ./cmd/alter-soak -duration 10m
//	go run ./cmd/alter-soak -duration 2m -alter ./alter -rate 100
//
// Traffic (all on 127.0.0.1, bounded by -rate): grant requests over
// terminated TLS and over plain HTTP, passthrough HTTP and a passthrough
// CONNECT tunnel, denials (another host, an unknown grant) and an SSE
// stream. Any unexpected answer is an error; the exit status is 1 if there
// was one, or if the secret showed up in a response or the proxy's log.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long to send traffic")
	flag.DurationVar(&o.every, "every", time.Minute, "how often to print the figures")
	flag.StringVar(&o.alter, "alter", "", "path of a built alter binary (default: go build ./cmd/alter into a temp dir)")
	flag.IntVar(&o.rate, "rate", 100, "requests per second, all kinds together")
	flag.IntVar(&o.workers, "workers", 8, "concurrent clients")
	flag.Parse()
	if o.rate < 1 || o.workers < 1 || o.duration <= 0 {
		fmt.Fprintln(os.Stderr, "alter-soak: -rate, -workers and -duration must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "alter-soak:", err)
		os.Exit(1)
	}
}

type options struct {
	duration, every time.Duration
	alter           string
	rate, workers   int
}

func run(ctx context.Context, o options) error {
	f, err := newFixture(o.alter)
	if err != nil {
		return err
	}
	defer f.close()
	child, err := startProxy(f)
	if err != nil {
		return err
	}
	defer child.stop()

	tr := newTraffic(f, child)
	if err := tr.warmUp(); err != nil {
		return err
	}
	report("start", child, tr)
	tctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	done := make(chan struct{})
	go func() { tr.run(tctx, o.rate, o.workers); close(done) }()
	tick := time.NewTicker(o.every)
	defer tick.Stop()
	start := time.Now()
loop:
	for {
		select {
		case <-tick.C:
			report(fmt.Sprintf("%4.1fm", time.Since(start).Minutes()), child, tr)
		case <-done:
			break loop
		}
	}
	report("end", child, tr)
	// Idle keep-alive connections hold goroutines and fds on both sides;
	// once the clients drop theirs, the proxy should be back near start.
	tr.closeIdle()
	time.Sleep(3 * time.Second)
	report("idle", child, tr)

	if leak := child.secretInLog(f.secret); leak {
		return fmt.Errorf("the secret is in the proxy's log")
	}
	if n := tr.errors.Load(); n > 0 {
		return fmt.Errorf("%d traffic errors (last: %v)", n, tr.lastErr.Load())
	}
	return nil
}
