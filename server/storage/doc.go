// Package storage is the control plane's persistent state: grants, the
// sealed secrets behind them, their policies, a change sequence for the
// sidecars' change stream, the audit records sidecars ship in, and the
// developer portal's users and sessions.
//
// One interface, Storage, has two engines behind it, chosen by Open's
// address: SQLite (modernc.org/sqlite, no cgo), the embedded default for a
// single server, and PostgreSQL (pgx) for several replicas sharing one
// database. Both go through database/sql with the same queries; the engine
// type holds what differs (schema files, placeholders, locks).
//
// Rules that make replicas safe:
//   - No state lives in memory: every read is a query, so a change made
//     through one replica is visible through all of them at once.
//   - Every write runs in one transaction that first takes the engine's
//     write lock (BEGIN IMMEDIATE on SQLite, a transaction advisory lock on
//     PostgreSQL). Writes are rare; serialising them makes checks such as
//     "the parent is still live" race-free and makes change sequence numbers
//     commit in order, so a reader polling "changes after N" never skips one.
//     Portal session writes are the exception: single statements on one
//     row, frequent (a touch a minute per browser) and independent of
//     everything else, so they skip the lock.
//   - Secrets reach the database only sealed, by a Sealer; the database
//     holds the key id and an opaque blob.
//   - Grant, secret, token, user and portal session rows carry an
//     integrity code under a key only the master key opens: a row edited
//     in the database fails closed.
//   - Every write is validated before its transaction starts (or, for what
//     depends on stored rows, inside it) and errors wrap
//     secretstore.ErrInvalid or secretstore.ErrNotFound.
//
// Files:
//
//	storage.go   the Storage interface and its types
//	open.go      Open, engines, the write transaction
//	migrate.go   versioned, embedded schema migrations
//	validate.go  input checks
//	integrity.go the mac on every grant, secret and token row
//	grants.go    Add, Clone, Rotate, Revoke, SetPolicy
//	read.go      List, Get, Resolve and a grant's status
//	app.go       grants per app: ResolveFor, Policies, ChangesFor
//	effective.go a clone's effective policy as one spec
//	changes.go   the change sequence
//	wait.go      waiting for a change: LISTEN/NOTIFY or polling
//	tokens.go    API tokens, stored as digests
//	users.go     portal users and their password hashes
//	sessions.go  portal sessions, stored as digests, shared by replicas
//	audit.go     audit insert and query
package storage
