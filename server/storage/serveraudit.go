package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/secretstore"
)

// The server's own audit records: what an admin or a sidecar token did
// that a sidecar's log cannot show, chiefly every resolve (the only call
// that hands out a secret, so the only way an admin who mints a sidecar
// token can read a credential back) and every token created or revoked.
// They go in the same trail as shipped records, with source ServerSource,
// so `alter audit query --grant G` lists who received G's secret and when.
// Their body has the shape of a sidecar's log line ("ts", "msg",
// "grant_id", "actor", "decision"), so every reader of the trail reads it.

// ServerSource is the source of the records the server writes itself.
// Shipped records have "app/token name", which always contains a '/'.
const ServerSource = "server"

// Server audit events (the body's "event").
// The names are audit's, shared with the file store's admin log.
const (
	EventResolve      = audit.EventResolve
	EventTokenCreate  = audit.EventTokenCreate
	EventTokenRevoke  = audit.EventTokenRevoke
	EventTokenApprove = audit.EventTokenApprove
)

// ServerEvent is one thing the server records about itself.
type ServerEvent struct {
	Event string
	// Actor is who did it: "token:<name>" for an API token (TokenActor),
	// "portal:<user>", or a description such as "cli (database)" for the
	// bootstrap commands. ActorID is its identity when that differs
	// ("token:<id>": token names are not unique), in the body as actor_id.
	Actor   string
	ActorID string
	TokenID string // the token that acted, or was created or revoked
	App     string // the app of that token, if any
	GrantID string // the grant resolved, if any
	// Decision is audit.DecisionAllow, or DecisionDeny for a refused
	// resolve, with the answer's code in Error.
	Decision string
	Error    string
	Detail   map[string]string // more, never secret (a new token's kind and name)
	Time     time.Time

	// The fields of an admin event, as in the file store's admin log
	// (audit.AdminEvent): the outcome (audit.OutcomeSucceeded when
	// empty), the client address (portal logins), the name changed, and
	// the grant's policy before and after (a policy.Spec; nil: none).
	Outcome      string
	SourceIP     string
	Target       string
	PolicyBefore any
	PolicyAfter  any
}

// Record is the event as an audit record.
func (e ServerEvent) Record() AuditRecord {
	if e.Time.IsZero() {
		e.Time = now()
	}
	if e.Decision == "" {
		e.Decision = audit.DecisionAllow
	}
	body := map[string]any{
		audit.FieldTime: e.Time.UTC().Format(time.RFC3339Nano), audit.FieldMessage: "control plane " + e.Event,
		"event": e.Event, audit.FieldActor: e.Actor, audit.FieldDecision: e.Decision, "token_id": e.TokenID,
	}
	if e.ActorID != "" && e.ActorID != e.Actor {
		body["actor_id"] = e.ActorID
	}
	if e.App != "" {
		body["app"] = e.App
	}
	if e.GrantID != "" {
		body[audit.FieldGrantID] = e.GrantID
	}
	if e.Error != "" {
		body[audit.FieldError] = e.Error
	}
	if e.Outcome == "" {
		e.Outcome = audit.OutcomeSucceeded
	}
	body[audit.FieldOutcome] = e.Outcome
	for k, v := range map[string]string{audit.FieldSourceIP: e.SourceIP, audit.FieldTarget: e.Target} {
		if v != "" {
			body[k] = v
		}
	}
	if e.PolicyBefore != nil {
		body[audit.FieldPolicyBefore] = e.PolicyBefore
	}
	if e.PolicyAfter != nil {
		body[audit.FieldPolicyAfter] = e.PolicyAfter
	}
	for k, v := range e.Detail {
		if _, taken := body[k]; !taken {
			body[k] = v
		}
	}
	raw, err := json.Marshal(body) // strings and policies: cannot fail
	if err != nil {
		raw = []byte(`{}`)
	}
	column := func(v string) string {
		if secretstore.CheckText("audit column", v) != nil {
			return ""
		}
		return v
	}
	return AuditRecord{ID: ServerSource + "/" + uuid.NewString(), Source: ServerSource, Time: e.Time,
		GrantID: column(e.GrantID), Actor: column(e.Actor), Decision: e.Decision, Event: e.Event, Body: raw}
}

// RecordServerEvent stores one server audit record.
func (d *DB) RecordServerEvent(ctx context.Context, e ServerEvent) error {
	_, err := d.InsertAudit(ctx, e.Record())
	return err
}

// insertAuditTx stores records inside a write's transaction, so the
// record exists exactly when the write does.
func (d *DB) insertAuditTx(ctx context.Context, tx *sql.Tx, recs ...AuditRecord) error {
	stmt := d.q(`INSERT INTO audit (id, source, at, grant_id, actor, decision, event, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	for i, r := range recs {
		if err := checkAudit(r); err != nil {
			return fmt.Errorf("server audit record %d: %w", i, err)
		}
		if _, err := tx.ExecContext(ctx, stmt, r.ID, r.Source, micro(r.Time), r.GrantID, r.Actor, r.Decision, eventOf(r), string(r.Body)); err != nil {
			return unavailable(err)
		}
	}
	return nil
}
