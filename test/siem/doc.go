// Package siem tests forwarding of the audit trail to a SIEM through the
// built binaries, with the SIEM's receiver a process of its own
// (internal/receiver) that the tests kill and restart mid-stream, as
// issue 19 asks: every record arrives exactly once by id, every request
// is signed, and no secret is in any forwarded byte. The sidecar's
// forwarding (webhook_test.go) and alter server's (server_test.go: one
// server killed and restarted, and two replicas handing the target over)
// are both tested.
package siem
