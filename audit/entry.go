package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// MaxLineBytes bounds one line when reading a log back. Encoded records
// stay far below it (client text is capped); a longer line is damage.
const MaxLineBytes = 1 << 20

// Entry is one audit line as read back from a file.
type Entry struct {
	Raw  []byte // the line's exact bytes, without the newline
	Hash string // LineHash(Raw)

	// Chain fields; Seq is 0 in lines from the non-durable sink.
	Seq       uint64
	Prev      string
	FileStart bool

	Time       time.Time
	Phase      string
	RequestID  string
	GrantID    string
	SecretName string
	Actor      string
	Method     string
	Scheme     string
	Host       string
	Port       int
	Path       string
	Decision   string
	Rule       string
	ErrorCode  string
	Status     int
	BytesIn    int64
	BytesOut   int64
	LatencyMS  float64

	// Call context, "" in records without it.
	RunID    string
	ThreadID string
	Tool     string
	TraceID  string
}

// wireEntry is the JSON shape of a line; pointers tell a missing chain
// field from a zero one.
type wireEntry struct {
	Time       string  `json:"ts"`
	Seq        *uint64 `json:"seq"`
	Prev       *string `json:"prev"`
	FileStart  bool    `json:"file_start"`
	Phase      string  `json:"phase"`
	RequestID  string  `json:"request_id"`
	GrantID    string  `json:"grant_id"`
	SecretName string  `json:"secret_name"`
	Actor      string  `json:"actor"`
	Method     string  `json:"method"`
	Scheme     string  `json:"scheme"`
	Host       string  `json:"host"`
	Port       int     `json:"port"`
	Path       string  `json:"path"`
	Decision   string  `json:"decision"`
	Rule       string  `json:"rule"`
	ErrorCode  string  `json:"error"`
	Status     int     `json:"status"`
	BytesIn    int64   `json:"bytes_in"`
	BytesOut   int64   `json:"bytes_out"`
	LatencyMS  float64 `json:"latency_ms"`
	RunID      string  `json:"run_id"`
	ThreadID   string  `json:"thread_id"`
	Tool       string  `json:"tool"`
	TraceID    string  `json:"trace_id"`
}

// ParseEntry decodes one line (without its newline). It accepts lines
// without chain fields, as the plain sink writes them; Verify insists on
// them.
func ParseEntry(line []byte) (Entry, error) {
	var w wireEntry
	if err := json.Unmarshal(line, &w); err != nil {
		return Entry{}, fmt.Errorf("not a JSON record: %w", err)
	}
	ts, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil {
		return Entry{}, fmt.Errorf("bad %q: %w", FieldTime, err)
	}
	e := Entry{
		Raw: line, Hash: LineHash(line), FileStart: w.FileStart,
		Time: ts, Phase: w.Phase, RequestID: w.RequestID, GrantID: w.GrantID, SecretName: w.SecretName,
		Actor: w.Actor, Method: w.Method, Scheme: w.Scheme, Host: w.Host, Port: w.Port, Path: w.Path,
		Decision: w.Decision, Rule: w.Rule, ErrorCode: w.ErrorCode, Status: w.Status,
		BytesIn: w.BytesIn, BytesOut: w.BytesOut, LatencyMS: w.LatencyMS,
		RunID: w.RunID, ThreadID: w.ThreadID, Tool: w.Tool, TraceID: w.TraceID,
	}
	if w.Seq != nil {
		e.Seq = *w.Seq
	}
	if w.Prev != nil {
		e.Prev = *w.Prev
	}
	return e, nil
}

// parseChained is ParseEntry plus the chain fields a durable line must
// have.
func parseChained(line []byte) (Entry, error) {
	if len(line) == 0 {
		return Entry{}, errors.New("empty line")
	}
	e, err := ParseEntry(line)
	if err != nil {
		return Entry{}, err
	}
	switch {
	case e.Seq == 0:
		return Entry{}, fmt.Errorf("no %q: not written by the durable sink (audit.durable: false writes no chain)", FieldSeq)
	case !isHash(e.Prev):
		return Entry{}, fmt.Errorf("%q is not a hex SHA-256", FieldPrev)
	}
	return e, nil
}

// ReadEntries parses every complete line of the file at path, oldest
// first. Lines that do not parse are skipped and counted in bad; a last
// line without its newline (a write torn by a crash) is ignored.
func ReadEntries(path string) (entries []Entry, bad int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	lr := newLineReader(f)
	for {
		line, complete, err := lr.next()
		if err == io.EOF {
			return entries, bad, nil
		}
		if err != nil {
			return entries, bad, fmt.Errorf("%s line %d: %w", path, lr.n, err)
		}
		if !complete {
			continue
		}
		e, perr := ParseEntry(line)
		if perr != nil {
			bad++
			continue
		}
		entries = append(entries, e)
	}
}

// lineReader splits a file into lines of at most MaxLineBytes.
type lineReader struct {
	br *bufio.Reader
	n  int // number of the line last returned, from 1
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// errLineTooLong is returned for a line over MaxLineBytes; reading stops
// there, since the rest of the file cannot be split reliably.
var errLineTooLong = fmt.Errorf("line longer than %d bytes", MaxLineBytes)

// next returns the next line without its newline (a fresh slice), and
// whether it ended in a newline; io.EOF after the last.
func (lr *lineReader) next() (line []byte, complete bool, err error) {
	var buf []byte
	for {
		chunk, err := lr.br.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxLineBytes+1 {
			lr.n++
			return nil, false, errLineTooLong
		}
		buf = append(buf, chunk...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			if len(buf) == 0 {
				return nil, false, io.EOF
			}
			lr.n++
			return buf, false, nil
		case err != nil:
			return nil, false, err
		}
		lr.n++
		return bytes.TrimSuffix(buf, []byte("\n")), true, nil
	}
}
