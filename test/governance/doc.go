// Package governance tests a grant's governing rules (issue 18) as an
// operator meets them: through the built alter binary. `alter proxy` runs
// with upstream.resolve pointing api.example.test at a local TLS stand-in
// that records every request and counts every byte it receives, so a
// request that must not be forwarded is seen to send nothing. Clients are
// curl (-x, --cacert) and Go clients that trust only the proxy's CA; the
// approvals are decided by `alter approvals ...` run as separate processes,
// as from another shell, and announced to a local webhook receiver that
// checks every signature with notify.Verify.
//
// One file per concern: approvals_test.go (the operator's flows),
// ratelimit_test.go (rates, a clone's chain, metrics), webhook_test.go,
// and attack_*_test.go, one test per attack: on the approval rule and its
// file, on who asked (proxy_auth actors), on path spellings, and through
// client-sent text and the credential. Every test checks at its end
// that the stored credential appears in nothing the proxy or the CLI
// printed, in the audit file, the approvals file or a webhook message, and
// that the stand-in never received an X-Alter-* header, a Prefer:
// respond-async the proxy consumed, or proxy credentials.
//
// Tests synchronise on events (an approval appearing in `alter approvals
// list --json`, a webhook message arriving, a process's output, an audit
// record): they poll an observable outcome with a deadline, never sleep.
// The package holds only tests; this file exists for its doc.
package governance
