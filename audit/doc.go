// Package audit defines the audit record written for every grant use,
// allowed or denied, and the sinks that store those records.
//
// A record never carries a secret or a header value: only names, the
// destination, the decision and its rule, sizes and timing. Text that the
// client controls (reason, path, host, query keys) is capped and has its
// control characters escaped, so a client cannot forge a second line or
// hide text from someone reading the log in a terminal.
//
// # The durable log
//
// DurableSink (audit.durable: true) writes the same JSON lines as the
// plain sink, plus three chain fields at the end of each line:
//
//	"seq":        1, 2, 3, ... across restarts and rotations, never reused
//	"prev":       hex SHA-256 of the previous line's exact bytes (without
//	              its newline); for seq 1 it is Genesis (64 zeros)
//	"file_start": true on the first line of every file, absent elsewhere
//
// A line's hash covers its "prev", so each line commits to everything
// before it. Editing a line changes its hash and breaks the next line's
// prev; removing one makes seq jump; swapping two makes seq go back and
// forth; a forged line inserted with a correct seq and prev still leaves
// the next genuine line pointing at its real predecessor. file_start lets
// one file be verified on its own: its first line's prev and seq-1 are the
// previous file's final hash and seq, taken on trust, and a file whose
// first line lacks file_start has lost lines at its start.
//
// Rotation (DurableOptions.MaxSize) renames the full file to
// "<path>.<seq of its first record, 12 digits>", so names sort oldest
// first, and starts a new file whose first line chains to the renamed
// file's last. Use MaxSize, not an external tool such as logrotate, which
// would rename files under other names and, in copytruncate mode, lose
// records.
//
// The end of the log has nothing after it to vouch for it, so cutting the
// last records off would go unnoticed. The sink therefore keeps
// "<path>.head", one fixed-size line naming the last seq and hash,
// rewritten and fsynced after the log itself. Verify compares it with the
// log: a log that ends before the head's seq was truncated; a record at the
// head's seq with another hash was edited. The head may lag the log (a
// crash between the two fsyncs, or SyncInterval), never lead it. The head
// file also carries an exclusive flock for as long as a sink is open, so
// two processes cannot interleave two chains in one file.
//
// # Failure and restart
//
// Write returns nil only when the record is written and, by default,
// fsynced with the head updated. When any step fails the sink cuts the
// file back to its last good record (so a failed record is not left in
// the log) and returns the error; Ready reports it. The next Write tries
// again, reopening the file if needed, and continues the same chain.
//
// Opening an existing log resumes its chain from the last line. A last
// line without its newline is a write torn by a crash: that record was
// never acknowledged, so after checking every complete line of the file
// the fragment is cut off and the cut is logged. A complete last line that
// does not parse, or a head that disagrees with the log, refuses the open
// with a message naming the file: continuing would hide the damage.
//
// # What verification cannot detect
//
// The chain has no secret: someone who can write the log and the head can
// rewrite them consistently from any point onwards. Copy the head (or the
// "head:" line that alter audit verify prints) to another system to pin
// the log up to that point. Deleting the oldest files whole, as retention
// does, is not an error: the report says where the chain starts. Without a
// head file, records cut from the end of the newest file go unnoticed.
// With SyncInterval, records written since the last fsync can be lost in a
// crash even though their requests were forwarded.
package audit
