'use strict';
// A randomized black-box search (issue 13): validly signed tokens whose claims
// are drawn at random from hostile alphabets and sizes, on random routes with
// random parameters and bodies, several at a time, for KVSGATE_BLACKBOX_S
// seconds (15 in `make test`, where the hostile suites also run against the
// ASan+UBSan build; `make fuzz` runs it for 300 s against that build). The
// search fails on a crash, a sanitizer report (tests/lib/sanitizers.js), an
// answer that is not the documented problem+json or JSON, a 500, a hang, or a
// log line that is not one bounded JSON object. The seed is printed; set
// KVSGATE_BLACKBOX_SEED to replay a run.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const hostile = require('./helpers');
const { DEV_SECRET } = require('../lib/kvsgate');
const { b64url } = require('../lib/tokens');
const sanitizers = require('../lib/sanitizers');

const { request } = hostile;
const SECONDS = Number(process.env.KVSGATE_BLACKBOX_S || 15);
const SEED = Number(process.env.KVSGATE_BLACKBOX_SEED || crypto.randomInt(1, 2 ** 31));
const IN_FLIGHT = 8;
const LINE_MAX = 4096;
let h;

// xorshift32: a replayable stream from the seed.
let state = SEED >>> 0 || 1;
function rnd(n) {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state % n;
}
const pick = (list) => list[rnd(list.length)];

const ALPHABETS = [
  '"', '\\', '*', '{', '}', '.', '{sub}', '-', '_', 'a', 'Z', '0', 'é', '€', '😀', ' ', '/', '%', '@',
  '|', '\u0001', '\u001f', '\u007f', '\u0085', '\u00a0', '\\u0000', '\\ud800', '\\udfff', '\\n', '\\"',
  'AWS_', 'bob', 'bob-smith', '<script>', '\r\n',
];
// Units written into JSON as they are: escapes, some of which are not text.
const isEscape = (u) => u.length > 1 && u.startsWith('\\');
const RAW = ALPHABETS.filter((u) => !isEscape(u));
const SIZES = [0, 1, 2, 7, 40, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 700, 1023, 1024, 1025, 2000];

// JSON string text of random hostile content: raw characters JSON-escaped,
// and escapes (\u0000, lone surrogates) written as they are.
function hostileText() {
  const size = pick(SIZES);
  let out = '';
  let bytes = 0;
  while (bytes < size) {
    const unit = pick(ALPHABETS);
    const piece = isEscape(unit) ? unit : JSON.stringify(unit).slice(1, -1);
    out += piece;
    bytes += Buffer.byteLength(unit);
  }
  return out;
}
const str = () => `"${hostileText()}"`;
// A grants list: templates with hostile text, and (wild) arbitrary strings.
function patterns(valid = false) {
  const text = () => (valid ? JSON.stringify(safeText(40)).slice(1, -1) : hostileText().slice(0, 40).replace(/\\[^"]{0,4}$/, ''));
  const one = () => `"${pick(['cam-', 'user-{sub}.', 'user-{sub}-', '{sub}', '', 'h'])}${rnd(2) ? text() : ''}${rnd(2) ? '*' : ''}"`;
  const n = Math.min(valid ? 64 : 65, pick([0, 1, 2, 8, 64, 65]));
  return `[${Array.from({ length: n }, () => (valid || rnd(3) ? one() : str())).join(',')}]`;
}

function randomValue() {
  return pick([str, () => String(rnd(2 ** 31)), () => 'true', () => 'null', () => '[]', () => '{}', () => '1.5', patterns])();
}

// Hostile but acceptable: what an IdP may well put in a sub (no controls, no
// escapes that are not text).
const SAFE = RAW.filter((u) => !/[\u0000-\u001f\u007f-\u009f]/.test(u));
function safeText(max) {
  let out = '';
  const size = 1 + rnd(max);
  for (;;) {
    const next = out + pick(SAFE);
    if (Buffer.byteLength(next) > size) return out || 'x';
    out = next;
  }
}

// Most tokens pass every check, so that their hostile values travel to the
// writers (logs, ConnectionInfo, the URL, problem+json); the rest are wild.
function randomClaims() {
  if (rnd(10) < 7) return validClaims();
  return wildClaims();
}

function validClaims() {
  const now = Math.floor(Date.now() / 1000);
  const grant = () => (rnd(3) ? '["*"]' : patterns(true));
  const claims = {
    sub: safeText(pick([8, 64, 200, 1024])),
    exp: now + 600,
  };
  const g = [`"viewer":${grant()}`, `"master":${grant()}`, `"manage":${grant()}`];
  if (rnd(3) === 0) g.push(`"anyClientId":${pick(['true', 'false'])}`);
  if (rnd(3) === 0) g.push(`"manageAny":${pick(['true', 'false'])}`);
  return `{"sub":${JSON.stringify(claims.sub)},"exp":${claims.exp},"kvs":{${g.join(',')}}}`;
}

function wildClaims() {
  const now = Math.floor(Date.now() / 1000);
  const parts = [];
  if (rnd(20)) parts.push(`"sub":${rnd(8) ? str() : randomValue()}`);
  parts.push(`"exp":${pick([now + 600, now + 600, now + 600, now - 10, now + 10 ** 9, '"soon"', 1.5e9])}`);
  if (rnd(3) === 0) parts.push(`"iat":${pick([now, now + 10 ** 6, -1, '"x"'])}`);
  if (rnd(3) === 0) parts.push(`"nbf":${pick([now - 5, now + 3600])}`);
  if (rnd(4) === 0) parts.push(`"iss":${randomValue()}`);
  if (rnd(4) === 0) parts.push(`"aud":${pick([str, () => `[${str()},${str()}]`, randomValue])()}`);
  if (rnd(6)) {
    const g = [];
    for (const role of ['master', 'viewer', 'manage']) if (rnd(2)) g.push(`"${role}":${rnd(8) ? patterns() : randomValue()}`);
    if (rnd(4) === 0) g.push(`"anyClientId":${pick(['true', 'false', '"yes"', '1'])}`);
    if (rnd(4) === 0) g.push(`"manageAny":${pick(['true', 'false', '"yes"', 'null'])}`);
    parts.push(`"kvs":${rnd(10) ? `{${g.join(',')}}` : randomValue()}`);
  }
  if (rnd(4) === 0) parts.push(`"scope":${rnd(2) ? `"kvs:${pick(['viewer', 'master', 'manage', 'admin'])}:${hostileText().slice(0, 80)} kvs:admin"` : randomValue()}`);
  if (rnd(6) === 0) parts.push(`"scp":${rnd(2) ? patterns() : randomValue()}`);
  return `{${parts.join(',')}}`;
}

function signed(payloadText) {
  const input = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(Buffer.from(payloadText))}`;
  const sig = crypto.createHmac('sha256', DEV_SECRET).update(input).digest();
  return `${input}.${b64url(sig)}`;
}

const pctBytes = () => Array.from({ length: rnd(6) }, () => `%${rnd(256).toString(16).padStart(2, '0').toUpperCase()}`).join('');
const POOL = ['cam-1', 'user-bob.cam', 'rnd-'.padEnd(256, 'x'), 'c.d_e-f'];
function channelName() {
  if (rnd(2)) return pick(POOL);
  return pick([
    () => 'cam-1', () => 'rnd-' + 'x'.repeat(rnd(260)), () => 'user-bob.cam', () => 'user-bob-smith.cam',
    () => encodeURIComponent(Array.from({ length: rnd(40) + 1 }, () => pick(RAW)).join('')).slice(0, 300),
    () => `c${pctBytes()}`, () => '.', () => '..', () => '*', () => '%2F',
  ])();
}

function randomRequest(token) {
  const name = channelName();
  const query = () => {
    const q = [];
    if (rnd(2)) q.push(`clientId=${pick(['', 'alice', '_' + 'a'.repeat(40), 'bob.' + 's'.repeat(rnd(70)), 'AWS_x', pctBytes(), 'x'.repeat(rnd(300))])}`);
    if (rnd(3) === 0) q.push(`prefix=${pick(['cam', '', pctBytes(), 'x'.repeat(rnd(300))])}`);
    if (rnd(3) === 0) q.push(`limit=${pick(['1', '100', '101', '-1', 'x', '1e2'])}`);
    if (rnd(4) === 0) q.push(`nextToken=${pick(['abc', '', pctBytes(), '='.repeat(rnd(600))])}`);
    return q.length ? `?${q.join('&')}` : '';
  };
  const [method, target, body] = pick([
    () => ['GET', `/v1/channels/${name}/viewer${query()}`],
    () => ['GET', `/v1/channels/${name}/master${query()}`],
    () => ['GET', `/v1/channels/${name}`],
    () => ['PUT', `/v1/channels/${name}`, rnd(2) ? `{"messageTtlSeconds":${pick([5, 60, 121, '"x"'])},"tags":{${rnd(2) ? `${str()}:${str()}` : ''}}}` : null],
    () => ['DELETE', `/v1/channels/${name}`],
    () => ['GET', `/v1/channels${query()}`],
    () => ['HEAD', `/v1/channels/${name}/viewer`],
    () => ['OPTIONS', `/v1/channels/${name}`],
  ])();
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined && body !== null) headers['Content-Type'] = 'application/json';
  if (rnd(8) === 0) headers.Origin = pick(['https://app.example', 'null', 'x'.repeat(300)]);
  if (rnd(8) === 0) headers['X-Request-Id'] = pick(['ok-1', 'x'.repeat(200), 'a b', '\u00e9']);
  return { method, target, raw: request(method, target, headers, body === undefined ? null : body) };
}

before(async () => {
  h = await hostile.start({
    env: {
      KVSGATE_LOG_LEVEL: 'debug',
      KVSGATE_JWT_MAX_BYTES: '65536',
      KVSGATE_MAX_HEADER_BYTES: '131072',
      KVSGATE_CORS_ORIGINS: 'https://app.example,*',
      KVSGATE_OWNER_POLICY: 'owner',
    },
  });
  const admin = signed(`{"sub":"admin","exp":${Math.floor(Date.now() / 1000) + 3600},"kvs":{"manage":["*"],"manageAny":true}}`);
  for (const name of POOL) {
    const r = await h.send(request('PUT', `/v1/channels/${name}`, { Authorization: `Bearer ${admin}` }));
    assert.ok([200, 201].includes(r.res.status), r.res.text);
  }
  h.baseline();
});

after(async () => {
  if (!h) return;
  for (const line of h.gate.stderr().split('\n').filter(Boolean)) {
    assert.ok(Buffer.byteLength(line) + 1 <= LINE_MAX, `a log line of ${Buffer.byteLength(line)} bytes`);
    assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line.slice(0, 200)}`);
  }
  await h.finish({ rssSlackKb: 24 * 1024 });
});

test(`random hostile claims on random routes for ${SECONDS} s (seed ${SEED})`, async (t) => {
  t.diagnostic(`KVSGATE_BLACKBOX_SEED=${SEED}`);
  const deadline = Date.now() + SECONDS * 1000;
  const statuses = {};
  const reasons = {};
  let sent = 0;
  async function worker() {
    while (Date.now() < deadline) {
      const claims = randomClaims();
      const token = signed(claims);
      const { method, target, raw } = randomRequest(token);
      const r = await h.send(raw, { head: method === 'HEAD', timeoutMs: 10000 });
      sent++;
      h.count('random');
      const where = `seed ${SEED}: ${method} ${target.slice(0, 80)} with ${claims.slice(0, 200)}`;
      assert.ok(r.res && r.res.status >= 200, `${where}: no answer (${r.error || (r.timedOut ? 'timeout' : 'closed')})`);
      const s = r.res.status;
      statuses[s] = (statuses[s] || 0) + 1;
      if (s === 401 && method !== 'HEAD') {
        const why = JSON.parse(r.res.text).detail;
        reasons[why] = (reasons[why] || 0) + 1;
      }
      // The emulator is healthy here: every answer is a success or the
      // caller's fault, never kvsgate's (a 5xx).
      assert.ok(s < 500, `${where}: ${s} ${r.res.text.slice(0, 300)}`);
      if (method !== 'HEAD' && r.res.text) {
        try {
          h.wellFormed(r);
        } catch (e) {
          throw new Error(`${where}: ${e.message}`);
        }
      }
      if (sent % 500 === 0) await h.healthy();
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  await h.healthy();
  t.diagnostic(`${sent} requests, statuses ${JSON.stringify(statuses)}, 401s ${JSON.stringify(reasons)}`);
  console.log(`blackbox: ${sent} requests in ${SECONDS} s (seed ${SEED}), statuses ${JSON.stringify(statuses)}${sanitizers.slow() > 1 ? ' (sanitizer build)' : ''}`);
  assert.ok(sent >= SECONDS * 20, `only ${sent} requests`);
  assert.ok(Object.keys(statuses).length >= 4, 'the search reached too few outcomes');
});
