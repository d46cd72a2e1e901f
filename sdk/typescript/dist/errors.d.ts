/** Base of every error this package throws. */
export declare class AlterVaultError extends Error {
    name: string;
}
/** The sidecar could not be reached, or hung up before answering. */
export declare class SidecarUnreachableError extends AlterVaultError {
    name: string;
}
/** The sidecar did not answer within the request's timeout. */
export declare class SidecarTimeoutError extends AlterVaultError {
    name: string;
}
/** What the sidecar said in a refusal: its own words, never a secret. */
export interface Refusal {
    status: number;
    code: string;
    message: string;
    rule: string;
    reason: string;
    requestId: string;
    retryAfter?: number;
    body: Record<string, unknown>;
}
/** A refusal made by the sidecar, not by the upstream API. */
export declare class ProxyError extends AlterVaultError {
    name: string;
    readonly status: number;
    readonly code: string;
    readonly rule: string;
    readonly reason: string;
    readonly requestId: string;
    readonly retryAfter?: number;
    readonly body: Record<string, unknown>;
    /** The sidecar's explanation. */
    readonly detail: string;
    constructor(r: Refusal);
    protected field(name: string): string;
}
/** The sidecar could not read the request (bad_request). */
export declare class BadRequestError extends ProxyError {
    name: string;
}
/** The grant is unknown, revoked or expired; retrying will not help. */
export declare class GrantUnavailableError extends ProxyError {
    name: string;
}
/** A rule of the grant refused the request; `rule` names it. */
export declare class PolicyDeniedError extends ProxyError {
    name: string;
}
/** A request without a grant, and the sidecar's passthrough refuses it. */
export declare class PassthroughDeniedError extends ProxyError {
    name: string;
}
/** The sidecar could not reach the upstream; `reason` says what failed. */
export declare class UpstreamError extends ProxyError {
    name: string;
    /** True for upstream_timeout. */
    get timeout(): boolean;
}
/** The upstream did not connect or answer in time. */
export declare class UpstreamTimeoutError extends UpstreamError {
    name: string;
}
/**
 * The grant's credential is minted (an OAuth2 token, a GitHub App token, a
 * signed JWT) and the sidecar could not get one; `reason` says why. Nothing
 * was sent upstream.
 */
export declare class CredentialUnavailableError extends ProxyError {
    name: string;
}
/** The sidecar cannot read its credential or approval store. */
export declare class StoreUnavailableError extends ProxyError {
    name: string;
}
/** The durable audit log cannot be written, so nothing was sent. */
export declare class AuditUnavailableError extends ProxyError {
    name: string;
}
/** A body the sidecar must hold (to sign it, or for an approval) is too large. */
export declare class RequestTooLargeError extends ProxyError {
    name: string;
}
/** The sidecar requires client authentication (see VaultOptions.proxyAuth). */
export declare class ProxyAuthRequiredError extends ProxyError {
    name: string;
}
/** The sidecar failed in a way it did not expect. */
export declare class InternalError extends ProxyError {
    name: string;
}
/** The client's profile is an egress allowlist that does not reach this destination. */
export declare class DestinationNotAllowedError extends ProxyError {
    name: string;
}
/** A rate or quota is used up; `retryAfter` is seconds, when sent. */
export declare class RateLimitedError extends ProxyError {
    name: string;
}
/** A person denied the request; `note` is what they wrote. */
export declare class ApprovalDeniedError extends ProxyError {
    name: string;
    get approvalId(): string;
    get note(): string;
}
/**
 * The request waits for a person's approval and nobody decided within the
 * sidecar's hold; `pending.awaitApproval()` waits on.
 */
export declare class ApprovalPendingError extends ProxyError {
    name: string;
    /** Set by the Vault that sent the request. */
    pending?: {
        awaitApproval(opts?: {
            timeoutMs?: number;
        }): Promise<unknown>;
    };
    get approvalId(): string;
    get expiresAt(): string;
}
/** awaitApproval's timeout passed first; the approval stays decidable. */
export declare class ApprovalTimeoutError extends AlterVaultError {
    readonly approvalId: string;
    name: string;
    constructor(approvalId: string, waitedMs: number);
}
/** Every code of the sidecar's contract and its error class. */
export declare const ERROR_TYPES: Readonly<Record<string, new (r: Refusal) => ProxyError>>;
/** The typed error for one refusal; an unknown code is a plain ProxyError. */
export declare function errorFor(r: Refusal): ProxyError;
