'use strict';
// Authentication and authorization through the real binary, with tokens minted
// by an independent library (jose): every algorithm from a secret, PEM files
// and a JWKS served here with key rotation, and every way a token can be bad.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate, DEV_SECRET } = require('../lib/kvsgate');
const { client } = require('../lib/client');
const { mint, keyPair, unsigned, hmacToken, exportJWK, exportSPKI } = require('../lib/tokens');

const ISS = 'https://issuer.test/';
const AUD = 'kvsgate-test';
const CH = 'cam-auth-1';
const grants = { manage: ['cam-auth-*'], master: ['cam-auth-*'], viewer: ['cam-auth-*'] };

let emu, gate, api, dir, jwksServer, jwks, keys = {};

function claims(extra = {}) {
  return { sub: 'alice', iss: ISS, aud: AUD, kvs: grants, ...extra };
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsgate-auth-'));
  for (const alg of ['RS256', 'PS256', 'ES256', 'ES384', 'J1', 'J2']) {
    const real = alg.startsWith('J') ? 'ES256' : alg;
    keys[alg] = await keyPair(real);
  }
  // PEM files: one RSA (RS256/384/512 and PS256 share an RSA key), P-256 and P-384.
  const pems = [];
  for (const alg of ['RS256', 'ES256', 'ES384']) {
    const f = path.join(dir, `${alg}.pem`);
    fs.writeFileSync(f, await exportSPKI(keys[alg].publicKey));
    pems.push(f);
  }
  const psFile = path.join(dir, 'PS256.pem');
  fs.writeFileSync(psFile, await exportSPKI(keys.PS256.publicKey));
  pems.push(psFile);
  jwks = { keys: [{ ...(await exportJWK(keys.J1.publicKey)), kid: 'j1', alg: 'ES256', use: 'sig' }] };
  jwksServer = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(jwks));
  });
  await new Promise((r) => jwksServer.listen(0, '127.0.0.1', r));
  emu = await startEmulator();
  gate = await startKvsgate({
    emulator: emu,
    env: {
      KVSGATE_JWT_PUBLIC_KEY_FILE: pems.join(','),
      KVSGATE_JWKS_URL: `http://127.0.0.1:${jwksServer.address().port}/jwks.json`,
      KVSGATE_JWKS_MIN_REFETCH_S: '1',
      KVSGATE_JWT_ISSUER: ISS,
      KVSGATE_JWT_AUDIENCE: AUD,
      KVSGATE_MAX_BODY_BYTES: '1024',
      KVSGATE_CORS_ORIGINS: 'https://app.example',
    },
  });
  api = client(gate.url);
  const adminTok = await mint(claims());
  const r = await api.put(`/v1/channels/${CH}`, { token: adminTok });
  assert.equal(r.status, 201, r.text);
});

after(async () => {
  if (gate) await gate.stop();
  if (emu) await emu.stop();
  if (jwksServer) jwksServer.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function expectOk(token) {
  const r = await api.get(`/v1/channels/${CH}`, { token });
  assert.equal(r.status, 200, r.text);
  return r;
}

async function expect401(token, reason) {
  const r = await api.get(`/v1/channels/${CH}`, { token });
  assert.equal(r.status, 401, r.text);
  assert.equal(r.json.code, 'unauthenticated');
  assert.match(r.headers.get('www-authenticate'), /^Bearer realm="kvsgate"/);
  if (reason) assert.match(r.json.detail, reason);
  return r;
}

for (const alg of ['HS256', 'RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384']) {
  test(`a ${alg} token minted by jose is accepted`, async () => {
    let key;
    if (alg === 'HS256') key = new TextEncoder().encode(DEV_SECRET);
    else if (alg.startsWith('RS')) key = keys.RS256.privateKey;
    else key = keys[alg].privateKey;
    await expectOk(await mint(claims(), { alg, key }));
  });
}

test('a token from the JWKS (kid j1) is accepted', async () => {
  await expectOk(await mint(claims(), { alg: 'ES256', key: keys.J1.privateKey, kid: 'j1' }));
});

test('JWKS rotation: a new kid is fetched on demand, the dropped key stops working', async () => {
  jwks = { keys: [{ ...(await exportJWK(keys.J2.publicKey)), kid: 'j2', alg: 'ES256', use: 'sig' }] };
  const t2 = await mint(claims(), { alg: 'ES256', key: keys.J2.privateKey, kid: 'j2' });
  let ok = false;
  for (let i = 0; i < 40 && !ok; i++) {
    const r = await api.get(`/v1/channels/${CH}`, { token: t2 });
    ok = r.status === 200;
    if (!ok) {
      assert.equal(r.status, 401);
      await new Promise((res) => setTimeout(res, 250));
    }
  }
  assert.ok(ok, 'the rotated key was never picked up');
  await expect401(await mint(claims(), { alg: 'ES256', key: keys.J1.privateKey, kid: 'j1' }), /key/);
});

test('an unknown kid is refused', async () => {
  await expect401(await mint(claims(), { alg: 'ES256', key: keys.J1.privateKey, kid: 'nope' }), /key/);
});

test('a missing token is 401 with a plain Bearer challenge (RFC 6750)', async () => {
  const r = await api.get(`/v1/channels/${CH}`, { token: null });
  assert.equal(r.status, 401);
  assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="kvsgate"');
});

test('a non-Bearer scheme is 401', async () => {
  const r = await api.get(`/v1/channels/${CH}`, { token: null, headers: { authorization: 'Basic YTpi' } });
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate'), /error="invalid_token"/);
});

test('malformed tokens are 401: wrong segment counts, bad base64, not JSON, empty', async () => {
  const good = await mint(claims());
  const [h, p, s] = good.split('.');
  for (const bad of [`${h}.${p}`, `${h}.${p}.${s}.${s}`, `${h}!.${p}.${s}`, `e30.${p}.${s}`,
    `${Buffer.from('not json').toString('base64url')}.${p}.${s}`, 'a.b.c', '...']) {
    await expect401(bad);
  }
});

test('a bad signature is 401', async () => {
  const good = await mint(claims());
  const [h, p, s] = good.split('.');
  const flipped = (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
  await expect401(`${h}.${p}.${flipped}`, /signature/);
  const other = await mint(claims({ sub: 'mallory' }));
  await expect401(`${h}.${other.split('.')[1]}.${s}`, /signature/);
});

test('alg none is refused, with or without a signature', async () => {
  await expect401(unsigned({ alg: 'none', typ: 'JWT' }, claims({ exp: Math.floor(Date.now() / 1000) + 600 })));
  await expect401(unsigned({ alg: 'none' }, claims({ exp: Math.floor(Date.now() / 1000) + 600 }), 'c2ln'));
});

test('algorithm confusion: HS256 signed with the RSA public key PEM is refused', async () => {
  const pem = fs.readFileSync(path.join(dir, 'RS256.pem'));
  const c = claims({ exp: Math.floor(Date.now() / 1000) + 600 });
  await expect401(hmacToken({ alg: 'HS256', typ: 'JWT' }, c, pem));
  await expect401(hmacToken({ alg: 'HS256', typ: 'JWT' }, c, pem.toString().trim()));
  await expect401(hmacToken({ alg: 'hs256', typ: 'JWT' }, c, Buffer.from(DEV_SECRET)));
});

test('expired and not-yet-valid tokens are 401 (beyond the leeway)', async () => {
  const now = Math.floor(Date.now() / 1000);
  await expect401(await mint(claims({ iat: now - 1000, exp: now - 120 })), /expired/);
  await expect401(await mint(claims({ nbf: now + 600 })), /not yet valid/);
  await expectOk(await mint(claims({ iat: now - 1000, exp: now - 30 }))); // within 60 s leeway
});

test('a token without exp, or with exp of the wrong type, is 401', async () => {
  const c = claims();
  await expect401(hmacToken({ alg: 'HS256' }, c, Buffer.from(DEV_SECRET)));
  await expect401(hmacToken({ alg: 'HS256' }, { ...c, exp: String(Math.floor(Date.now() / 1000) + 600) }, Buffer.from(DEV_SECRET)));
});

test('wrong issuer and wrong audience are 401; aud may be an array', async () => {
  await expect401(await mint(claims({ iss: 'https://evil.test/' })), /issuer/);
  await expect401(await mint(claims({ aud: 'someone-else' })), /audience/);
  await expectOk(await mint(claims({ aud: ['x', AUD] })));
  await expect401(await mint(claims({ aud: ['x', 'y'] })), /audience/);
});

test('authorization: no grant for the channel is 403; scopes grant like the claim', async () => {
  const none = await mint(claims({ kvs: { viewer: ['other-*'] } }));
  const r = await api.get(`/v1/channels/${CH}`, { token: none });
  assert.equal(r.status, 403);
  const scoped = await mint(claims({ kvs: undefined, scope: `openid kvs:viewer:${CH}` }));
  await expectOk(scoped);
  const scp = await mint(claims({ kvs: undefined, scp: ['kvs:master:cam-auth-*'] }));
  const m = await api.get(`/v1/channels/${CH}/master`, { token: scp });
  assert.equal(m.status, 200, m.text);
});

test('{sub} patterns grant the caller their own channels only', async () => {
  const t = await mint(claims({ sub: 'bob', kvs: { manage: ['user-{sub}.*'] } }));
  const own = await api.put('/v1/channels/user-bob.room', { token: t });
  assert.equal(own.status, 201, own.text);
  const theirs = await api.put('/v1/channels/user-carol.room', { token: t });
  assert.equal(theirs.status, 403);
  // bob's grant never reaches bob-smith's names (issue 13)...
  const smith = await api.put('/v1/channels/user-bob-smith.cam1', { token: t });
  assert.equal(smith.status, 403);
  // ...and the unclosed form that would is refused: it grants nothing.
  const open = await mint(claims({ sub: 'bob', kvs: { manage: ['user-{sub}-*'] } }));
  const r = await api.put('/v1/channels/user-bob-smith-cam1', { token: open });
  assert.equal(r.status, 403);
  assert.equal((await api.put('/v1/channels/user-bob-room', { token: open })).status, 403);
});

test('viewer asking for master, and another viewer\'s client id, are 403', async () => {
  const v = await mint(claims({ kvs: { viewer: ['cam-auth-*'] } }));
  assert.equal((await api.get(`/v1/channels/${CH}/master`, { token: v })).status, 403);
  assert.equal((await api.get(`/v1/channels/${CH}/viewer?clientId=bob`, { token: v })).status, 403);
  const any = await mint(claims({ kvs: { viewer: ['cam-auth-*'], anyClientId: true } }));
  const r = await api.get(`/v1/channels/${CH}/viewer?clientId=bob`, { token: any });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.clientId, 'bob');
});

test('invalid channel names are 400 invalid_channel_name', async () => {
  const t = await mint(claims({ kvs: { manage: ['*'] } }));
  for (const bad of ['bad%20name', '..', '.', 'x'.repeat(257), 'caf%C3%A9']) {
    const r = await api.get(`/v1/channels/${bad}`, { token: t });
    assert.ok([400, 404].includes(r.status), `${bad}: ${r.status}`);
    if (r.status === 400) assert.equal(r.json.code, 'invalid_channel_name', bad);
  }
  // An encoded slash is refused for the whole path, before any route.
  const slash = await api.get('/v1/channels/a%2Fb', { token: t });
  assert.equal(slash.status, 400);
  assert.equal(slash.json.code, 'bad_request');
});

test('an oversized body is 413, broken JSON and unknown fields are 400', async () => {
  const t = await mint(claims());
  const big = await api.put(`/v1/channels/${CH}`, { token: t, raw: JSON.stringify({ tags: { a: 'x'.repeat(2000) } }), headers: { 'content-type': 'application/json' } });
  assert.equal(big.status, 413);
  assert.equal(big.json.code, 'payload_too_large');
  const broken = await api.put(`/v1/channels/${CH}`, { token: t, raw: '{"messageTtlSeconds": ', headers: { 'content-type': 'application/json' } });
  assert.equal(broken.status, 400);
  assert.equal(broken.json.code, 'bad_request');
  const unknown = await api.put(`/v1/channels/${CH}`, { token: t, body: { ttl: 5 } });
  assert.equal(unknown.status, 400);
  const range = await api.put(`/v1/channels/${CH}`, { token: t, body: { messageTtlSeconds: 500 } });
  assert.equal(range.status, 400);
  const ctype = await api.put(`/v1/channels/${CH}`, { token: t, raw: '{}', headers: { 'content-type': 'text/plain' } });
  assert.equal(ctype.status, 400);
});

test('CORS: a preflight from an allowed origin gets 204 with the allow headers', async () => {
  const r = await api.options(`/v1/channels/${CH}/viewer`, {
    headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
  });
  assert.equal(r.status, 204);
  assert.equal(r.headers.get('access-control-allow-origin'), 'https://app.example');
  assert.match(r.headers.get('access-control-allow-headers'), /Authorization/);
  assert.match(r.headers.get('access-control-allow-headers'), /Content-Type/);
  assert.match(r.headers.get('access-control-allow-methods'), /GET/);
  const t = await mint(claims());
  const g = await api.get(`/v1/channels/${CH}`, { token: t, headers: { origin: 'https://app.example' } });
  assert.equal(g.headers.get('access-control-allow-origin'), 'https://app.example');
  assert.match(g.headers.get('vary'), /Origin/);
});

test('CORS: a preflight from a refused origin is 403 with no allow headers', async () => {
  const r = await api.options(`/v1/channels/${CH}/viewer`, {
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
  });
  assert.equal(r.status, 403);
  assert.equal(r.headers.get('access-control-allow-origin'), null);
  const t = await mint(claims());
  const g = await api.get(`/v1/channels/${CH}`, { token: t, headers: { origin: 'https://evil.example' } });
  assert.equal(g.headers.get('access-control-allow-origin'), null);
});

test('a huge token is 401 before any parsing, and the service stays up', async () => {
  const huge = 'a'.repeat(20000) + '.b.c';
  const r = await api.get(`/v1/channels/${CH}`, { token: huge });
  assert.equal(r.status, 401, r.text);
  assert.match(r.json.detail, /too large/);
  assert.equal((await api.get('/healthz')).status, 200);
});
