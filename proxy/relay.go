package proxy

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// relay copies a switched connection's bytes both ways until either side
// closes, nothing moved for idle, or close is called (a stopping proxy).
type relay struct {
	client  net.Conn
	clientR io.Reader // the client's bytes, behind what net/http buffered
	up      io.ReadWriteCloser
	idle    time.Duration

	start    time.Time
	last     atomic.Int64 // time since start of the last byte, either way
	mu       sync.Mutex
	timer    *time.Timer
	ended    bool // run returned: the timer is not set again
	shutOnce sync.Once
}

func newRelay(client net.Conn, clientR io.Reader, up io.ReadWriteCloser, idle time.Duration) *relay {
	return &relay{client: client, clientR: clientR, up: up, idle: idle, start: time.Now()}
}

// run relays until the connection ends, and returns once both directions
// have stopped.
func (r *relay) run() {
	r.mu.Lock()
	r.timer = time.AfterFunc(r.idle, r.checkIdle)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.ended = true
		r.timer.Stop()
		r.mu.Unlock()
	}()
	done := make(chan struct{}, 2)
	go func() { r.copy(r.up, r.clientR); done <- struct{}{} }()
	go func() { r.copy(r.client, r.up); done <- struct{}{} }()
	<-done
	// One side ended: a WebSocket closes as a whole (its close handshake
	// is in the frames), so the other side goes too.
	r.close()
	<-done
}

func (r *relay) copy(dst io.Writer, src io.Reader) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.last.Store(int64(time.Since(r.start)))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// checkIdle runs when the idle timer fires: it ends a relay that moved
// nothing for idle, or sets the timer for idle after the last byte.
func (r *relay) checkIdle() {
	quiet := time.Since(r.start) - time.Duration(r.last.Load())
	if quiet >= r.idle {
		r.close()
		return
	}
	r.mu.Lock()
	if !r.ended {
		r.timer.Reset(r.idle - quiet)
	}
	r.mu.Unlock()
}

// close ends both sides; the copies then return.
func (r *relay) close() {
	r.shutOnce.Do(func() {
		_ = r.client.Close()
		_ = r.up.Close()
	})
}

// relaySet tracks the open relays, so a stopping proxy can wait for them
// and end the ones left when its deadline passes, and a reload can end
// them at once (CloseRawTunnels). Once either has begun, no relay starts:
// a handshake still waiting for its 101 then would open a WebSocket that
// nothing ends.
type relaySet struct {
	mu       sync.Mutex
	open     map[*relay]struct{}
	changed  chan struct{} // closed when a relay ends, for shutdown
	stopping bool          // shutdown or closeAll ran: no new relays
}

func (s *relaySet) add(r *relay) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	if s.open == nil {
		s.open = map[*relay]struct{}{}
	}
	s.open[r] = struct{}{}
	return true
}

func (s *relaySet) remove(r *relay) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, r)
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// closeAll ends every open relay and refuses new ones.
func (s *relaySet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping = true
	for r := range s.open {
		r.close()
	}
}

// shutdown refuses new relays, waits until no relay is open or ctx is
// done, and then ends the ones left.
func (s *relaySet) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	for {
		s.mu.Lock()
		if len(s.open) == 0 {
			s.mu.Unlock()
			return nil
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			s.closeAll()
			return ctx.Err()
		}
	}
}
