// Package forward sends audit records to a SIEM: a webhook (batched,
// signed JSON POSTs) or a syslog collector (RFC 5424 messages over TCP
// with octet-counted framing, RFC 6587, or over TLS, RFC 5425).
//
// Webhook and Syslog are senders: they deliver one batch of
// wire.AuditRecord and report success only when the whole batch is
// through. Where the records come from, and the durable cursor that says
// what is delivered, is the caller's: on the sidecar Start runs an
// audit/ship Shipper per target over the durable log, each with its own
// position file ("<log>.forward-<name>"); on the server the records are
// the audit table's rows (server/auditforward).
//
// Delivery is at least once. The cursor moves only after a batch is
// acknowledged, so a crash or a receiver that fails between receiving a
// batch and answering makes it come again; each record carries an id
// ("id" in the webhook body, the structured-data param id in syslog)
// that is the same in every retry, and a receiver keeps one record per
// id. Nothing in a forwarded record is secret: audit records never hold
// one, and the HMAC key and the target's URL are never logged.
package forward
