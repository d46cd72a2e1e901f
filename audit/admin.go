package audit

import (
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap/zapcore"
)

// Admin events: who changed what, as opposed to a grant use. With the file
// store they go to the admin log beside the store (AppendAdmin), a durable,
// hash-chained log like the grant-use log, so the same verifier checks it;
// the control plane stores the same shape in its audit table.

// MessageAdmin is the "msg" of every admin event line.
const MessageAdmin = "admin_event"

// Field names of an admin event line (beside FieldTime, FieldMessage,
// FieldActor, FieldSourceIP, FieldGrantID and FieldError).
const (
	FieldEvent        = "event"
	FieldEventID      = "event_id" // pairs an "attempted" line with its outcome
	FieldOutcome      = "outcome"
	FieldTarget       = "target"        // the name changed: a profile, user, token or secret name
	FieldPolicyBefore = "policy_before" // omitted when none
	FieldPolicyAfter  = "policy_after"  // omitted when none
	FieldDetail       = "detail"        // more, never secret; omitted when empty
)

// Outcome values. The file-store CLI writes OutcomeAttempted before a
// change and OutcomeSucceeded or OutcomeFailed after it, with the same
// event id; the control plane writes its events in the change's own
// transaction, so they only ever say succeeded (or failed, for a refused
// login or reload).
const (
	OutcomeAttempted = "attempted"
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
)

// Event names, shared by the admin log and the control plane's trail.
const (
	EventGrantUse           = "grant_use" // the event of every grant-use record
	EventSecretAdd          = "secret_add"
	EventGrantRotate        = "grant_rotate"
	EventGrantRevoke        = "grant_revoke"
	EventGrantClone         = "grant_clone"
	EventGrantPolicy        = "grant_policy"
	EventGrantDelete        = "grant_delete"
	EventProfileCreate      = "profile_create"
	EventProfileUpdate      = "profile_update"
	EventProfileRevoke      = "profile_revoke"
	EventProfileTokenRotate = "profile_rotate_token"
	EventTokenCreate        = "token_create"
	EventTokenRevoke        = "token_revoke"
	EventTokenApprove       = "token_approve"
	EventUserAdd            = "user_add"
	EventUserDisable        = "user_disable"
	EventLogin              = "portal_login"
	EventLogout             = "portal_logout"
	EventApprovalDecide     = "approval_decide"
	EventConfigReload       = "config_reload"
	EventResolve            = "resolve"
	EventAuditRetention     = "audit_retention" // the server deleted records past audit.retention
)

// AdminEvent is one admin or lifecycle event. It never holds a secret:
// ids, names and policies only.
type AdminEvent struct {
	Time     time.Time
	Event    string
	EventID  string
	Outcome  string
	Actor    string
	SourceIP string
	GrantID  string
	Target   string
	// PolicyBefore and PolicyAfter are encoded as JSON (a policy.Spec);
	// nil leaves them out.
	PolicyBefore any
	PolicyAfter  any
	Error        string
	Detail       map[string]string
}

func (e AdminEvent) when() time.Time { return e.Time }
func (e AdminEvent) message() string { return MessageAdmin }

// MarshalLogObject encodes the event's fields, escaped and capped like a
// grant use's.
func (e AdminEvent) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString(FieldEvent, Sanitize(e.Event, maxOtherBytes))
	enc.AddString(FieldEventID, Sanitize(e.EventID, maxOtherBytes))
	enc.AddString(FieldOutcome, Sanitize(e.Outcome, maxOtherBytes))
	enc.AddString(FieldActor, Sanitize(e.Actor, maxOtherBytes))
	if e.SourceIP != "" {
		enc.AddString(FieldSourceIP, Sanitize(e.SourceIP, maxOtherBytes))
	}
	if e.GrantID != "" {
		enc.AddString(FieldGrantID, Sanitize(e.GrantID, maxOtherBytes))
	}
	if e.Target != "" {
		enc.AddString(FieldTarget, Sanitize(e.Target, maxOtherBytes))
	}
	if e.PolicyBefore != nil {
		if err := enc.AddReflected(FieldPolicyBefore, e.PolicyBefore); err != nil {
			return err
		}
	}
	if e.PolicyAfter != nil {
		if err := enc.AddReflected(FieldPolicyAfter, e.PolicyAfter); err != nil {
			return err
		}
	}
	if e.Error != "" {
		enc.AddString(FieldError, Sanitize(e.Error, MaxReasonBytes))
	}
	if len(e.Detail) > 0 {
		return enc.AddObject(FieldDetail, detail(e.Detail))
	}
	return nil
}

// detail encodes a string map with sorted keys, so a line's bytes do not
// depend on map order.
type detail map[string]string

func (d detail) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		enc.AddString(Sanitize(k, maxOtherBytes), Sanitize(d[k], MaxReasonBytes))
	}
	return nil
}

// WriteAdmin appends an admin event to the chain, with the same guarantee
// as Write: nil only once it is on disk.
func (s *DurableSink) WriteAdmin(e AdminEvent) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.err = s.write(e)
	return s.err
}

// AppendAdmin appends one event to the admin log at path: it opens the
// log (waiting for any other process appending to it), continues its
// chain, fsyncs the record and closes the log again. Several CLI
// processes can append to one log this way; none holds it open.
func AppendAdmin(path string, e AdminEvent) error {
	s, err := NewDurableSink(path, DurableOptions{WaitLock: true})
	if err != nil {
		return fmt.Errorf("admin audit log: %w", err)
	}
	werr := s.WriteAdmin(e)
	cerr := s.Close()
	if werr != nil {
		return fmt.Errorf("admin audit log: %w", werr)
	}
	if cerr != nil {
		return fmt.Errorf("admin audit log: %w", cerr)
	}
	return nil
}
