// Package api is the control plane's HTTP API (/v1, server/API.md): an
// http.Handler over a storage.Storage. The bodies are package server/wire's
// types, shared with the clients.
//
// Rules that hold on every endpoint:
//   - Every /v1 call is authenticated by a Bearer token, looked up by
//     digest on every request (a revoked token stops working at once, on
//     every replica). Admin tokens may call everything but /v1/sidecar/*;
//     sidecar tokens only /v1/sidecar/*, and only for grants of their app.
//     Another app's grant answers exactly as an unknown one.
//   - Bodies are limited to wire.MaxBody and decoded strictly.
//   - Errors are mapped to statuses in one place (errors.go); the client
//     gets a code and a message that never holds a secret, a token or a
//     database address; the detail goes to the access log line.
//   - No secret value leaves the server except in a sidecar's Resolution,
//     and none is logged.
//
// Files:
//
//	handler.go   New, the routes
//	errors.go    errors to statuses and codes
//	decode.go    strict JSON bodies, JSON answers
//	auth.go      Bearer tokens and the two kinds
//	accesslog.go one log line per request
//	grants.go    the admin grant endpoints and POST /v1/secrets
//	tokens.go    /v1/tokens
//	audit.go     audit query and sidecar audit ingest
//	providers.go the provider catalog
//	sidecar.go   resolve and policies
//	changes.go   the change stream: long poll and Server-Sent Events
package api
