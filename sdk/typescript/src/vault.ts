// Vault sends requests to the alter sidecar the way the Go SDK does:
// plain HTTP in absolute form ("GET https://api.example.com/v1 HTTP/1.1")
// to ALTER_PROXY, so the application needs neither the sidecar's CA nor
// any proxy setting. Node's fetch cannot write that form, so the hop is
// node:http; there are no runtime dependencies.

import * as http from 'node:http';
import {
  AlterVaultError, ApprovalPendingError, ApprovalTimeoutError, ProxyError, SidecarTimeoutError,
  SidecarUnreachableError, errorFor,
} from './errors.js';

export const ENV_PROXY = 'ALTER_PROXY';
export const DEFAULT_PROXY = 'http://127.0.0.1:8080';
export const MAX_CALL_CONTEXT_BYTES = 128;
export const HEADER_GRANT = 'X-Alter-Grant';
export const HEADER_REASON = 'X-Alter-Reason';
export const HEADER_ERROR = 'X-Alter-Error';
export const HEADER_REQUEST_ID = 'X-Alter-Request-Id';
export const HEADER_APPROVAL = 'X-Alter-Approval';
const CONTEXT_HEADERS = { runId: 'X-Alter-Run-Id', threadId: 'X-Alter-Thread-Id', tool: 'X-Alter-Tool' } as const;
// A refusal's body is a few hundred bytes; anything larger is not one.
const MAX_ERROR_BODY = 64 << 10;
// A retry answered faster than this was not held by the sidecar: the next
// waits the rest, so a pending approval is asked about about once a second.
const MIN_ATTEMPT_MS = 1000;

/** A Proxy-Authorization credential; it never prints its value. */
export class ProxyAuth {
  readonly #value: string;
  private constructor(value: string) { this.#value = value; }
  /** `Basic name:secret`, name being the client's proxy_auth.clients name. */
  static basic(name: string, secret: string): ProxyAuth {
    return new ProxyAuth('Basic ' + Buffer.from(name + ':' + secret).toString('base64'));
  }
  /** `Bearer token`. */
  static bearer(token: string): ProxyAuth { return new ProxyAuth('Bearer ' + token); }
  /** @internal */
  header(): string { return this.#value; }
  toString(): string { return 'ProxyAuth([redacted])'; }
  toJSON(): string { return this.toString(); }
  [Symbol.for('nodejs.util.inspect.custom')](): string { return this.toString(); }
}

/** Which run, thread and tool a request belongs to (at most 128 bytes each). */
export interface CallContext { runId?: string; threadId?: string; tool?: string }

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
export class VaultResponse {
  constructor(readonly status: number, readonly statusText: string, readonly headers: Headers,
              readonly bytes: Buffer, readonly url: string) {}
  get ok(): boolean { return this.status < 400; }
  text(): string { return this.bytes.toString('utf8'); }
  json(): unknown { return JSON.parse(this.text()); }
}

/** One request as the sidecar gets it, kept whole so it can be sent again. */
interface Prepared { method: string; target: string; headers: [string, string][]; body?: Buffer }

/**
 * A request waiting for a person's decision. `approvalId` names it
 * (`alter approvals approve ID`); `expiresAt` is when it can no longer be
 * decided.
 */
export class PendingApproval {
  constructor(private readonly vault: Vault, private readonly prepared: Prepared,
              public approvalId: string, public expiresAt: string) {}

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
  async awaitApproval(opts: { timeoutMs?: number } = {}): Promise<VaultResponse> {
    const start = Date.now();
    let deadline = opts.timeoutMs !== undefined ? start + opts.timeoutMs : Date.parse(this.expiresAt);
    if (Number.isNaN(deadline)) deadline = Infinity;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new ApprovalTimeoutError(this.approvalId, Date.now() - start);
      const attempt = Date.now();
      const retry = withHeader(this.prepared, HEADER_APPROVAL, this.approvalId, 'prefer');
      try {
        return await this.vault.send(retry, Number.isFinite(remaining) ? remaining : undefined);
      } catch (e) {
        if (e instanceof SidecarTimeoutError) throw new ApprovalTimeoutError(this.approvalId, Date.now() - start);
        if (!(e instanceof ApprovalPendingError)) throw e;
        if (e.approvalId) {
          this.approvalId = e.approvalId;
          this.expiresAt = e.expiresAt || this.expiresAt;
        }
      }
      const pause = Math.min(MIN_ATTEMPT_MS - (Date.now() - attempt), deadline - Date.now());
      if (pause > 0) await new Promise((r) => setTimeout(r, pause));
    }
  }
}

/** Sends requests through the alter sidecar, which injects the grant's credential. */
export class Vault {
  readonly #host: string;
  readonly #port: number;
  readonly #auth?: ProxyAuth;
  readonly #timeoutMs?: number;

  constructor(opts: VaultOptions = {}) {
    let addr = opts.proxy || process.env[ENV_PROXY] || DEFAULT_PROXY;
    if (!addr.includes('://')) addr = 'http://' + addr;
    let u: URL;
    try {
      u = new URL(addr);
    } catch {
      // URL's error repeats the input, which may hold a password.
      throw new AlterVaultError('the sidecar address is not a URL');
    }
    if (u.protocol !== 'http:' || !u.hostname || (u.pathname !== '/' && u.pathname !== '') || u.search) {
      throw new AlterVaultError(`the sidecar address must be http://host:port (got scheme "${u.protocol.replace(':', '')}", host "${u.hostname}")`);
    }
    this.#host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    this.#port = u.port ? Number(u.port) : 80;
    this.#auth = opts.proxyAuth ?? (u.username ? ProxyAuth.basic(decodeURIComponent(u.username), decodeURIComponent(u.password)) : undefined);
    this.#timeoutMs = opts.timeoutMs;
  }

  /** The sidecar's address, never with credentials. */
  get proxyUrl(): string {
    const h = this.#host.includes(':') ? `[${this.#host}]` : this.#host;
    return `http://${h}:${this.#port}`;
  }

  toString(): string { return `Vault(${this.proxyUrl})`; }

  /**
   * Sends one request with grantId's credential and resolves to the API's
   * answer, whatever its status. A refusal by the sidecar rejects with its
   * ProxyError subclass; one that needs approval waits the sidecar's hold,
   * then rejects with ApprovalPendingError (its `pending` waits on).
   */
  async request(opts: RequestOptions): Promise<VaultResponse> {
    return this.send(this.prepare(opts, false), opts.timeoutMs ?? this.#timeoutMs);
  }

  /**
   * request(), but a request that needs approval resolves at once to a
   * PendingApproval (the sidecar's 202 for Prefer: respond-async).
   */
  async proxyRequest(opts: RequestOptions): Promise<VaultResponse | PendingApproval> {
    try {
      return await this.send(this.prepare(opts, true), opts.timeoutMs ?? this.#timeoutMs);
    } catch (e) {
      if (e instanceof ApprovalPendingError && e.pending instanceof PendingApproval) return e.pending;
      throw e;
    }
  }

  private prepare(o: RequestOptions, respondAsync: boolean): Prepared {
    const method = o.method ?? 'GET';
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method)) throw new AlterVaultError('the method must be an HTTP token such as GET');
    let u: URL;
    try {
      u = new URL(o.url);
    } catch {
      throw new AlterVaultError('the URL is not valid');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new AlterVaultError('only http:// and https:// URLs can be sent through the sidecar');
    if (!u.hostname) throw new AlterVaultError('the URL has no host');
    if (u.username || u.password) throw new AlterVaultError('user information in the URL is not allowed; the sidecar injects credentials');
    if (o.grantId === '' || o.grantId === undefined) throw new AlterVaultError('a grant id is required (null sends the request without one)');
    if (o.json !== undefined && o.body !== undefined) throw new AlterVaultError('give json or body, not both');
    for (const [k, v] of Object.entries(o.params ?? {})) u.searchParams.append(k, String(v));
    u.hash = '';

    const hs = new Map<string, [string, string]>(); // lower-case name -> (name, value)
    const put = (name: string, value: string) => hs.set(name.toLowerCase(), [name, value]);
    let body: Buffer | undefined;
    if (o.json !== undefined) {
      body = Buffer.from(JSON.stringify(o.json));
      put('Content-Type', 'application/json');
    } else if (o.body instanceof URLSearchParams) {
      body = Buffer.from(o.body.toString());
      put('Content-Type', 'application/x-www-form-urlencoded');
    } else if (o.body !== undefined) {
      body = Buffer.from(o.body);
    }
    for (const [k, v] of Object.entries(o.headers ?? {})) put(k, v);
    for (const [key, value] of Object.entries(o.context ?? {})) {
      const name = (CONTEXT_HEADERS as Record<string, string>)[key];
      if (!name) throw new AlterVaultError(`context key "${key}" is not one of runId, threadId, tool`);
      if (value) put(name, value);
    }
    for (const name of Object.values(CONTEXT_HEADERS)) {
      const h = hs.get(name.toLowerCase());
      const n = h ? Buffer.byteLength(h[1]) : 0;
      // The error names the header, never the value.
      if (n > MAX_CALL_CONTEXT_BYTES) throw new AlterVaultError(`${name} is ${n} bytes, at most ${MAX_CALL_CONTEXT_BYTES}`);
    }
    if (o.reason) put(HEADER_REASON, o.reason);
    if (o.grantId !== null) put(HEADER_GRANT, o.grantId);
    if (respondAsync) put('Prefer', 'respond-async');
    if (this.#auth) put('Proxy-Authorization', this.#auth.header());
    hs.delete('host');
    put('Host', u.host);
    if (body !== undefined || ['POST', 'PUT', 'PATCH'].includes(method)) put('Content-Length', String(body?.length ?? 0));
    return { method, target: u.href, headers: [...hs.values()], body };
  }

  /** @internal Sends p and reads the answer; a refusal rejects typed. */
  send(p: Prepared, timeoutMs?: number): Promise<VaultResponse> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: this.#host, port: this.#port, method: p.method, path: p.target, setHost: false,
        headers: p.headers.flat(), agent: false,
      });
      if (timeoutMs !== undefined) {
        req.setTimeout(Math.max(1, Math.ceil(timeoutMs)), () => req.destroy(new SidecarTimeoutError(`sidecar ${this.proxyUrl} did not answer in time`)));
      }
      req.on('error', (e) => reject(e instanceof AlterVaultError ? e : new SidecarUnreachableError(`sidecar ${this.proxyUrl}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
      req.on('response', (res) => {
        const code = res.headers[HEADER_ERROR.toLowerCase()];
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (!code || size <= MAX_ERROR_BODY) chunks.push(c);
        });
        res.on('error', (e) => reject(e instanceof AlterVaultError ? e : new SidecarUnreachableError(`sidecar ${this.proxyUrl}: ${e.message}`)));
        res.on('end', () => {
          const data = Buffer.concat(chunks);
          if (typeof code === 'string' && code) {
            reject(this.refusal(res, code, data, p));
            return;
          }
          const headers = new Headers();
          for (let i = 0; i < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
          resolve(new VaultResponse(res.statusCode ?? 0, res.statusMessage ?? '', headers, data, p.target));
        });
      });
      req.end(p.body);
    });
  }

  private refusal(res: http.IncomingMessage, code: string, data: Buffer, p: Prepared): ProxyError {
    let body: Record<string, unknown> = {};
    try {
      const v = JSON.parse(data.subarray(0, MAX_ERROR_BODY).toString('utf8'));
      if (v && typeof v === 'object' && !Array.isArray(v)) body = v;
    } catch { /* a malformed body still leaves the header's code */ }
    const str = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : '');
    const ra = res.headers['retry-after'];
    const err = errorFor({
      status: res.statusCode ?? 0, code, message: str('message') || http.STATUS_CODES[res.statusCode ?? 0] || '',
      rule: str('rule'), reason: str('reason'), requestId: String(res.headers[HEADER_REQUEST_ID.toLowerCase()] ?? ''),
      retryAfter: typeof ra === 'string' && /^\d+$/.test(ra.trim()) ? Number(ra) : undefined, body,
    });
    if (err instanceof ApprovalPendingError) err.pending = new PendingApproval(this, p, err.approvalId, err.expiresAt);
    return err;
  }
}

function withHeader(p: Prepared, name: string, value: string, drop: string): Prepared {
  const lower = [name.toLowerCase(), drop];
  return { ...p, headers: [...p.headers.filter(([k]) => !lower.includes(k.toLowerCase())), [name, value]] };
}
