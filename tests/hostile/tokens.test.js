'use strict';
// Every malformed-JWT shape against the real binary: the Authorization scheme,
// segment counts, base64 that is not strict base64url, headers and payloads
// that are not JSON objects, nesting bombs, duplicate keys, huge tokens, wrong
// types for exp / nbf / iat / aud / iss / sub and the grants, and the algorithm
// tricks (none, case games, HS* against public keys, crit, kid traversal).
// Tokens with bad claims carry a valid HS256 signature, so they reach the
// claims checks. Each answer is a 401 problem+json with a Bearer challenge that
// echoes nothing of the token; nothing of any token reaches the logs.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const hostile = require('./helpers');
const { DEV_SECRET } = require('../lib/kvsgate');
const { mint, b64url } = require('../lib/tokens');

const { request } = hostile;
const ISS = 'https://issuer.test/';
const AUD = 'kvsgate-hostile';
let h;

before(async () => {
  h = await hostile.start({ env: { KVSGATE_JWT_ISSUER: ISS, KVSGATE_JWT_AUDIENCE: AUD } });
  const ok = await mint(good());
  h.sentTokens.add(ok);
  for (let i = 0; i < 10; i++) {
    const r = await h.send(request('GET', '/v1/channels?limit=1', { Authorization: `Bearer ${ok}` }));
    assert.equal(r.res.status, 200, r.res.text);
  }
  h.baseline();
});

after(async () => { if (h) await h.finish(); });

const now = () => Math.floor(Date.now() / 1000);
function good(extra = {}) {
  return { sub: 'alice', iss: ISS, aud: AUD, iat: now(), exp: now() + 600, kvs: { manage: ['*'] }, ...extra };
}

// A compact JWS from raw header and payload text, HMAC'd with the service's
// secret (so only the part under test is wrong).
function signed(headerText, payloadText, { secret = DEV_SECRET, alg = 'sha256' } = {}) {
  const bytes = (x) => (Buffer.isBuffer(x) ? x : Buffer.from(x));
  const input = `${b64url(bytes(headerText))}.${b64url(bytes(payloadText))}`;
  const sig = crypto.createHmac(alg, secret).update(input).digest();
  return `${input}.${b64url(sig)}`;
}
const hs = (payload, header = { alg: 'HS256', typ: 'JWT' }) => signed(JSON.stringify(header), JSON.stringify(payload));

async function refused(authorization, category, { status = 401, code = 'unauthenticated', token } = {}) {
  if (token) h.sentTokens.add(token);
  const headers = authorization === null ? {} : { Authorization: authorization };
  const r = await h.send(request('GET', '/v1/channels?limit=1', headers));
  h.count(category);
  try {
    const body = h.problem(r, status, code);
    if (status === 401) {
      const www = r.res.headers['www-authenticate'] || '';
      assert.match(www, /^Bearer realm="kvsgate"/);
      if (token && token.length >= 24) assert.ok(!www.includes(token) && !r.res.text.includes(token), 'the token was echoed');
    }
    return body;
  } catch (e) {
    const shown = token ? token.split('.').slice(0, 2).map((x) => { try { return Buffer.from(x, 'base64url').toString('latin1').slice(0, 150); } catch { return x; } }) : authorization;
    throw new Error(`Authorization ${JSON.stringify(shown)}: ${e.message}`);
  }
}
const bearer = (t) => refused(`Bearer ${t}`, 'token shape', { token: t });

test('the Authorization scheme', async () => {
  const ok = await mint(good());
  await refused(null, 'scheme');
  await refused('', 'scheme');
  await refused('Bearer', 'scheme');
  await refused('Bearer    ', 'scheme');
  await refused(`Basic ${Buffer.from('a:b').toString('base64')}`, 'scheme');
  await refused(`Token ${ok}`, 'scheme', { token: ok });
  await refused(`Bearer${ok}`, 'scheme', { token: ok });
  await refused(`Bearer ${ok} ${ok}`, 'scheme', { token: ok });
  await refused(`Bearer\t${ok}`, 'scheme', { token: ok });
  await refused(`Bearer "${ok}"`, 'scheme', { token: ok });
  // Two Authorization headers are ambiguous (a proxy may read the other one).
  const two = await h.send(request('GET', '/v1/channels', [['Authorization', `Bearer ${ok}`], ['Authorization', 'Bearer x.y.z']]));
  h.count('scheme');
  h.problem(two, 400, 'bad_request');
  // The scheme is case-insensitive (RFC 7235): this one is fine.
  const lower = await h.send(request('GET', '/v1/channels?limit=1', { Authorization: `bearer ${ok}` }));
  h.count('scheme');
  assert.equal(lower.res.status, 200, lower.res.text);
  await h.healthy();
});

test('segments and base64', async () => {
  const ok = await mint(good());
  const [a, b, c] = ok.split('.');
  for (const t of ['a', 'a.b', `${a}.${b}`, `${a}.${b}.${c}.${c}`, `${a}.${b}.${c}.`, '..', '...', `.${b}.${c}`, `${a}..${c}`,
    `${a}.${b}.`, `${a}.${b}.${c}.x.y`])
    await bearer(t);
  // Not strict base64url: padding, the standard alphabet, junk, spaces,
  // non-ASCII, non-zero trailing bits.
  await bearer(`${a}=.${b}.${c}`);
  await bearer(`${a}.${b}==.${c}`);
  await bearer(`${a}.${b}.${c}=`);
  await bearer(`${a}.${b}.${c.replace(/-/g, '+').replace(/_/g, '/')}+/`);
  await bearer(`${a}.${b}!.${c}`);
  await bearer(`${a}.${b}.${c.slice(0, 10)}!${c.slice(10)}`);
  await bearer(`${a}.${b}.${c.slice(0, 10)}%41${c.slice(10)}`);
  await bearer(`${a}.${b}.${c}\xe9`);
  await bearer(`${a}.${b.slice(0, -1)}.${c}`);
  const last = c[c.length - 1];
  await bearer(`${a}.${b}.${c.slice(0, -1)}${last === 'A' ? 'B' : 'A'}`);
  await bearer(`${a.toLowerCase()}.${b}.${c}`);
  await bearer(`${a}.${b}.${c.slice(1)}`);
  await bearer(`${a}.${b}.`.padEnd(200, 'A'));
  await h.healthy();
});

test('headers and payloads that are not JSON objects, bombs, duplicates, sizes', async () => {
  const p = JSON.stringify(good());
  await bearer(signed('not json', p));
  await bearer(signed('[]', p));
  await bearer(signed('"HS256"', p));
  await bearer(signed('null', p));
  await bearer(signed('{}', p));
  await bearer(signed('{"alg":"HS256"', p));
  await bearer(signed('{"alg":"HS256"} trailing', p));
  await bearer(signed('{"alg":"HS256","alg":"none"}', p));
  await bearer(signed('{"alg":"none","alg":"HS256"}', p));
  await bearer(signed('{"alg":"HS256\\u0000"}', p));
  await bearer(signed(Buffer.from('\xef\xbb\xbf{"alg":"HS256"}', 'latin1'), p));
  await bearer(signed(`{"alg":"HS256","x":${'['.repeat(10)}${']'.repeat(10)}}`, p));
  const H = JSON.stringify({ alg: 'HS256', typ: 'JWT' });
  await bearer(signed(H, '[]'));
  await bearer(signed(H, 'null'));
  await bearer(signed(H, '"alice"'));
  await bearer(signed(H, `${p} x`));
  await bearer(signed(H, p.replace('"sub":"alice"', '"sub":"alice","sub":"admin"')));
  await bearer(signed(H, p.replace('"sub":"alice"', '"sub":"al\\u0000ice"')));
  await bearer(signed(H, Buffer.concat([Buffer.from(p.slice(0, -1)), Buffer.from(',"x":"\xff\xfe"}', 'latin1')])));
  await bearer(signed(Buffer.from('{"alg":"HS256","x":"\xc0\xaf"}', 'latin1'), p));
  await bearer(signed(H, p.replace('"sub":"alice"', '"sub":"\\ud800"')));
  // Nesting bombs: bounded before the JSON parser sees them.
  await bearer(signed(H, `{"sub":"a","x":${'['.repeat(40)}${']'.repeat(40)}}`));
  await bearer(signed(H, `{"sub":"a","x":${'['.repeat(3000)}`));
  await bearer(signed(H, `{"sub":"a","x":${'{"a":'.repeat(1000)}1${'}'.repeat(1000)}}`));
  // Past the 8 KiB token limit: refused before any decoding.
  const huge = hs(good({ pad: 'x'.repeat(9000) }));
  await refused(`Bearer ${huge}`, 'huge tokens', { token: huge });
  const wide = hs(good({ kvs: { manage: Array.from({ length: 200 }, (_, i) => `c${i}-*`) } }));
  await refused(`Bearer ${wide}`, 'huge tokens', { token: wide });
  // A token past the head budget is our 431, not a parser's problem.
  const giant = hs(good({ pad: 'x'.repeat(28000) }));
  h.sentTokens.add(giant);
  const r = await h.send(request('GET', '/v1/channels', { Authorization: `Bearer ${giant}` }));
  h.count('huge tokens');
  h.problem(r, 431, 'headers_too_large');
  await h.healthy();
});

test('wrong types and values for registered claims (valid signatures)', async () => {
  const bad = [
    { exp: String(now() + 600) }, { exp: now() + 600.5 }, { exp: true }, { exp: null }, { exp: [now() + 600] },
    { exp: 1e30 }, { exp: -1 }, { exp: now() - 3600 }, { exp: undefined },
    { nbf: now() + 3600 }, { nbf: 'soon' }, { nbf: 1.5 },
    { iat: now() + 3600 }, { iat: '0' }, { iat: {} },
    { aud: 42 }, { aud: [42] }, { aud: 'other' }, { aud: ['a', 'b'] }, { aud: [] }, { aud: null },
    { iss: 'https://evil.test/' }, { iss: 7 }, { iss: undefined },
    { sub: undefined }, { sub: '' }, { sub: 42 }, { sub: ['alice'] }, { sub: 'x'.repeat(1100) },
  ];
  for (const extra of bad) {
    const t = hs(good(extra));
    await refused(`Bearer ${t}`, 'claim types', { token: t });
  }
  // Past int64, or not an integer at all: refused.
  for (const raw of ['9223372036854775808', '1e400', '-0', '1E9', '0x7fffffff']) {
    const p = JSON.stringify(good()).replace(/"exp":\d+/, `"exp":${raw}`);
    const t = signed(JSON.stringify({ alg: 'HS256' }), p);
    await refused(`Bearer ${t}`, 'claim types', { token: t });
  }
  // The largest int64 is a valid (if absurd) exp that the issuer signed:
  // accepted, and the leeway arithmetic does not overflow (UBSan would say).
  const far = signed(JSON.stringify({ alg: 'HS256' }), JSON.stringify(good()).replace(/"exp":\d+/, '"exp":9223372036854775807'));
  h.sentTokens.add(far);
  const r = await h.send(request('GET', '/v1/channels?limit=1', { Authorization: `Bearer ${far}` }));
  h.count('claim types');
  assert.equal(r.res.status, 200, r.res.text);
  for (const raw of ['-9223372036854775808']) {
    const p = JSON.stringify(good()).replace(/"iat":\d+/, `"iat":${raw}`).replace(/"exp":\d+/, `"exp":${now() + 60}`);
    const t = signed(JSON.stringify({ alg: 'HS256' }), p);
    h.sentTokens.add(t);
    const q = await h.send(request('GET', '/v1/channels?limit=1', { Authorization: `Bearer ${t}` }));
    h.count('claim types');
    assert.equal(q.res.status, 200, q.res.text);
  }
  await h.healthy();
});

test('grants of the wrong shape authorize nothing', async () => {
  const shapes = [
    { kvs: 'manage' }, { kvs: ['manage'] }, { kvs: 1 }, { kvs: null }, { kvs: { manage: '*' } },
    { kvs: { manage: [1, 2] } }, { kvs: { manage: [['*']] } }, { kvs: { manage: Array(65).fill('*') } },
    { kvs: { manage: ['x'.repeat(600)] } }, { kvs: { root: ['*'] } }, { kvs: { manage: ['*'], anyClientId: 'yes' } },
    { scope: 'kvs:manage' }, { scope: ['kvs:manage:*'] }, { scope: 'kvs:manage:' }, { scp: [1] },
  ];
  for (const extra of shapes) {
    const t = hs(good({ kvs: undefined, ...extra }));
    h.sentTokens.add(t);
    const r = await h.send(request('GET', '/v1/channels?limit=1', { Authorization: `Bearer ${t}` }));
    h.count('grants');
    assert.ok([401, 403].includes(r.res.status), `${JSON.stringify(extra).slice(0, 80)} -> ${r.res.status}`);
    h.problem(r, r.res.status, r.res.status === 401 ? 'unauthenticated' : 'forbidden');
  }
  await h.healthy();
});

test('algorithm tricks', async () => {
  const p = good();
  const pj = JSON.stringify(p);
  const unsignedTok = (header) => `${b64url(Buffer.from(JSON.stringify(header)))}.${b64url(Buffer.from(pj))}.`;
  for (const alg of ['none', 'None', 'NONE', 'nOnE', ''])
    await bearer(`${unsignedTok({ alg })}`);
  for (const alg of ['none', 'None'])
    await bearer(`${unsignedTok({ alg })}c2ln`);
  // Case games and algorithms we do not accept, each correctly HMAC'd.
  await bearer(signed(JSON.stringify({ alg: 'hs256' }), pj));
  await bearer(signed(JSON.stringify({ alg: 'Hs256' }), pj));
  await bearer(signed(JSON.stringify({ alg: 'HS384' }), pj, { alg: 'sha384' }));
  await bearer(signed(JSON.stringify({ alg: 'HS512' }), pj, { alg: 'sha512' }));
  await bearer(signed(JSON.stringify({ alg: ['HS256'] }), pj));
  await bearer(signed(JSON.stringify({ alg: null }), pj));
  await bearer(signed(JSON.stringify({ typ: 'JWT' }), pj));
  // Algorithm confusion: an asymmetric alg with an HMAC signature.
  for (const alg of ['RS256', 'PS256', 'ES256', 'ES384', 'RS512'])
    await bearer(signed(JSON.stringify({ alg }), pj));
  await bearer(signed(JSON.stringify({ alg: 'ES256' }), pj).replace(/\.[^.]*$/, '.AA'));
  // The right alg with the wrong key, or an empty key.
  await bearer(signed(JSON.stringify({ alg: 'HS256' }), pj, { secret: 'not-the-secret-not-the-secret-xx' }));
  await bearer(signed(JSON.stringify({ alg: 'HS256' }), pj, { secret: '' }));
  // Headers we must not follow or that demand what we do not do.
  await bearer(signed(JSON.stringify({ alg: 'HS256', crit: ['exp'] }), pj));
  await bearer(signed(JSON.stringify({ alg: 'HS256', kid: '../../../../etc/passwd' }), pj).replace(/\.[^.]*$/, '.AAAA'));
  await bearer(signed(JSON.stringify({ alg: 'HS256', kid: 'k'.repeat(300) }), pj));
  await bearer(signed(JSON.stringify({ alg: 'HS256', kid: 7 }), pj));
  await bearer(signed(JSON.stringify({ alg: 'HS256', kid: '' }), pj));
  await bearer(signed(JSON.stringify({ alg: 'HS256', typ: 'xyz' }), pj));
  await bearer(signed(JSON.stringify({ alg: 'HS256', jku: 'https://evil.test/jwks', kid: 'evil' }), pj, { secret: 'attacker-secret-attacker-secret!' }));
  await bearer(signed(JSON.stringify({ alg: 'HS256', jwk: { kty: 'oct', k: b64url(Buffer.from('attacker')) } }), pj, { secret: 'attacker' }));
  // The same valid token still works afterwards.
  const ok = await mint(good());
  h.sentTokens.add(ok);
  const r = await h.send(request('GET', '/v1/channels?limit=1', { Authorization: `Bearer ${ok}` }));
  assert.equal(r.res.status, 200);
  await h.healthy();
});

test('the suite sent at least 100 hostile tokens here', () => {
  const total = Object.values(hostile.counts).reduce((a, b) => a + b, 0);
  assert.ok(total >= 100, `only ${total}`);
});
