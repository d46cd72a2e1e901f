// The SDK against a stand-in sidecar: what it sends and how it reads
// every kind of answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as sdk from '../dist/index.js';

const GRANT = '6f1c2a7e-3b4d-4c5e-8f90-123456789abc';

async function fake(t, answer) {
  const seen = [];
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method, target: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
      const [status, headers, body] = answer(seen.length);
      res.writeHead(status, headers);
      res.end(body);
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => srv.close());
  return { seen, url: `http://127.0.0.1:${srv.address().port}` };
}

const refuse = (status, code, extra = {}) => () => [status,
  { 'X-Alter-Error': code, 'X-Alter-Request-Id': 'req-1', 'Retry-After': code === 'rate_limited' ? '7' : '' },
  JSON.stringify({ error: code, message: 'why it failed', ...extra })];

test('absolute form and headers', async (t) => {
  const f = await fake(t, () => [200, { 'content-type': 'application/json' }, '{"ok":true}']);
  const v = new sdk.Vault({ proxy: f.url });
  const resp = await v.request({ method: 'POST', url: 'https://api.example.test/v1/things?a=1', grantId: GRANT,
    json: { n: 1 }, params: { b: '2 3' }, headers: { 'x-alter-grant': 'other' }, reason: 'nightly sync',
    context: { runId: 'run-1', tool: 'search' } });
  assert.deepEqual([resp.status, resp.json(), resp.ok], [200, { ok: true }, true]);
  const s = f.seen[0];
  assert.equal(s.target, 'https://api.example.test/v1/things?a=1&b=2+3');
  assert.equal(s.headers.host, 'api.example.test');
  assert.equal(s.headers['x-alter-grant'], GRANT);
  assert.equal(s.headers['x-alter-reason'], 'nightly sync');
  assert.deepEqual([s.headers['x-alter-run-id'], s.headers['x-alter-tool'], s.headers['x-alter-thread-id']], ['run-1', 'search', undefined]);
  assert.equal(s.body, '{"n":1}');
  assert.equal(s.headers['proxy-authorization'], undefined);
});

test('refused before sending', async (t) => {
  const f = await fake(t, () => [200, {}, '']);
  const v = new sdk.Vault({ proxy: f.url });
  const long = 'x'.repeat(129);
  for (const [name, opts, want] of [
    ['context over the limit', { url: 'https://a.test/', grantId: GRANT, context: { tool: long } }, 'X-Alter-Tool is 129 bytes, at most 128'],
    ['context header over the limit', { url: 'https://a.test/', grantId: GRANT, headers: { 'x-alter-run-id': long } }, 'X-Alter-Run-Id is 129'],
    ['missing grant', { url: 'https://a.test/' }, 'grant id is required'],
    ['ftp', { url: 'ftp://a.test/', grantId: GRANT }, 'only http:// and https://'],
    ['user info', { url: 'https://u:p@a.test/', grantId: GRANT }, 'user information'],
    ['json and body', { url: 'https://a.test/', grantId: GRANT, json: 1, body: 'x' }, 'not both'],
  ]) {
    await assert.rejects(v.request(opts), (e) => e instanceof sdk.AlterVaultError && e.message.includes(want) && !e.message.includes(long), name);
  }
  assert.equal(f.seen.length, 0);
});

test('every code is typed', async (t) => {
  for (const [code, cls] of [...Object.entries(sdk.ERROR_TYPES), ['some_future_code', sdk.ProxyError]]) {
    const extra = code === 'policy_denied' ? { rule: 'method' } : code.startsWith('upstream') ? { reason: 'dns' }
      : code.startsWith('approval') ? { approval_id: 'a-1', expires_at: '2030-01-01T00:00:00Z', note: 'no' } : {};
    const f = await fake(t, refuse(403, code, extra));
    const err = await new sdk.Vault({ proxy: f.url }).request({ url: 'https://api.example.test/', grantId: GRANT }).then(() => null, (e) => e);
    assert.equal(err?.constructor, cls, code);
    assert.deepEqual([err.status, err.code, err.detail, err.requestId, err.rule, err.reason],
      [403, code, 'why it failed', 'req-1', extra.rule ?? '', extra.reason ?? ''], code);
    assert.ok(err.message.includes(code) && !err.message.includes(GRANT));
    if (code === 'rate_limited') assert.equal(err.retryAfter, 7);
    if (code.startsWith('upstream')) assert.equal(err.timeout, code === 'upstream_timeout');
    if (code === 'approval_pending') assert.ok(err.pending instanceof sdk.PendingApproval && err.approvalId === 'a-1');
    if (code === 'approval_denied') assert.deepEqual([err.approvalId, err.note], ['a-1', 'no']);
  }
});

test('upstream status is a response', async (t) => {
  const body = '{"error":"upstream_error","message":"the API\'s own words"}';
  for (const status of [401, 403, 404, 500, 502, 503]) {
    const f = await fake(t, () => [status, {}, body]);
    const resp = await new sdk.Vault({ proxy: f.url }).request({ url: 'https://api.example.test/', grantId: GRANT });
    assert.deepEqual([resp.status, resp.text(), resp.ok], [status, body, false]);
  }
});

test('awaitApproval names the approval and follows a new one', async (t) => {
  const answers = [refuse(202, 'approval_pending', { approval_id: 'a-1', expires_at: '2030-01-01T00:00:00Z' }),
    refuse(403, 'approval_pending', { approval_id: 'a-2', expires_at: '2030-01-01T00:00:00Z' }), () => [201, {}, 'done']];
  const f = await fake(t, (n) => answers[n - 1]());
  const p = await new sdk.Vault({ proxy: f.url }).proxyRequest({ method: 'POST', url: 'https://api.example.test/x', grantId: GRANT, json: { a: 1 } });
  assert.ok(p instanceof sdk.PendingApproval);
  const resp = await p.awaitApproval({ timeoutMs: 30000 });
  assert.deepEqual([resp.status, resp.text(), p.approvalId], [201, 'done', 'a-2']);
  assert.deepEqual(f.seen.map((s) => s.headers['x-alter-approval']), [undefined, 'a-1', 'a-2']);
  assert.deepEqual(f.seen.map((s) => s.headers.prefer), ['respond-async', undefined, undefined]);
  assert.deepEqual(new Set(f.seen.map((s) => s.body)), new Set(['{"a":1}']));
});

test('proxy auth', async (t) => {
  for (const [name, mk, want] of [
    ['basic', (u) => new sdk.Vault({ proxy: u, proxyAuth: sdk.ProxyAuth.basic('app', 's3cret') }), 'Basic YXBwOnMzY3JldA=='],
    ['bearer', (u) => new sdk.Vault({ proxy: u, proxyAuth: sdk.ProxyAuth.bearer('tok') }), 'Bearer tok'],
    ['from the address', (u) => new sdk.Vault({ proxy: u.replace('http://', 'http://app:s3cret@') }), 'Basic YXBwOnMzY3JldA=='],
  ]) {
    const f = await fake(t, () => [200, {}, '']);
    const v = mk(f.url);
    await v.request({ url: 'https://a.test/', grantId: GRANT });
    assert.equal(f.seen[0].headers['proxy-authorization'], want, name);
    assert.ok(!String(v).includes('s3cret') && !v.proxyUrl.includes('s3cret'));
  }
  assert.ok(!String(sdk.ProxyAuth.basic('a', 's3cret')).includes('s3cret') && !JSON.stringify(sdk.ProxyAuth.basic('a', 's3cret')).includes('s3cret'));
});

test('sidecar address and down', async () => {
  assert.throws(() => new sdk.Vault({ proxy: 'https://127.0.0.1:1' }), /must be http:\/\/host:port/);
  assert.throws(() => new sdk.Vault({ proxy: 'http://u:pw@127.0.0.1:1/x' }), (e) => !e.message.includes('pw'));
  const err = await new sdk.Vault({ proxy: 'http://127.0.0.1:1' }).request({ url: 'https://a.test/', grantId: GRANT }).then(() => null, (e) => e);
  assert.ok(err instanceof sdk.SidecarUnreachableError && err.message.includes('127.0.0.1:1') && !(err instanceof sdk.ProxyError));
});
