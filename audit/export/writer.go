package export

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/alter-sidecar/alter/audit"
)

// Formats.
const (
	FormatCSV   = "csv"
	FormatJSONL = "jsonl"
)

// Writer writes rows in one format. Call Close to flush.
type Writer struct {
	csv  *csv.Writer
	json *json.Encoder
	buf  *bufio.Writer
	rows int64
}

// NewWriter returns a writer of format on w; a CSV writer writes the
// header (Columns) first.
func NewWriter(w io.Writer, format string) (*Writer, error) {
	out := &Writer{buf: bufio.NewWriterSize(w, 64<<10)}
	switch format {
	case FormatCSV:
		out.csv = csv.NewWriter(out.buf)
		if err := out.csv.Write(Columns); err != nil {
			return nil, err
		}
	case FormatJSONL:
		out.json = json.NewEncoder(out.buf)
		out.json.SetEscapeHTML(false)
	default:
		return nil, fmt.Errorf("format %q: want %s or %s", format, FormatCSV, FormatJSONL)
	}
	return out, nil
}

// Rows is how many rows were written.
func (w *Writer) Rows() int64 { return w.rows }

// Write writes one row.
func (w *Writer) Write(r Row) error {
	w.rows++
	if w.json != nil {
		return w.json.Encode(jsonRow(r))
	}
	status := ""
	if r.Status != 0 {
		status = strconv.Itoa(r.Status)
	}
	rec := []string{r.Time.UTC().Format(time.RFC3339Nano), r.Source, r.Event, r.Outcome, r.Actor, r.SourceIP, r.GrantID,
		r.Target, r.Decision, r.Method, r.Host, r.Path, status, r.Error, r.RequestID,
		string(r.PolicyBefore), string(r.PolicyAfter), string(r.Detail), r.RecordID}
	for i, v := range rec {
		rec[i] = cell(v)
	}
	return w.csv.Write(rec)
}

// cell makes a value safe to open: control characters are written out
// as escapes (audit.Sanitize, uncapped), so no terminal escape, CR or NUL
// from a record reaches whoever prints the export; and a value a
// spreadsheet would run as a formula is defused with a single quote. The
// values are client text (paths, actors; on the control plane whatever a
// sidecar token shipped) and an export is opened by people. A formula
// after a ';' is defused too: a spreadsheet whose locale separates lists
// with ';' splits an unquoted field there, and the part after it is a
// cell of its own.
func cell(v string) string {
	v = audit.Sanitize(v, math.MaxInt)
	if v == "" {
		return v
	}
	if formulaStart(v) {
		v = "'" + v
	}
	if !strings.Contains(v, ";") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		b.WriteByte(v[i])
		if v[i] == ';' && formulaStart(strings.TrimLeft(v[i+1:], ` "`)) {
			b.WriteByte('\'')
		}
	}
	return b.String()
}

// formulaStart reports whether a spreadsheet runs v as a formula.
func formulaStart(v string) bool {
	return v != "" && strings.IndexByte("=+-@\t\r", v[0]) >= 0
}

// Close flushes what is buffered.
func (w *Writer) Close() error {
	if w.csv != nil {
		w.csv.Flush()
		if err := w.csv.Error(); err != nil {
			return err
		}
	}
	return w.buf.Flush()
}

// jsonRow is a row with the CSV column names as keys; empty values are
// left out, the policies are nested JSON.
func jsonRow(r Row) any {
	type out struct {
		Time         string          `json:"time"`
		Source       string          `json:"source,omitempty"`
		Event        string          `json:"event"`
		Outcome      string          `json:"outcome,omitempty"`
		Actor        string          `json:"actor,omitempty"`
		SourceIP     string          `json:"source_ip,omitempty"`
		GrantID      string          `json:"grant_id,omitempty"`
		Target       string          `json:"target,omitempty"`
		Decision     string          `json:"decision,omitempty"`
		Method       string          `json:"method,omitempty"`
		Host         string          `json:"host,omitempty"`
		Path         string          `json:"path,omitempty"`
		Status       int             `json:"status,omitempty"`
		Error        string          `json:"error,omitempty"`
		RequestID    string          `json:"request_id,omitempty"`
		PolicyBefore json.RawMessage `json:"policy_before,omitempty"`
		PolicyAfter  json.RawMessage `json:"policy_after,omitempty"`
		Detail       json.RawMessage `json:"detail,omitempty"`
		RecordID     string          `json:"record_id,omitempty"`
	}
	return out{r.Time.UTC().Format(time.RFC3339Nano), r.Source, r.Event, r.Outcome, r.Actor, r.SourceIP, r.GrantID,
		r.Target, r.Decision, r.Method, r.Host, r.Path, r.Status, r.Error, r.RequestID, r.PolicyBefore, r.PolicyAfter, r.Detail, r.RecordID}
}
