// Typed errors for the sidecar's refusals. Every answer the sidecar makes
// up itself carries X-Alter-Error; its code picks the class (ERROR_TYPES
// maps every code of the proxy's contract, package errcode in the Go
// module; test/sdks fails when the two lists differ). An answer without
// the header is the upstream API's and is returned as a normal response.
/** Base of every error this package throws. */
export class AlterVaultError extends Error {
    name = 'AlterVaultError';
}
/** The sidecar could not be reached, or hung up before answering. */
export class SidecarUnreachableError extends AlterVaultError {
    name = 'SidecarUnreachableError';
}
/** The sidecar did not answer within the request's timeout. */
export class SidecarTimeoutError extends AlterVaultError {
    name = 'SidecarTimeoutError';
}
/** A refusal made by the sidecar, not by the upstream API. */
export class ProxyError extends AlterVaultError {
    name = 'ProxyError';
    status;
    code;
    rule;
    reason;
    requestId;
    retryAfter;
    body;
    /** The sidecar's explanation. */
    detail;
    constructor(r) {
        let s = 'alter sidecar refused the request: ' + r.code;
        if (r.rule)
            s += ' (rule ' + r.rule + ')';
        if (r.reason)
            s += ' (' + r.reason + ')';
        if (r.message)
            s += ': ' + r.message;
        s += ' [status ' + r.status + (r.requestId ? ', request ' + r.requestId : '') + ']';
        super(s);
        this.status = r.status;
        this.code = r.code;
        this.detail = r.message;
        this.rule = r.rule;
        this.reason = r.reason;
        this.requestId = r.requestId;
        this.retryAfter = r.retryAfter;
        this.body = r.body;
    }
    field(name) {
        const v = this.body[name];
        return typeof v === 'string' ? v : '';
    }
}
/** The sidecar could not read the request (bad_request). */
export class BadRequestError extends ProxyError {
    name = 'BadRequestError';
}
/** The grant is unknown, revoked or expired; retrying will not help. */
export class GrantUnavailableError extends ProxyError {
    name = 'GrantUnavailableError';
}
/** A rule of the grant refused the request; `rule` names it. */
export class PolicyDeniedError extends ProxyError {
    name = 'PolicyDeniedError';
}
/** A request without a grant, and the sidecar's passthrough refuses it. */
export class PassthroughDeniedError extends ProxyError {
    name = 'PassthroughDeniedError';
}
/** The sidecar could not reach the upstream; `reason` says what failed. */
export class UpstreamError extends ProxyError {
    name = 'UpstreamError';
    /** True for upstream_timeout. */
    get timeout() { return this.code === 'upstream_timeout'; }
}
/** The upstream did not connect or answer in time. */
export class UpstreamTimeoutError extends UpstreamError {
    name = 'UpstreamTimeoutError';
}
/**
 * The grant's credential is minted (an OAuth2 token, a GitHub App token, a
 * signed JWT) and the sidecar could not get one; `reason` says why. Nothing
 * was sent upstream.
 */
export class CredentialUnavailableError extends ProxyError {
    name = 'CredentialUnavailableError';
}
/** The sidecar cannot read its credential or approval store. */
export class StoreUnavailableError extends ProxyError {
    name = 'StoreUnavailableError';
}
/** The durable audit log cannot be written, so nothing was sent. */
export class AuditUnavailableError extends ProxyError {
    name = 'AuditUnavailableError';
}
/** A body the sidecar must hold (to sign it, or for an approval) is too large. */
export class RequestTooLargeError extends ProxyError {
    name = 'RequestTooLargeError';
}
/** The sidecar requires client authentication (see VaultOptions.proxyAuth). */
export class ProxyAuthRequiredError extends ProxyError {
    name = 'ProxyAuthRequiredError';
}
/** The sidecar failed in a way it did not expect. */
export class InternalError extends ProxyError {
    name = 'InternalError';
}
/** The client's profile is an egress allowlist that does not reach this destination. */
export class DestinationNotAllowedError extends ProxyError {
    name = 'DestinationNotAllowedError';
}
/** A rate or quota is used up; `retryAfter` is seconds, when sent. */
export class RateLimitedError extends ProxyError {
    name = 'RateLimitedError';
}
/** A person denied the request; `note` is what they wrote. */
export class ApprovalDeniedError extends ProxyError {
    name = 'ApprovalDeniedError';
    get approvalId() { return this.field('approval_id'); }
    get note() { return this.field('note'); }
}
/**
 * The request waits for a person's approval and nobody decided within the
 * sidecar's hold; `pending.awaitApproval()` waits on.
 */
export class ApprovalPendingError extends ProxyError {
    name = 'ApprovalPendingError';
    /** Set by the Vault that sent the request. */
    pending;
    get approvalId() { return this.field('approval_id'); }
    get expiresAt() { return this.field('expires_at'); }
}
/** awaitApproval's timeout passed first; the approval stays decidable. */
export class ApprovalTimeoutError extends AlterVaultError {
    approvalId;
    name = 'ApprovalTimeoutError';
    constructor(approvalId, waitedMs) {
        super(`approval ${approvalId} was not decided within ${(waitedMs / 1000).toFixed(1)}s`);
        this.approvalId = approvalId;
    }
}
/** Every code of the sidecar's contract and its error class. */
export const ERROR_TYPES = Object.freeze({
    bad_request: BadRequestError,
    grant_unavailable: GrantUnavailableError,
    policy_denied: PolicyDeniedError,
    passthrough_denied: PassthroughDeniedError,
    upstream_error: UpstreamError,
    upstream_timeout: UpstreamTimeoutError,
    credential_unavailable: CredentialUnavailableError,
    store_unavailable: StoreUnavailableError,
    audit_unavailable: AuditUnavailableError,
    request_too_large: RequestTooLargeError,
    proxy_auth_required: ProxyAuthRequiredError,
    internal_error: InternalError,
    destination_not_allowed: DestinationNotAllowedError,
    rate_limited: RateLimitedError,
    approval_pending: ApprovalPendingError,
    approval_denied: ApprovalDeniedError,
});
/** The typed error for one refusal; an unknown code is a plain ProxyError. */
export function errorFor(r) {
    const cls = Object.hasOwn(ERROR_TYPES, r.code) ? ERROR_TYPES[r.code] : ProxyError;
    return new cls(r);
}
