'use strict';
// The JWKS endpoint (a server in this test) goes away, misbehaves and comes
// back, under the real binary: tokens of known key ids keep working
// throughout, a new key id is refused while the endpoint is unreachable and
// accepted once it serves the new key, readiness never flips, and nothing
// crashes or hangs. KVSGATE_JWKS_MIN_REFETCH_S=1 lets an unknown kid trigger a
// fetch every second at most.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate } = require('../lib/kvsgate');
const { mint, keyPair, exportJWK } = require('../lib/tokens');
const hostile = require('../hostile/helpers');
const sanitizers = require('../lib/sanitizers');

const { request, exchange } = hostile;
let emu, gate, server, port, keys = {}, jwk = {};
let mode = 'ok';
let served = ['k1'];
let fetches = 0;
const sockets = new Set();

function handler(req, res) {
  fetches++;
  if (mode === '500') { res.statusCode = 500; return res.end('oops'); }
  if (mode === 'garbage') { res.setHeader('content-type', 'application/json'); return res.end('{"keys": [ not json'); }
  if (mode === 'empty') { res.setHeader('content-type', 'application/json'); return res.end('{"keys": []}'); }
  if (mode === 'huge') { res.setHeader('content-type', 'application/json'); return res.end(`{"keys":[],"pad":"${'x'.repeat(600 * 1024)}"}`); }
  if (mode === 'bomb') { res.setHeader('content-type', 'application/json'); return res.end(`{"keys":${'['.repeat(5000)}`); }
  if (mode === 'hs') { res.setHeader('content-type', 'application/json'); return res.end(JSON.stringify({ keys: [{ kty: 'oct', kid: 'k2', k: 'c2VjcmV0', alg: 'HS256' }] })); }
  if (mode === 'stall') return; // never answers
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ keys: served.map((k) => jwk[k]) }));
}

async function listen(p = 0) {
  server = http.createServer(handler);
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((r) => server.listen(p, '127.0.0.1', r));
  port = server.address().port;
}

async function goAway() {
  await new Promise((r) => { server.close(r); for (const s of sockets) s.destroy(); });
}

before(async () => {
  for (const k of ['k1', 'k2']) {
    keys[k] = await keyPair('RS256');
    jwk[k] = { ...(await exportJWK(keys[k].publicKey)), kid: k, alg: 'RS256', use: 'sig' };
  }
  await listen();
  emu = await startEmulator();
  gate = await startKvsgate({
    emulator: emu,
    env: {
      KVSGATE_JWT_HS256_SECRET: undefined,
      KVSGATE_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      KVSGATE_JWT_ANY_ISSUER: 'true',
      KVSGATE_JWKS_MIN_REFETCH_S: '1',
      KVSGATE_JWKS_REFRESH_S: '10',
      KVSGATE_RATE_LIMIT_RPS: '0',
    },
  });
});

after(async () => {
  if (gate) await gate.stop();
  if (emu) await emu.stop();
  if (server) await goAway();
});

const token = (kid) => mint({ sub: `user-${kid}`, kvs: { manage: ['*'] } }, { alg: 'RS256', key: keys[kid].privateKey, kid });
async function status(kid) {
  const r = await exchange(gate.port, request('GET', '/v1/channels?limit=1', { Authorization: `Bearer ${await token(kid)}` }));
  return r.res.status;
}
async function readyz() { return (await exchange(gate.port, request('GET', '/readyz'))).res.status; }
async function eventually(what, fn, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs * sanitizers.slow();
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

test('known keys work; the endpoint goes away; known keys keep working, new ones wait', async () => {
  assert.equal(await status('k1'), 200);
  assert.equal(await readyz(), 200);
  await goAway();
  for (let i = 0; i < 20; i++) assert.equal(await status('k1'), 200);
  // k2 is unknown and the endpoint is gone: refused, repeatedly, quickly.
  for (let i = 0; i < 5; i++) {
    const t0 = Date.now();
    assert.equal(await status('k2'), 401);
    assert.ok(Date.now() - t0 < 2000 * sanitizers.slow(), 'an unknown kid never waits for the fetch');
    await new Promise((r) => setTimeout(r, 400));
  }
  assert.equal(await readyz(), 200, 'keys already loaded stay loaded');
  assert.ok(gate.logs.some((l) => /jwks/.test(l.event || '') && l.level !== 'info'), 'failed fetches are logged');
});

test('the endpoint misbehaves (500, garbage, empty, huge, nesting bomb, an HMAC key, stall): old keys stay', async () => {
  await listen(port);
  served = ['k1', 'k2'];
  for (const m of ['500', 'garbage', 'empty', 'huge', 'bomb', 'hs', 'stall']) {
    mode = m;
    const before = fetches;
    // An unknown kid asks for a fetch (at most one a second).
    await eventually(`a fetch in mode ${m}`, async () => { await status('k2'); return fetches > before; });
    await new Promise((r) => setTimeout(r, m === 'stall' ? 1500 : 300));
    assert.equal(await status('k1'), 200, `k1 in mode ${m}`);
    assert.equal(await status('k2'), 401, `k2 in mode ${m}`);
    assert.equal(await readyz(), 200);
  }
});

test('the endpoint comes back with the new key: it is accepted, the old one too', async () => {
  mode = 'ok';
  served = ['k1', 'k2'];
  await eventually('k2 accepted', async () => (await status('k2')) === 200, 15000);
  assert.equal(await status('k1'), 200);
});

test('a rotated-out key stops working after the periodic refresh', async () => {
  served = ['k2'];
  await eventually('k1 refused', async () => (await status('k1')) === 401, 25000);
  assert.equal(await status('k2'), 200);
  assert.equal(await readyz(), 200);
  assert.equal(gate.process.exitCode, null);
});
