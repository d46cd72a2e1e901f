// Package ship sends the sidecar's durable audit log to the control plane
// (POST /v1/sidecar/audit), so the server holds every sidecar's trail.
//
// The durable log (audit.DurableSink) is the buffer: a record is on disk
// before its request goes on, so shipping can lag, stop and resume
// without losing anything. The shipper reads the log's files
// (audit.Files: the rotated ones, oldest first, then the live one), sends
// records in batches, and after the server acknowledges a batch writes
// its position to a small state file next to the log ("<log>.ship": the
// last shipped record's seq and line hash), atomically (temp file, fsync,
// rename).
//
// Exactly once, by ID. A record's ID is "<seq>-<SHA-256 of its line>".
// It is the same in every retry, after a crash between the server's
// acknowledgement and the state write, after a lost state file and after
// the sidecar's identity changes; and since each line's hash covers the
// previous one's (audit's chain), two different records never share one.
// The server ignores IDs it has, so a batch sent twice counts once.
//
// What it copes with:
//   - rotation: a file renamed under the shipper keeps its first line, so
//     the shipper finds its place again by that line's hash;
//   - a torn last line (no newline yet): left for the next pass;
//   - a log replaced or restored (its chain no longer continues from the
//     shipped record): logged, and shipped again from its start; records
//     the server has are skipped by ID;
//   - files removed by retention before they were shipped: a gap, logged;
//   - a record the server refuses (400): the batch is retried one record
//     at a time and the refused one is logged and skipped, so one bad line
//     cannot stop the trail. Lines that do not parse are skipped too
//     (alter audit verify reports them).
package ship
