// Package export writes audit records, grant uses and admin events alike,
// as CSV or JSON lines for compliance exports: one Row per record, the
// same columns whichever trail it came from (a local log, the admin log,
// the control plane's table). It streams: a Writer holds one row at a
// time, and Local reads its files line by line, so exporting a million
// records takes the memory of one.
//
// Records hold no secret by construction (the sinks never write one);
// the export copies fields, it never adds any.
package export

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/alter-sidecar/alter/audit"
)

// Columns are the CSV header, in order. JSON lines use the same keys.
var Columns = []string{
	"time", "source", "event", "outcome", "actor", "source_ip", "grant_id", "target", "decision",
	"method", "host", "path", "status", "error", "request_id", "policy_before", "policy_after", "detail", "record_id",
}

// Row is one exported record.
type Row struct {
	Time      time.Time
	Source    string // "local" or "admin" for the local logs; the shipper (or "server") on the control plane
	Event     string // audit.EventGrantUse or an admin event
	Outcome   string // admin events only
	Actor     string
	SourceIP  string
	GrantID   string
	Target    string
	Decision  string
	Method    string
	Host      string
	Path      string
	Status    int
	Error     string
	RequestID string
	// PolicyBefore and PolicyAfter are JSON, nil when the record has none.
	PolicyBefore json.RawMessage
	PolicyAfter  json.RawMessage
	// Detail is a JSON object of the event's other fields (a status
	// before and after, an approval's note...), nil when none.
	Detail   json.RawMessage
	RecordID string // the control plane's record id; "<source>:<seq>" for a local log
}

// line is the part of a record's JSON the export reads.
type line struct {
	Time         string          `json:"ts"`
	Msg          string          `json:"msg"`
	Event        string          `json:"event"`
	Outcome      string          `json:"outcome"`
	Actor        string          `json:"actor"`
	SourceIP     string          `json:"source_ip"`
	GrantID      string          `json:"grant_id"`
	Target       string          `json:"target"`
	Decision     string          `json:"decision"`
	Method       string          `json:"method"`
	Host         string          `json:"host"`
	Path         string          `json:"path"`
	Status       int             `json:"status"`
	Error        string          `json:"error"`
	RequestID    string          `json:"request_id"`
	PolicyBefore json.RawMessage `json:"policy_before"`
	PolicyAfter  json.RawMessage `json:"policy_after"`
	Detail       json.RawMessage `json:"detail"`
	Seq          uint64          `json:"seq"`
}

// Parse reads one record's JSON (a log line, or a control-plane body).
// A record without "event" is a grant use, and so is any record of a
// sidecar (source other than "server").
func Parse(raw []byte) (Row, error) {
	var l line
	if err := json.Unmarshal(raw, &l); err != nil {
		return Row{}, fmt.Errorf("not a JSON record: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, l.Time)
	if err != nil {
		return Row{}, fmt.Errorf("bad %q: %w", audit.FieldTime, err)
	}
	ev := l.Event
	if l.Msg == audit.MessageGrantUse || ev == "" {
		ev = audit.EventGrantUse
	}
	r := Row{Time: t, Event: ev, Outcome: l.Outcome, Actor: l.Actor, SourceIP: l.SourceIP, GrantID: l.GrantID,
		Target: l.Target, Decision: l.Decision, Method: l.Method, Host: l.Host, Path: l.Path, Status: l.Status,
		Error: l.Error, RequestID: l.RequestID}
	if len(l.PolicyBefore) > 0 && string(l.PolicyBefore) != "null" {
		r.PolicyBefore = l.PolicyBefore
	}
	if len(l.PolicyAfter) > 0 && string(l.PolicyAfter) != "null" {
		r.PolicyAfter = l.PolicyAfter
	}
	if len(l.Detail) > 0 && string(l.Detail) != "null" {
		r.Detail = l.Detail
	}
	if l.Seq > 0 {
		r.RecordID = fmt.Sprint(l.Seq)
	}
	return r, nil
}

// Stored is Parse for a record of the control plane's trail: its id,
// source and event column are the row's.
func Stored(id, source, event string, body []byte) (Row, error) {
	r, err := Parse(body)
	if err != nil {
		return Row{}, err
	}
	r.Source, r.RecordID = source, id
	if event != "" {
		r.Event = event
	}
	if r.Event != audit.EventGrantUse && r.Detail == nil {
		r.Detail = serverDetail(body)
	}
	return r, nil
}

// rowFields are the body keys a row has columns for (or that only the
// chain needs).
var rowFields = map[string]bool{
	"ts": true, "msg": true, "event": true, "outcome": true, "actor": true, "source_ip": true, "grant_id": true,
	"target": true, "decision": true, "method": true, "host": true, "path": true, "status": true, "error": true,
	"request_id": true, "policy_before": true, "policy_after": true, "detail": true, "seq": true, "prev": true, "file_start": true,
}

// serverDetail is the rest of a server event's body (the control plane
// writes its detail fields beside the others) as one JSON object.
func serverDetail(body []byte) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	for k := range m {
		if rowFields[k] {
			delete(m, k)
		}
	}
	if len(m) == 0 {
		return nil
	}
	out, err := json.Marshal(m) // sorted keys
	if err != nil {
		return nil
	}
	return out
}

// Filter selects rows; empty fields do not filter.
type Filter struct {
	Since   time.Time // inclusive
	Until   time.Time // exclusive
	GrantID string
	Actor   string
	Event   string
}

// Match reports whether r passes f.
func (f Filter) Match(r Row) bool {
	switch {
	case !f.Since.IsZero() && r.Time.Before(f.Since):
		return false
	case !f.Until.IsZero() && !r.Time.Before(f.Until):
		return false
	case f.GrantID != "" && r.GrantID != f.GrantID:
		return false
	case f.Actor != "" && r.Actor != f.Actor:
		return false
	case f.Event != "" && r.Event != f.Event:
		return false
	}
	return true
}
