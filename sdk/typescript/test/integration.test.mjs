// The SDK against the real sidecar that test/sdks starts (go test
// ./test/sdks): its refusals, and approvals decided from the CLI while
// awaitApproval waits. Skipped without that sidecar.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as sdk from '../dist/index.js';

const E = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('ALTER_SDK_TEST_')).map(([k, v]) => [k.slice(15), v]));
const skip = Object.keys(E).length === 0 && 'needs the sidecar of go test ./test/sdks';
const vault = () => new sdk.Vault({ proxyAuth: sdk.ProxyAuth.basic(E.CLIENT, E.CLIENT_SECRET) });
const alter = (...args) => execFileSync(E.ALTER, ['--home', E.HOME, ...args], { encoding: 'utf8' });
const rejected = (p) => p.then(() => assert.fail('resolved'), (e) => e);

test('integration: request and the API\'s own status', { skip }, async () => {
  const resp = await vault().request({ url: E.URL + '/v1/things', grantId: E.GRANT, params: { q: 'a b' }, reason: 'sdk test', context: { runId: 'r', tool: 't' } });
  const body = resp.json();
  assert.deepEqual([resp.status, body.path, body.query, body.authorized, body.leaked], [200, '/v1/things', 'q=a+b', true, {}]);
  const missing = await vault().request({ method: 'POST', url: E.URL + '/missing', grantId: E.GRANT, json: { a: 1 } });
  assert.deepEqual([missing.status, missing.json().body], [404, '{"a":1}']);
});

test('integration: refusals', { skip }, async () => {
  const v = vault();
  for (const [code, p, cls, check] of [
    ['policy_denied', () => v.request({ method: 'DELETE', url: E.URL, grantId: E.GRANT }), sdk.PolicyDeniedError, (e) => e.rule === 'method'],
    ['grant_unavailable', () => v.request({ url: E.URL, grantId: randomUUID() }), sdk.GrantUnavailableError],
    ['proxy_auth_required', () => new sdk.Vault().request({ url: E.URL, grantId: E.GRANT }), sdk.ProxyAuthRequiredError, (e) => e.status === 407],
    ['upstream_error', () => v.request({ url: 'https://down.example.test/', grantId: E.GRANT_DOWN }), sdk.UpstreamError, (e) => e.reason === 'connection_refused' && !e.timeout],
    ['upstream_timeout', () => v.request({ url: E.URL + '/slow', grantId: E.GRANT }), sdk.UpstreamTimeoutError, (e) => e.timeout],
    ['bad_request', () => v.request({ method: 'POST', url: E.URL, grantId: E.GRANT_APPROVAL, headers: { 'X-Alter-Approval': 'nope' } }), sdk.BadRequestError],
    ['request_too_large', () => v.request({ method: 'POST', url: E.URL, grantId: E.GRANT_APPROVAL, body: 'x'.repeat(2048) }), sdk.RequestTooLargeError],
  ]) {
    const e = await rejected(p());
    assert.ok(e instanceof cls && e.code === code && (!check || check(e)), `${code}: ${e}`);
  }
  await v.request({ url: E.URL, grantId: E.GRANT_RATE });
  const rl = await rejected(v.request({ url: E.URL, grantId: E.GRANT_RATE }));
  assert.ok(rl instanceof sdk.RateLimitedError && rl.retryAfter > 0, String(rl));
});

test('integration: pending after the hold, then a timeout', { skip }, async () => {
  const e = await rejected(vault().request({ method: 'POST', url: E.URL + '/held', grantId: E.GRANT_APPROVAL, json: { n: randomUUID() } }));
  assert.ok(e instanceof sdk.ApprovalPendingError && e.status === 403 && e.approvalId, String(e));
  const t = await rejected(e.pending.awaitApproval({ timeoutMs: 300 }));
  assert.ok(t instanceof sdk.ApprovalTimeoutError && t.approvalId === e.approvalId, String(t));
});

async function decideWhenListed(id, ...decision) {
  while (!alter('approvals', 'list', '--json').includes(id)) { /* the CLI reads the store each time */ }
  alter('approvals', ...decision);
}

test('integration: approved from the CLI while awaitApproval waits', { skip }, async () => {
  const order = { refund: randomUUID() };
  const p = await vault().proxyRequest({ method: 'POST', url: E.URL + '/v1/refunds', grantId: E.GRANT_APPROVAL, json: order });
  assert.ok(p instanceof sdk.PendingApproval);
  const waiting = p.awaitApproval({ timeoutMs: 60000 });
  await decideWhenListed(p.approvalId, 'approve', p.approvalId);
  const resp = await waiting;
  assert.deepEqual([resp.status, resp.json().body], [200, JSON.stringify(order)]);
});

test('integration: denied from the CLI', { skip }, async () => {
  const p = await vault().proxyRequest({ method: 'POST', url: E.URL + '/v1/x', grantId: E.GRANT_APPROVAL, json: { n: randomUUID() } });
  const waiting = rejected(p.awaitApproval({ timeoutMs: 60000 }));
  await decideWhenListed(p.approvalId, 'deny', p.approvalId, '--note', 'not today');
  const e = await waiting;
  assert.ok(e instanceof sdk.ApprovalDeniedError && e.note === 'not today' && e.approvalId === p.approvalId, String(e));
});
