package audit

import (
	"time"

	"go.uber.org/zap/zapcore"
)

// Field names of the canonical audit line. Consumers (alter audit, log
// pipelines, tests) should use these rather than string literals.
const (
	FieldTime          = "ts"
	FieldMessage       = "msg"
	FieldRequestID     = "request_id"
	FieldGrantID       = "grant_id"
	FieldParentGrantID = "parent_grant_id" // omitted when empty
	FieldProfile       = "profile"         // the profile the proxy credentials named; omitted when none
	FieldSecretName    = "secret_name"
	FieldProvider      = "provider"
	FieldActor         = "actor"
	FieldSourceIP      = "source_ip"
	FieldMethod        = "method"
	FieldScheme        = "scheme"
	FieldHost          = "host"
	FieldPort          = "port"
	FieldPath          = "path"
	FieldQueryKeys     = "query_keys"
	FieldReason        = "reason"
	FieldDecision      = "decision"
	FieldRule          = "rule"
	FieldError         = "error"
	FieldStatus        = "status"
	FieldBytesIn       = "bytes_in"
	FieldBytesOut      = "bytes_out"
	FieldLatencyMS     = "latency_ms"
	FieldPhase         = "phase"       // omitted when empty
	FieldApprovalID    = "approval_id" // the approval that held or let through the request; omitted when none

	// Call context, each omitted when empty (so records written before
	// these fields existed read, and verify, as they always did).
	FieldRunID    = "run_id"    // the client's X-Alter-Run-Id
	FieldThreadID = "thread_id" // the client's X-Alter-Thread-Id
	FieldTool     = "tool"      // the client's X-Alter-Tool
	FieldTraceID  = "trace_id"  // the trace id of a valid W3C traceparent

	// Chain fields, written only by the durable sink (see chain.go).
	FieldSeq       = "seq"
	FieldPrev      = "prev"
	FieldFileStart = "file_start" // only on the first line of each file
)

// Phase values. The durable sink's two-phase contract: a PhaseRequest
// record is written (and fsynced) before anything is sent upstream, a
// PhaseResponse record when the exchange ends, both with the same request
// id. An empty phase is the single record the other sinks keep writing.
const (
	PhaseRequest  = "request"
	PhaseResponse = "response"
)

// MessageGrantUse is the "msg" value of every audit record.
const MessageGrantUse = "grant_use"

// Decision values.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// Caps on client-controlled text, in bytes of the escaped form including
// the "…" marker. Generous for honest use, small enough that one request
// cannot bloat the log.
const (
	MaxReasonBytes   = 256
	MaxPathBytes     = 2048
	MaxHostBytes     = 255
	MaxQueryKeyBytes = 128
	MaxQueryKeys     = 64
	// MaxContextBytes caps each call-context field. The proxy refuses a
	// longer header value, so only escaping can make a value reach it.
	MaxContextBytes = 128
	maxOtherBytes   = 256 // ids, names, method, rule, ...
)

// Record is one grant use. Fields hold raw values; escaping and capping
// happen when the record is encoded, so every sink applies them.
type Record struct {
	Time          time.Time
	RequestID     string
	GrantID       string
	ParentGrantID string
	Profile       string // the name of the profile the proxy credentials selected, never its token
	SecretName    string
	Provider      string
	Actor         string
	SourceIP      string
	Method        string
	Scheme        string
	Host          string
	Port          int
	Path          string
	QueryKeys     []string // parameter names only, never values
	Reason        string   // the client's X-Alter-Reason text
	Decision      string   // DecisionAllow or DecisionDeny
	Rule          string   // the policy rule that failed, or ""
	ErrorCode     string   // e.g. "grant_unavailable", "upstream_error"
	Status        int
	BytesIn       int64
	BytesOut      int64
	Latency       time.Duration
	Phase         string // PhaseRequest, PhaseResponse or "" (one record per exchange)
	ApprovalID    string // the approval that held the request, or let it through

	// Call context: what the client said the request belongs to (raw
	// header values; never trusted for a decision), and the trace id of
	// its traceparent.
	RunID    string
	ThreadID string
	Tool     string
	TraceID  string
}

// MarshalLogObject encodes every field except the time and message, which
// belong to the log entry (see NewZapSink). It escapes and caps
// client-controlled text.
func (r Record) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	if r.Phase != "" {
		enc.AddString(FieldPhase, Sanitize(r.Phase, maxOtherBytes))
	}
	enc.AddString(FieldRequestID, Sanitize(r.RequestID, maxOtherBytes))
	enc.AddString(FieldGrantID, Sanitize(r.GrantID, maxOtherBytes))
	if r.ParentGrantID != "" {
		enc.AddString(FieldParentGrantID, Sanitize(r.ParentGrantID, maxOtherBytes))
	}
	if r.Profile != "" {
		enc.AddString(FieldProfile, Sanitize(r.Profile, maxOtherBytes))
	}
	for _, f := range [...]struct{ name, v string }{
		{FieldRunID, r.RunID}, {FieldThreadID, r.ThreadID}, {FieldTool, r.Tool}, {FieldTraceID, r.TraceID},
	} {
		if f.v != "" {
			enc.AddString(f.name, Sanitize(f.v, MaxContextBytes))
		}
	}
	enc.AddString(FieldSecretName, Sanitize(r.SecretName, maxOtherBytes))
	enc.AddString(FieldProvider, Sanitize(r.Provider, maxOtherBytes))
	enc.AddString(FieldActor, Sanitize(r.Actor, maxOtherBytes))
	enc.AddString(FieldSourceIP, Sanitize(r.SourceIP, maxOtherBytes))
	enc.AddString(FieldMethod, Sanitize(r.Method, maxOtherBytes))
	enc.AddString(FieldScheme, Sanitize(r.Scheme, maxOtherBytes))
	enc.AddString(FieldHost, Sanitize(r.Host, MaxHostBytes))
	enc.AddInt(FieldPort, r.Port)
	enc.AddString(FieldPath, Sanitize(r.Path, MaxPathBytes))
	if err := enc.AddArray(FieldQueryKeys, queryKeys(r.QueryKeys)); err != nil {
		return err
	}
	enc.AddString(FieldReason, Sanitize(r.Reason, MaxReasonBytes))
	enc.AddString(FieldDecision, Sanitize(r.Decision, maxOtherBytes))
	enc.AddString(FieldRule, Sanitize(r.Rule, maxOtherBytes))
	enc.AddString(FieldError, Sanitize(r.ErrorCode, maxOtherBytes))
	enc.AddInt(FieldStatus, r.Status)
	enc.AddInt64(FieldBytesIn, r.BytesIn)
	enc.AddInt64(FieldBytesOut, r.BytesOut)
	enc.AddFloat64(FieldLatencyMS, float64(r.Latency)/float64(time.Millisecond))
	if r.ApprovalID != "" {
		enc.AddString(FieldApprovalID, Sanitize(r.ApprovalID, maxOtherBytes))
	}
	return nil
}

// queryKeys encodes as a JSON array (never null), at most MaxQueryKeys
// names followed by "…" when there were more.
type queryKeys []string

func (q queryKeys) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for i, k := range q {
		if i == MaxQueryKeys {
			enc.AppendString(ellipsis)
			break
		}
		enc.AppendString(Sanitize(k, MaxQueryKeyBytes))
	}
	return nil
}
