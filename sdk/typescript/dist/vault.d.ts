export declare const ENV_PROXY = "ALTER_PROXY";
export declare const DEFAULT_PROXY = "http://127.0.0.1:8080";
export declare const MAX_CALL_CONTEXT_BYTES = 128;
export declare const HEADER_GRANT = "X-Alter-Grant";
export declare const HEADER_REASON = "X-Alter-Reason";
export declare const HEADER_ERROR = "X-Alter-Error";
export declare const HEADER_REQUEST_ID = "X-Alter-Request-Id";
export declare const HEADER_APPROVAL = "X-Alter-Approval";
/** A Proxy-Authorization credential; it never prints its value. */
export declare class ProxyAuth {
    #private;
    private constructor();
    /** `Basic name:secret`, name being the client's proxy_auth.clients name. */
    static basic(name: string, secret: string): ProxyAuth;
    /** `Bearer token`. */
    static bearer(token: string): ProxyAuth;
    /** @internal */
    header(): string;
    toString(): string;
    toJSON(): string;
}
/** Which run, thread and tool a request belongs to (at most 128 bytes each). */
export interface CallContext {
    runId?: string;
    threadId?: string;
    tool?: string;
}
export interface VaultOptions {
    /** The sidecar, http://host:port; default $ALTER_PROXY, else http://127.0.0.1:8080. */
    proxy?: string;
    /** Client authentication for a sidecar with proxy_auth. */
    proxyAuth?: ProxyAuth;
    /** Socket idle timeout per request, in milliseconds (default none). */
    timeoutMs?: number;
}
export interface RequestOptions {
    method?: string;
    url: string;
    /** The grant whose credential the sidecar injects; null sends none (passthrough decides). */
    grantId: string | null;
    /** Sent as a JSON body with Content-Type: application/json. */
    json?: unknown;
    /** A raw body: text, bytes, or URLSearchParams (sent as a form). */
    body?: string | Uint8Array | URLSearchParams;
    /** Added to the URL's query. */
    params?: Record<string, string | number | boolean>;
    headers?: Record<string, string>;
    /** Recorded in the audit record; never put a secret in it. */
    reason?: string;
    context?: CallContext;
    timeoutMs?: number;
}
/** The upstream API's answer, any status (its own 4xx and 5xx included). */
export declare class VaultResponse {
    readonly status: number;
    readonly statusText: string;
    readonly headers: Headers;
    readonly bytes: Buffer;
    readonly url: string;
    constructor(status: number, statusText: string, headers: Headers, bytes: Buffer, url: string);
    get ok(): boolean;
    text(): string;
    json(): unknown;
}
/** One request as the sidecar gets it, kept whole so it can be sent again. */
interface Prepared {
    method: string;
    target: string;
    headers: [string, string][];
    body?: Buffer;
}
/**
 * A request waiting for a person's decision. `approvalId` names it
 * (`alter approvals approve ID`); `expiresAt` is when it can no longer be
 * decided.
 */
export declare class PendingApproval {
    private readonly vault;
    private readonly prepared;
    approvalId: string;
    expiresAt: string;
    constructor(vault: Vault, prepared: Prepared, approvalId: string, expiresAt: string);
    /**
     * Waits for the decision and resolves to the request's answer once it is
     * approved (the request is then sent, once). Each retry names the
     * approval in X-Alter-Approval, so no second approval is created; the
     * sidecar holds a retry until the decision or its hold ends. Rejects with
     * ApprovalDeniedError on a denial, ApprovalTimeoutError once timeoutMs
     * passes (default: until the approval expires). If the approval expires
     * or another request uses it, the sidecar opens a new one and the wait
     * follows it (approvalId changes).
     */
    awaitApproval(opts?: {
        timeoutMs?: number;
    }): Promise<VaultResponse>;
}
/** Sends requests through the alter sidecar, which injects the grant's credential. */
export declare class Vault {
    #private;
    constructor(opts?: VaultOptions);
    /** The sidecar's address, never with credentials. */
    get proxyUrl(): string;
    toString(): string;
    /**
     * Sends one request with grantId's credential and resolves to the API's
     * answer, whatever its status. A refusal by the sidecar rejects with its
     * ProxyError subclass; one that needs approval waits the sidecar's hold,
     * then rejects with ApprovalPendingError (its `pending` waits on).
     */
    request(opts: RequestOptions): Promise<VaultResponse>;
    /**
     * request(), but a request that needs approval resolves at once to a
     * PendingApproval (the sidecar's 202 for Prefer: respond-async).
     */
    proxyRequest(opts: RequestOptions): Promise<VaultResponse | PendingApproval>;
    private prepare;
    /** @internal Sends p and reads the answer; a refusal rejects typed. */
    send(p: Prepared, timeoutMs?: number): Promise<VaultResponse>;
    private refusal;
}
export {};
