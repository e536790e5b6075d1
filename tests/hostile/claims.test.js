'use strict';
// Valid tokens with hostile claims, at every limit, on every route (issue 13).
// Each token carries a good HS256 signature, so its claims travel all the way
// to the writers: the access log, problem+json, ConnectionInfo, the presigned
// URL. Subjects of 1..1024 bytes of quotes, backslashes, control bytes, stars,
// braces, dots and non-ASCII text, and payloads JSON allows but UTF-8 does not
// (lone surrogates); 64 grants of the longest accepted pattern; channel names
// of 256; client-id suffixes at their limit. Every answer is the documented
// 2xx or 4xx, the process lives, and every log line is one JSON object within
// KG_LOG_LINE_MAX.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const hostile = require('./helpers');
const { DEV_SECRET } = require('../lib/kvsgate');
const { b64url } = require('../lib/tokens');

const { request } = hostile;
const LINE_MAX = 4096;
const SIZES = [1, 2, 63, 64, 127, 128, 129, 255, 256, 257, 511, 512, 700, 1023, 1024];
// What a sub is made of; `ok` says whether kvsgate accepts it (no C0, DEL, C1).
const ALPHABETS = [
  { name: 'quotes', unit: '"', ok: true },
  { name: 'backslashes', unit: '\\', ok: true },
  { name: 'stars', unit: '*', ok: true },
  { name: 'braces', unit: '{}', ok: true },
  { name: 'dots', unit: '.', ok: true },
  { name: 'sub templates', unit: '{sub}', ok: true },
  { name: 'mixed', unit: 'a"\\*{}.-_é€😀', ok: true },
  { name: 'own-id characters', unit: 'bob-smith_', ok: true },
  { name: 'C0 controls', unit: '\u0001\u001f\t\n', ok: false },
  { name: 'DEL', unit: 'a\u007f', ok: false },
  { name: 'C1 controls', unit: 'a\u0085\u009f', ok: false },
];
let h;

before(async () => {
  // Room for tokens of 64 grants of 256 bytes per role.
  h = await hostile.start({ env: { KVSGATE_LOG_LEVEL: 'debug', KVSGATE_JWT_MAX_BYTES: '65536', KVSGATE_MAX_HEADER_BYTES: '131072' } });
  h.baseline();
});

after(async () => {
  if (!h) return;
  // Every line kvsgate wrote: one JSON object, within the bound.
  const lines = h.gate.stderr().split('\n').filter(Boolean);
  let truncated = 0;
  for (const line of lines) {
    assert.ok(Buffer.byteLength(line) + 1 <= LINE_MAX, `a log line of ${Buffer.byteLength(line)} bytes`);
    const v = JSON.parse(line);
    if (v.truncated) truncated++;
  }
  console.log(`log lines checked: ${lines.length}, truncated: ${truncated}`);
  await h.finish();
});

const now = () => Math.floor(Date.now() / 1000);
// A token from raw payload text: any JSON jose would refuse to write is fine.
function signed(payloadText) {
  const input = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(Buffer.from(payloadText))}`;
  const sig = crypto.createHmac('sha256', DEV_SECRET).update(input).digest();
  const token = `${input}.${b64url(sig)}`;
  h.sentTokens.add(token);
  return token;
}
const token = (claims) => signed(JSON.stringify({ iat: now(), exp: now() + 600, ...claims }));

function subOf(alphabet, size) {
  let s = '';
  while (Buffer.byteLength(s) < size) s += alphabet.unit;
  // Cut to size bytes at a character boundary.
  let b = Buffer.from(s);
  if (b.length > size) {
    let cut = size;
    while (cut > 0 && (b[cut] & 0xc0) === 0x80) cut--;
    b = b.subarray(0, cut);
  }
  return b.toString() || alphabet.unit[0];
}

const ALL = { manage: ['*'], master: ['*'], viewer: ['*'] };

// The client id kvsgate derives for sub (auth/authz.h).
function derivedId(sub) {
  const own = /^[A-Za-z0-9_-]{1,128}$/.test(sub) && !sub.startsWith('_') && !/^aws_/i.test(sub);
  return own ? sub : '_' + crypto.createHash('sha256').update(sub).digest('hex').slice(0, 40);
}

async function send(method, target, tok, category) {
  const r = await h.send(request(method, target, { Authorization: `Bearer ${tok}` }));
  h.count(category);
  return r;
}

// The routes in the order a front end meets them, for one subject and one
// 256-byte channel of its own.
async function everyRoute(tok, channel, sub, accepted, category) {
  const id = derivedId(sub);
  const steps = [
    ['PUT', `/v1/channels/${channel}`, [201]],
    ['GET', `/v1/channels/${channel}`, [200]],
    ['GET', `/v1/channels/${channel}/master`, [200]],
    ['GET', `/v1/channels/${channel}/viewer`, [200]],
    ['GET', `/v1/channels/${channel}/viewer?clientId=${id}.${'s'.repeat(64)}`, [200]],
    ['GET', `/v1/channels/${channel}/viewer?clientId=${id}.${'s'.repeat(65)}`, [403]],
    ['GET', `/v1/channels?prefix=${channel.slice(0, 40)}&limit=100`, [200]],
    ['DELETE', `/v1/channels/${channel}`, [204]],
  ];
  for (const [method, target, want] of steps) {
    const r = await send(method, target, tok, category);
    const expect = accepted ? want : [401];
    assert.ok(r.res && expect.includes(r.res.status),
      `${category} ${method} ${target.slice(0, 60)}: ${r.res && r.res.status} ${r.res && r.res.text.slice(0, 300)}`);
    const body = h.wellFormed(r);
    if (r.res.status === 200 && target.includes('/viewer') && accepted) {
      assert.equal(body.clientId, target.includes('clientId=') ? `${id}.${'s'.repeat(64)}` : id);
      assert.equal(body.channelName, channel);
    }
    if (r.res.status === 401) assert.equal(body.detail, 'bad subject');
  }
}

test('subjects of every size and alphabet, on every route', async () => {
  let i = 0;
  for (const alphabet of ALPHABETS) {
    for (const size of SIZES) {
      const sub = subOf(alphabet, size);
      const channel = `h${i++}-`.padEnd(256, 'x');
      const accepted = !/[\u0000-\u001f\u007f-\u009f]/.test(sub) && Buffer.byteLength(sub) <= 1024;
      await everyRoute(token({ sub, kvs: ALL }), channel, sub, accepted, `sub ${alphabet.name}`);
    }
    await h.healthy();
  }
  // One byte past the cap, of each accepted alphabet.
  for (const alphabet of ALPHABETS.filter((a) => a.ok)) {
    const sub = subOf(alphabet, 1100).slice(0, 1025);
    if (Buffer.byteLength(sub) <= 1024) continue;
    const r = await send('GET', '/v1/channels/h0-x/viewer', token({ sub, kvs: ALL }), 'sub past the cap');
    assert.equal(h.problem(r, 401, 'unauthenticated').detail, 'bad subject');
  }
});

test('payloads JSON allows but text does not: lone surrogates and NUL are malformed tokens', async () => {
  for (const raw of ['\\ud800', '\\udfff', 'a\\ud800b', '\\udc00\\ud800', '\\u0000', 'a\\u0000']) {
    const tok = signed(`{"sub":"${raw}","exp":${now() + 600},"kvs":{"viewer":["*"]}}`);
    const r = await send('GET', '/v1/channels/h0-x/viewer', tok, 'invalid UTF-8 escapes');
    const body = h.problem(r, 401, 'unauthenticated');
    assert.equal(body.detail, 'malformed token', raw);
  }
  // In grants, iss and aud too: the token is refused, never half-read.
  for (const claims of [
    `"kvs":{"viewer":["cam-\\ud800"]}`, `"iss":"\\ud800","kvs":{}`, `"aud":["\\udfff"],"kvs":{}`,
    `"scope":"kvs:viewer:\\ud800","kvs":{}`]) {
    const tok = signed(`{"sub":"alice","exp":${now() + 600},${claims}}`);
    const r = await send('GET', '/v1/channels/h0-x/viewer', tok, 'invalid UTF-8 escapes');
    h.problem(r, 401, 'unauthenticated');
  }
  await h.healthy();
});

test('64 grants of the longest accepted pattern per role, and one more', async () => {
  const longest = (k) => `g${String(k).padStart(3, '0')}-`.padEnd(255, 'p') + '*';
  const patterns = (extra) => Array.from({ length: 64 - extra.length }, (_, k) => longest(k)).concat(extra);
  const channel = 'g063-'.padEnd(256, 'p');
  // Two roles at 64 (three would pass the 64 KiB token cap); manage at 16.
  const full = { manage: patterns([]).slice(-16), master: patterns([]), viewer: patterns([]) };
  await everyRoute(token({ sub: 'grants', kvs: full }), channel, 'grants', true, 'grants at the limit');
  // With {sub} at the limit: a 128-byte own id closed by '.'.
  const sub = 'u'.repeat(128);
  const withSub = { manage: patterns(['{sub}.*']).slice(-16), master: patterns(['{sub}.*']), viewer: patterns(['{sub}.*']) };
  await everyRoute(token({ sub, kvs: withSub }), `${sub}.`.padEnd(256, 'c'), sub, true, 'grants at the limit');
  // A 65th pattern refuses the token; a pattern past 256 bytes is dropped, not fatal.
  const over = { viewer: patterns([]).concat(['x*']) };
  const r = await send('GET', `/v1/channels/${channel}/viewer`, token({ sub: 'grants', kvs: over }), 'grants at the limit');
  assert.equal(h.problem(r, 401, 'unauthenticated').detail, 'too many grants');
  const dropped = { viewer: ['d'.repeat(256) + '*', 'y'.repeat(600)] };
  const d = await send('GET', `/v1/channels/${channel}/viewer`, token({ sub: 'grants', kvs: dropped }), 'grants at the limit');
  h.problem(d, 403, 'forbidden');
  await h.healthy();
});

test('the suite sent every case', () => {
  const total = Object.entries(hostile.counts).reduce((a, [, n]) => a + n, 0);
  assert.ok(total >= 1300, `only ${total}`);
});
