package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/audit/ship"
)

// Target is one forwarding destination of the sidecar's durable log.
type Target struct {
	// Name identifies the target in logs and names its position file
	// ("<log>.forward-<name>"); renaming a target starts it over.
	Name   string
	Sender ship.Sender
	// Batch is the most records per send (default and most 1000).
	Batch int
}

// LogOptions tune how the durable log is read; zero values take
// audit/ship's defaults.
type LogOptions struct {
	Interval, MinBackoff, MaxBackoff time.Duration
}

// Forwarders runs one shipper per target over the durable log.
type Forwarders struct {
	log     *zap.Logger
	targets []Target
	ships   []*ship.Shipper
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// StatePath is the position file of target name for the log at path.
func StatePath(path, name string) string { return path + ".forward-" + name }

// Start loads each target's position and forwards in the background
// until Stop. Nothing starts when one target's state cannot be read.
func Start(path string, targets []Target, o LogOptions, log *zap.Logger) (*Forwarders, error) {
	if log == nil {
		log = zap.NewNop()
	}
	f := &Forwarders{log: log, targets: targets}
	seen := map[string]bool{}
	for _, t := range targets {
		if t.Name == "" || seen[t.Name] {
			return nil, fmt.Errorf("audit forward: target name %q is empty or used twice", t.Name)
		}
		seen[t.Name] = true
		s, err := ship.New(ship.Options{Path: path, StatePath: StatePath(path, t.Name), Sender: t.Sender, Batch: t.Batch,
			Interval: o.Interval, MinBackoff: o.MinBackoff, MaxBackoff: o.MaxBackoff,
			Logger: log.With(zap.String("forward", t.Name))})
		if err != nil {
			return nil, fmt.Errorf("audit forward %s: %w", t.Name, err)
		}
		f.ships = append(f.ships, s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	for _, s := range f.ships {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			s.Run(ctx)
		}()
	}
	return f, nil
}

// State is how far one target has got.
type State struct {
	Name string
	// Forwarded is the seq of the last record the target acknowledged.
	Forwarded uint64
	// Failing: the last pass failed; the records wait in the log.
	Failing bool
}

// States returns each target's state, in the order of the config.
func (f *Forwarders) States() []State {
	out := make([]State, len(f.ships))
	for i, s := range f.ships {
		out[i] = State{Name: f.targets[i].Name, Forwarded: s.Shipped(), Failing: s.Failing()}
	}
	return out
}

// Stop ends the background loops and makes one last pass per target,
// for timeout at most; what is left goes at the next start.
func (f *Forwarders) Stop(timeout time.Duration) {
	f.cancel()
	f.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for i, s := range f.ships {
		if _, err := s.ShipOnce(ctx); err != nil {
			f.log.Warn("audit records not forwarded before stopping; they go at the next start",
				zap.String("forward", f.targets[i].Name), zap.Error(err))
		}
	}
	var errs []error
	for _, t := range f.targets {
		if c, ok := t.Sender.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		f.log.Debug("closing audit forward connections", zap.Error(err))
	}
}
