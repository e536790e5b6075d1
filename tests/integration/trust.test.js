'use strict';
// Issue 13 through the real binary: valid tokens with hostile claims, the
// subject rules, the owner policy, the issuer requirement, the JWKS URL rule,
// the token-lifetime cap and the per-address budget of refused tokens.
// Tokens are minted with jose (tests/lib/tokens.js), never with kvsgate's code.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate } = require('../lib/kvsgate');
const { client } = require('../lib/client');
const { mint, b64url } = require('../lib/tokens');

const LINE_MAX = 4096; // KG_LOG_LINE_MAX, with the newline

let emu, gate, api;

before(async () => {
  emu = await startEmulator();
  gate = await startKvsgate({
    emulator: emu,
    env: { KVSGATE_RATE_LIMIT_RPS: '0', KVSGATE_JWT_MAX_LIFETIME_S: '3600' },
  });
  api = client(gate.url);
  const admin = await mint({ sub: 'admin', kvs: { manage: ['*'] } });
  assert.equal((await api.put('/v1/channels/cam-1', { token: admin })).status, 201);
});

after(async () => {
  if (gate) await gate.stop();
  if (emu) await emu.stop();
});

async function alive(g = gate) {
  const r = await fetch(`${g.url}/healthz`);
  assert.equal(r.status, 200);
  assert.equal(g.process.exitCode, null, 'kvsgate exited');
}

// Every line kvsgate wrote is one JSON object within the documented bound.
function logsWellFormed(g = gate) {
  for (const line of g.stderr().split('\n').filter(Boolean)) {
    assert.ok(Buffer.byteLength(line) + 1 <= LINE_MAX, `a log line of ${Buffer.byteLength(line)} bytes`);
    assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line.slice(0, 200)}`);
  }
}

test('the crash of issue 13: a sub of 700 U+0001 is refused and the daemon lives', async () => {
  const t = await mint({ sub: '\u0001'.repeat(700), kvs: { viewer: ['*'] } });
  const r = await api.get('/v1/channels/cam-1/viewer', { token: t });
  assert.equal(r.status, 401);
  assert.equal(r.json.code, 'unauthenticated');
  assert.equal(r.json.detail, 'bad subject');
  await alive();
  logsWellFormed();
});

test('subjects with control characters or past 1024 bytes are refused; the rest are served', async () => {
  for (const sub of ['a\u0000b', 'a\nb', 'a\u001fb', 'a\u007fb', 'a\u0085b', 'a\u009fb', 'x'.repeat(1025), '']) {
    const t = await mint({ sub, kvs: { viewer: ['*'] } });
    const r = await api.get('/v1/channels/cam-1/viewer', { token: t });
    assert.equal(r.status, 401, JSON.stringify(sub.slice(0, 8)));
    assert.ok(['bad subject', 'malformed token'].includes(r.json.detail), r.json.detail);
  }
  // Valid but hostile: quotes, backslashes, braces, stars and dots at the cap,
  // non-ASCII text; each is served, its log line stays bounded JSON.
  for (const sub of ['"'.repeat(1024), '\\'.repeat(1024), '{sub}*.'.repeat(146), '*', '.', '}{',
    '\u00e9'.repeat(512), '\u{1F600}'.repeat(256), 'a\u00a0b']) {
    const t = await mint({ sub, kvs: { viewer: ['*'] } });
    const r = await api.get('/v1/channels/cam-1/viewer', { token: t });
    assert.equal(r.status, 200, `${JSON.stringify(sub.slice(0, 8))}: ${r.text}`);
    assert.match(r.json.clientId, /^_[0-9a-f]{40}$/, 'hashed: not its own id');
    const line = await gate.waitForLog((l) => l.event === 'access' && l.subject === sub);
    assert.equal(line.client_gone, undefined);
  }
  // A JSON lone surrogate is not text: the token is malformed, not crashed on.
  const header = b64url(JSON.stringify({ alg: 'HS256' }));
  const payload = Buffer.from(`{"sub":"\\ud800","exp":${Math.floor(Date.now() / 1000) + 60},"kvs":{}}`).toString('base64url');
  const crypto = require('node:crypto');
  const { DEV_SECRET } = require('../lib/kvsgate');
  const sig = crypto.createHmac('sha256', DEV_SECRET).update(`${header}.${payload}`).digest('base64url');
  const r = await api.get('/v1/channels/cam-1/viewer', { token: `${header}.${payload}.${sig}` });
  assert.equal(r.status, 401);
  await alive();
  logsWellFormed();
});

test('{sub} grants: bob never reaches bob-smith, and the unclosed form grants nothing', async () => {
  const bob = await mint({ sub: 'bob', kvs: { manage: ['user-{sub}.*'], viewer: ['user-{sub}.*'] } });
  const smith = await mint({ sub: 'bob-smith', kvs: { manage: ['user-{sub}.*'] } });
  assert.equal((await api.put('/v1/channels/user-bob-smith.cam1', { token: smith })).status, 201);
  assert.equal((await api.put('/v1/channels/user-bob.cam1', { token: bob })).status, 201);
  for (const [method, path] of [['GET', '/v1/channels/user-bob-smith.cam1'],
    ['DELETE', '/v1/channels/user-bob-smith.cam1'], ['PUT', '/v1/channels/user-bob-smith.cam1'],
    ['GET', '/v1/channels/user-bob-smith.cam1/viewer']]) {
    const r = await api.request(method, path, { token: bob });
    assert.equal(r.status, 403, `${method} ${path}: ${r.text}`);
  }
  const list = await api.get('/v1/channels?prefix=user-bob', { token: bob });
  assert.deepEqual(list.json.channels.map((c) => c.name), ['user-bob.cam1']);
  const unclosed = await mint({ sub: 'bob', kvs: { manage: ['user-{sub}-*', 'user-{sub}*'] } });
  assert.equal((await api.get('/v1/channels/user-bob-smith.cam1', { token: unclosed })).status, 403);
  assert.equal((await api.get('/v1/channels/user-bob.cam1', { token: unclosed })).status, 403);
});

test('owner policy (default owner): only the creator or manageAny / kvs:admin deletes or re-creates', async () => {
  const alice = await mint({ sub: 'alice', kvs: { manage: ['own-*'] } });
  const bob = await mint({ sub: 'bob', kvs: { manage: ['*'] } });
  const carol = await mint({ sub: 'carol#1 (not tag-safe)', kvs: { manage: ['own-*'] } });
  assert.equal((await api.put('/v1/channels/own-1', { token: alice })).status, 201);
  const put = await api.put('/v1/channels/own-1', { token: bob });
  assert.equal(put.status, 403);
  assert.equal(put.json.code, 'forbidden');
  assert.match(put.json.detail, /belongs to another subject/);
  assert.equal((await api.del('/v1/channels/own-1', { token: bob })).status, 403);
  assert.equal((await api.get('/v1/channels/own-1', { token: bob })).status, 200, 'describe is not the owner\'s');
  assert.equal((await api.put('/v1/channels/own-1', { token: alice })).status, 200);
  // A sub KVS cannot take as a tag value is hashed, and still owns its channels.
  assert.equal((await api.put('/v1/channels/own-2', { token: carol })).status, 201);
  assert.equal((await api.del('/v1/channels/own-2', { token: alice })).status, 403);
  // A sub crafted as carol's hashed owner value is hashed itself: not carol.
  const carolHash = '_' + require('node:crypto').createHash('sha256').update('carol#1 (not tag-safe)').digest('hex').slice(0, 40);
  const crafted = await mint({ sub: carolHash, kvs: { manage: ['own-*'] } });
  assert.equal((await api.del('/v1/channels/own-2', { token: crafted })).status, 403);
  assert.equal((await api.put('/v1/channels/own-2', { token: crafted })).status, 403);
  assert.equal((await api.del('/v1/channels/own-2', { token: carol })).status, 204);
  assert.equal((await api.put('/v1/channels/own-3', { token: crafted })).status, 201);
  // The grants that say so.
  const any = await mint({ sub: 'ops', kvs: { manage: ['own-*'], manageAny: true } });
  const admin = await mint({ sub: 'ops2', scope: 'openid kvs:manage:own-* kvs:admin' });
  assert.equal((await api.put('/v1/channels/own-1', { token: any })).status, 200);
  assert.equal((await api.del('/v1/channels/own-3', { token: admin })).status, 204);
  assert.equal((await api.del('/v1/channels/own-1', { token: any })).status, 204);
  const wrongType = await mint({ sub: 'ops', kvs: { manage: ['own-*'], manageAny: 'yes' } });
  assert.equal((await api.get('/v1/channels/cam-1', { token: wrongType })).status, 401);
});

test('owner policy any: a manage grant is enough', async () => {
  const g = await startKvsgate({ emulator: emu, env: { KVSGATE_OWNER_POLICY: 'any', KVSGATE_RATE_LIMIT_RPS: '0' } });
  try {
    const c = client(g.url);
    const alice = await mint({ sub: 'alice', kvs: { manage: ['any-*'] } });
    const bob = await mint({ sub: 'bob', kvs: { manage: ['any-*'] } });
    assert.equal((await c.put('/v1/channels/any-1', { token: alice })).status, 201);
    assert.equal((await c.put('/v1/channels/any-1', { token: bob })).status, 200);
    assert.equal((await c.del('/v1/channels/any-1', { token: bob })).status, 204);
  } finally {
    await g.stop();
  }
});

test('KVSGATE_JWT_MAX_LIFETIME_S refuses tokens that live longer', async () => {
  const long = await mint({ sub: 'alice', kvs: { viewer: ['*'] } }, { ttl: 7200 });
  const r = await api.get('/v1/channels/cam-1/viewer', { token: long });
  assert.equal(r.status, 401);
  assert.equal(r.json.detail, 'token lifetime too long');
  const short = await mint({ sub: 'alice', kvs: { viewer: ['*'] } }, { ttl: 3000 });
  assert.equal((await api.get('/v1/channels/cam-1/viewer', { token: short })).status, 200);
  // Issued for longer than the cap, even when little of it is left.
  const now = Math.floor(Date.now() / 1000);
  const old = await mint({ sub: 'alice', iat: now - 86400, kvs: { viewer: ['*'] } }, { ttl: 300 });
  const o = await api.get('/v1/channels/cam-1/viewer', { token: old });
  assert.equal(o.status, 401);
  assert.equal(o.json.detail, 'token lifetime too long');
});

async function startFails(env) {
  const r = await startKvsgate({ emulator: emu, env, expectExit: true });
  assert.equal(r.code, 2, r.stderr());
  return r.stderr();
}

test('a JWKS URL needs KVSGATE_JWT_ISSUER, or the explicit opt-out with a warning', async () => {
  const jwks = { KVSGATE_JWT_HS256_SECRET: undefined, KVSGATE_JWKS_URL: 'http://127.0.0.1:9/jwks.json' };
  assert.match(await startFails(jwks), /^KVSGATE_JWT_ISSUER: required with KVSGATE_JWKS_URL/m);
  const g = await startKvsgate({ emulator: emu, env: { ...jwks, KVSGATE_JWT_ANY_ISSUER: 'true' } });
  try {
    await g.waitForLog((l) => l.event === 'jwt_issuer_unchecked' && l.level === 'warn');
    await g.waitForLog((l) => l.event === 'jwt_audience_unchecked' && l.level === 'warn');
  } finally {
    await g.stop();
  }
  const checked = await startKvsgate({ emulator: emu, env: { ...jwks, KVSGATE_JWT_ISSUER: 'https://idp.test/', KVSGATE_JWT_AUDIENCE: 'kvsgate' } });
  try {
    assert.ok(!checked.logs.some((l) => /unchecked$/.test(l.event || '')), 'no warning with both set');
  } finally {
    await checked.stop();
  }
});

test('KVSGATE_JWKS_URL goes through the URL parser: no userinfo, http only to loopback', async () => {
  const base = { KVSGATE_JWT_HS256_SECRET: undefined, KVSGATE_JWT_ISSUER: 'https://idp.test/' };
  for (const url of ['http://127.0.0.1:x@idp.example/jwks', 'https://user@idp.example.com/jwks',
    'http://idp.example.com/jwks', 'http://127.0.0.1.idp.example/jwks', 'https://idp.example.com/a b']) {
    assert.match(await startFails({ ...base, KVSGATE_JWKS_URL: url }), /^KVSGATE_JWKS_URL: /m, url);
  }
});

test('past its budget of refused tokens, an address gets 429 and only tokens already verified', async () => {
  const g = await startKvsgate({
    emulator: emu,
    env: { KVSGATE_RATE_LIMIT_RPS: '0', KVSGATE_AUTH_FAILURE_RPS: '1', KVSGATE_AUTH_FAILURE_BURST: '3' },
  });
  try {
    const c = client(g.url);
    const known = await mint({ sub: 'alice', kvs: { viewer: ['*'] } });
    assert.equal((await c.get('/v1/channels/cam-1/viewer', { token: known })).status, 200);
    // No token at all costs nothing; every refused token does, forged or expired.
    for (let i = 0; i < 5; i++) assert.equal((await c.get('/v1/channels/cam-1/viewer', { token: '' })).status, 401);
    const expired = await mint({ sub: 'e', kvs: {} }, { ttl: -3600 });
    assert.equal((await c.get('/v1/channels/cam-1/viewer', { token: expired })).status, 401);
    const forged = (i) => known.slice(0, known.lastIndexOf('.') + 1) + b64url(Buffer.alloc(32, i));
    for (let i = 0; i < 2; i++) {
      const r = await c.get('/v1/channels/cam-1/viewer', { token: forged(i) });
      assert.equal(r.status, 401, r.text);
      assert.equal(r.json.detail, 'bad signature');
    }
    const over = await c.get('/v1/channels/cam-1/viewer', { token: forged(9) });
    assert.equal(over.status, 429, over.text);
    assert.equal(over.json.code, 'rate_limited');
    assert.ok(Number(over.headers.get('retry-after')) >= 1);
    const fresh = await mint({ sub: 'bob', kvs: { viewer: ['*'] } });
    assert.equal((await c.get('/v1/channels/cam-1/viewer', { token: fresh })).status, 429, 'not verified');
    assert.equal((await c.get('/v1/channels/cam-1/viewer', { token: known })).status, 200, 'already verified');
    const metrics = await (await fetch(`${g.url}/metrics`)).text();
    assert.match(metrics, /^kvsgate_auth_failures_total 3$/m);
    assert.match(metrics, /^kvsgate_auth_failure_limited_total 2$/m);
    // The budget refills at its rate.
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await c.get('/v1/channels/cam-1/viewer', { token: fresh })).status, 200);
  } finally {
    await g.stop();
  }
});

test('behind trusted proxies the budget and the access log use X-Forwarded-For; IPv6 per /64', async () => {
  const env = { KVSGATE_RATE_LIMIT_RPS: '0', KVSGATE_AUTH_FAILURE_RPS: '1', KVSGATE_AUTH_FAILURE_BURST: '1' };
  const g = await startKvsgate({ emulator: emu, env: { ...env, KVSGATE_TRUSTED_PROXIES: '127.0.0.0/8, 10.0.0.0/8' } });
  const bad = 'x.y.z';
  const from = (c, xff) => c.get('/v1/channels/cam-1/viewer', { token: bad, headers: { 'x-forwarded-for': xff } });
  try {
    const c = client(g.url);
    assert.equal((await from(c, '203.0.113.7')).status, 401);
    assert.equal((await from(c, '203.0.113.7')).status, 429, 'its own budget is spent');
    assert.equal((await from(c, '203.0.113.8')).status, 401, 'another address has its own');
    // The client's own entries count for nothing: the rightmost untrusted hop is the client.
    assert.equal((await from(c, '198.51.100.1, 203.0.113.7')).status, 429);
    assert.equal((await from(c, '203.0.113.7, 10.1.2.3')).status, 429, 'a trusted hop passes us on');
    assert.equal((await from(c, '2001:db8::1')).status, 401);
    assert.equal((await from(c, '2001:db8::2')).status, 429, 'the same /64');
    assert.equal((await from(c, '2001:db8:0:1::1')).status, 401, 'another /64');
    const line = await g.waitForLog((l) => l.event === 'access' && l.client_ip === '203.0.113.8');
    assert.equal(line.status, 401);
  } finally {
    await g.stop();
  }
  // Without the setting, X-Forwarded-For is the caller's word and means nothing.
  const plain = await startKvsgate({ emulator: emu, env });
  try {
    const c = client(plain.url);
    assert.equal((await from(c, '203.0.113.7')).status, 401);
    assert.equal((await from(c, '203.0.113.8')).status, 429, 'one peer, one budget');
    const line = await plain.waitForLog((l) => l.event === 'access' && l.status === 429);
    assert.equal(line.client_ip, '127.0.0.1');
  } finally {
    await plain.stop();
  }
});
