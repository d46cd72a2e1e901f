package forward

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/server/wire"
)

// Syslog message constants. Facility 13 is "log audit" (RFC 5424 6.2.1).
const (
	facilityLogAudit = 13
	severityNotice   = 5 // a denial
	severityInfo     = 6 // everything else
	appName          = "alter"
	msgID            = "audit"
	// SDID names the structured-data element carrying the record id.
	// 32473 is the enterprise number RFC 5612 sets aside for examples:
	// alter has none of its own, and the name only has to be stable.
	SDID = "alter@32473"
	// bom starts a UTF-8 MSG (RFC 5424 6.4).
	bom = "\xef\xbb\xbf"
)

// SyslogOptions configure a Syslog sender.
type SyslogOptions struct {
	// Address is the collector's host:port.
	Address string
	// TLS, when set, wraps the connection (RFC 5425); nil is plain TCP
	// (RFC 6587 octet counting).
	TLS *tls.Config
	// Hostname is the messages' HOSTNAME field; default "-".
	Hostname string
	// Timeout bounds dialling and writing one batch (default 30s).
	Timeout time.Duration
}

// Syslog writes each record as one RFC 5424 message, octet-counted
// ("<length> <message>"), over one kept-open connection. TCP carries no
// acknowledgement: a batch counts as delivered when it is written, and a
// write that fails closes the connection and sends the whole batch again
// on a new one. Records the collector had received before the break come
// twice; the id in the structured data tells them apart.
type Syslog struct {
	o    SyslogOptions
	mu   sync.Mutex
	conn net.Conn
}

// NewSyslog checks the options; it does not connect yet.
func NewSyslog(o SyslogOptions) (*Syslog, error) {
	if _, _, err := net.SplitHostPort(o.Address); err != nil {
		return nil, fmt.Errorf("audit forward syslog: address %q is not host:port", o.Address)
	}
	if o.Hostname == "" {
		o.Hostname = "-"
	}
	if err := checkHeaderField("hostname", o.Hostname, 255); err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return &Syslog{o: o}, nil
}

// ShipAudit writes recs and returns how many were written: all of them,
// or none with an error.
func (s *Syslog) ShipAudit(ctx context.Context, recs []wire.AuditRecord) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	var buf []byte
	for _, r := range recs {
		m, err := Message(r, s.o.Hostname)
		if err != nil {
			return 0, err
		}
		buf = strconv.AppendInt(buf, int64(len(m)), 10)
		buf = append(buf, ' ')
		buf = append(buf, m...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	deadline := time.Now().Add(s.o.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if s.conn == nil {
		c, err := s.dial(ctx, deadline)
		if err != nil {
			return 0, err
		}
		s.conn = c
	}
	_ = s.conn.SetWriteDeadline(deadline)
	// A collector that stops reading blocks Write, which ignores ctx: end
	// the write when ctx ends, or Stop waits up to Timeout for it.
	conn := s.conn
	unwatch := context.AfterFunc(ctx, func() { _ = conn.SetWriteDeadline(time.Now()) })
	_, err := conn.Write(buf)
	if !unwatch() {
		// ctx ended meanwhile: its deadline may still land on conn
		// later, so conn is not used again (a written batch stays sent).
		s.conn = nil
		defer conn.Close()
	}
	if err != nil {
		conn.Close()
		s.conn = nil
		return 0, fmt.Errorf("audit forward syslog %s: write: %w", s.o.Address, err)
	}
	return len(recs), nil
}

func (s *Syslog) dial(ctx context.Context, deadline time.Time) (net.Conn, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var c net.Conn
	var err error
	if s.o.TLS != nil {
		d := &tls.Dialer{Config: s.o.TLS}
		c, err = d.DialContext(ctx, "tcp", s.o.Address)
	} else {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", s.o.Address)
	}
	if err != nil {
		return nil, fmt.Errorf("audit forward syslog %s: %w", s.o.Address, err)
	}
	return c, nil
}

// Close closes the connection, if one is open.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// Message is one record as an RFC 5424 message (without the octet
// count): the record id and source in structured data, the record (the
// webhook's Record form) as the UTF-8 MSG.
func Message(r wire.AuditRecord, hostname string) ([]byte, error) {
	for _, f := range []struct{ name, v string }{{"id", r.ID}, {"source", r.Source}, {"event", r.Event}} {
		if !utf8.ValidString(f.v) {
			return nil, fmt.Errorf("audit forward syslog: a record's %s is not UTF-8", f.name)
		}
	}
	msg, err := json.Marshal(recordOf(r))
	if err != nil {
		return nil, fmt.Errorf("audit forward syslog: encode record %s: %w", r.ID, err)
	}
	sev := severityInfo
	if r.Decision == audit.DecisionDeny {
		sev = severityNotice
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s %s - %s [%s id=\"%s\"", facilityLogAudit*8+sev,
		r.Time.UTC().Format("2006-01-02T15:04:05.000000Z"), hostname, appName, msgID, SDID, sdEscape(r.ID))
	if r.Source != "" {
		fmt.Fprintf(&b, " source=\"%s\"", sdEscape(r.Source))
	}
	if r.Event != "" {
		fmt.Fprintf(&b, " event=\"%s\"", sdEscape(r.Event))
	}
	b.WriteString("] " + bom)
	b.Write(msg)
	return []byte(b.String()), nil
}

// sdEscape escapes a structured-data parameter value (RFC 5424 6.3.3).
func sdEscape(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(v)
}

// checkHeaderField: header fields are printable US-ASCII without spaces.
func checkHeaderField(what, v string, maxLen int) error {
	if len(v) == 0 || len(v) > maxLen {
		return fmt.Errorf("audit forward syslog: %s must be 1 to %d characters", what, maxLen)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 33 || v[i] > 126 {
			return fmt.Errorf("audit forward syslog: %s must be printable ASCII without spaces", what)
		}
	}
	return nil
}

// ReadFrame reads one octet-counted frame (RFC 6587 3.4.1): what a
// collector does, and the tests, as one.
func ReadFrame(r *bufio.Reader) ([]byte, error) {
	n, err := r.ReadString(' ')
	if err != nil {
		return nil, err
	}
	size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
	if err != nil || size <= 0 || size > 1<<20 {
		return nil, fmt.Errorf("bad syslog frame length %q", n)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}
