'use strict';
// PUT /v1/channels/{name} bodies of every wrong size, type and encoding
// against the real binary: over the limit (declared, chunked, exactly at it),
// not JSON, not UTF-8, not an object, nesting bombs, duplicate keys, mistyped
// members, too many or reserved tags, and the wrong Content-Type. Each one is a
// problem+json 400 or 413 and creates nothing.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const hostile = require('./helpers');

const { request } = hostile;
let h, auth;
const LIMIT = 4096;

before(async () => {
  h = await hostile.start({ env: { KVSGATE_MAX_BODY_BYTES: String(LIMIT) } });
  auth = { Authorization: `Bearer ${h.admin}`, 'Content-Type': 'application/json' };
  for (let i = 0; i < 10; i++) {
    const r = await h.send(request('PUT', `/v1/channels/cam-warm-${i % 3}`, auth, '{"messageTtlSeconds":30}'));
    assert.ok([200, 201].includes(r.res.status), r.res.text);
  }
  h.baseline();
});

after(async () => { if (h) await h.finish(); });

let n = 0;
async function put(body, status, code, { headers = auth, category = 'mistyped bodies' } = {}) {
  const name = `cam-body-${n++}`;
  const r = await h.send(request('PUT', `/v1/channels/${name}`, headers, body));
  h.count(category);
  try {
    h.problem(r, status, code);
  } catch (e) {
    throw new Error(`body ${JSON.stringify(String(body).slice(0, 100))}: ${e.message}`);
  }
  // Nothing was created.
  const g = await h.send(request('GET', `/v1/channels/${name}`, { Authorization: auth.Authorization }));
  assert.equal(g.res.status, 404, `${name} exists after a refused PUT`);
}

test('sizes: over the limit declared, chunked, or exactly at it', async () => {
  await put('{"tags":{"a":"' + 'x'.repeat(LIMIT) + '"}}', 413, 'payload_too_large', { category: 'oversized bodies' });
  await put(' '.repeat(LIMIT + 1), 413, 'payload_too_large', { category: 'oversized bodies' });
  const chunked = { ...auth, 'Transfer-Encoding': 'chunked' };
  const big = 'x'.repeat(LIMIT + 100);
  await put(Buffer.from(`${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`), 413, 'payload_too_large', { headers: chunked, category: 'oversized bodies' });
  const many = Array.from({ length: 40 }, () => `80\r\n${' '.repeat(128)}\r\n`).join('') + '0\r\n\r\n';
  await put(Buffer.from(many), 413, 'payload_too_large', { headers: chunked, category: 'oversized bodies' });
  // At the limit exactly: read and judged on its content.
  const at = `{"messageTtlSeconds":30}${' '.repeat(LIMIT - 24)}`;
  assert.equal(at.length, LIMIT);
  const r = await h.send(request('PUT', '/v1/channels/cam-at-limit', auth, at));
  h.count('oversized bodies');
  assert.equal(r.res.status, 201, r.res.text);
  await h.healthy();
});

test('not JSON, not UTF-8, not an object', async () => {
  for (const body of ['not json', '{', '{"messageTtlSeconds":30', '{"messageTtlSeconds":30}}', '{"messageTtlSeconds":30} {}',
    '[]', '"x"', '30', 'null', 'true', '{"a":1,}', "{'messageTtlSeconds':30}", '{messageTtlSeconds:30}',
    '{"messageTtlSeconds":030}', '{"messageTtlSeconds":NaN}', '{"messageTtlSeconds":Infinity}'])
    await put(body, 400, 'bad_request');
  await put(Buffer.from('{"tags":{"a":"\xff\xfe"}}', 'latin1'), 400, 'bad_request', { category: 'invalid UTF-8' });
  await put(Buffer.from('{"tags":{"\xc0\xaf":"x"}}', 'latin1'), 400, 'bad_request', { category: 'invalid UTF-8' });
  await put(Buffer.from('\xef\xbb\xbf{"messageTtlSeconds":30}', 'latin1'), 400, 'bad_request', { category: 'invalid UTF-8' });
  await put('{"tags":{"a":"\\ud800"}}', 400, 'bad_request', { category: 'invalid UTF-8' });
  await put('{"tags":{"a":"x\\u0000y"}}', 400, 'bad_request', { category: 'invalid UTF-8' });
  await put(Buffer.from('{"tags":{"a":"x\x00y"}}', 'latin1'), 400, 'bad_request', { category: 'NUL bytes' });
  await put(Buffer.from('{"messageTtlSeconds":30}\x00', 'latin1'), 400, 'bad_request', { category: 'NUL bytes' });
  await h.healthy();
});

test('nesting bombs and duplicate keys', async () => {
  await put(`{"tags":${'['.repeat(2000)}${']'.repeat(2000)}}`, 400, 'bad_request', { category: 'nesting' });
  await put(`{"x":${'{"a":'.repeat(600)}1${'}'.repeat(600)}}`, 400, 'bad_request', { category: 'nesting' });
  await put(`${'['.repeat(LIMIT - 10)}`, 400, 'bad_request', { category: 'nesting' });
  await put('{"messageTtlSeconds":30,"messageTtlSeconds":5}', 400, 'bad_request', { category: 'duplicates' });
  await put('{"tags":{"a":"1","a":"2"}}', 400, 'bad_request', { category: 'duplicates' });
  await put('{"tags":{},"tags":{"kvsgate:owner":"mallory"}}', 400, 'bad_request', { category: 'duplicates' });
  await h.healthy();
});

test('mistyped and out-of-range members', async () => {
  for (const ttl of ['"30"', '30.5', '4', '121', '-1', '0', 'null', 'true', '[30]', '{}', '1e2', '9223372036854775808', '99999999999999999999'])
    await put(`{"messageTtlSeconds":${ttl}}`, 400, 'bad_request');
  for (const tags of ['[]', '"a=b"', '1', 'null', '{"a":1}', '{"a":null}', '{"a":{"b":"c"}}', '{"a":["b"]}', '{"":"x"}',
    `{"${'k'.repeat(129)}":"v"}`, `{"k":"${'v'.repeat(257)}"}`, '{"a<b":"x"}', '{"a":"x;y"}', '{"a\\nb":"x"}',
    '{"kvsgate:owner":"mallory"}', '{"aws:createdBy":"x"}', '{"kvsgate:":"x"}'])
    await put(`{"tags":${tags}}`, 400, 'bad_request');
  const fifty = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`t${i}`, 'v']));
  await put(JSON.stringify({ tags: fifty }), 400, 'bad_request');
  await put('{"name":"cam-other"}', 400, 'bad_request');
  await put('{"ChannelName":"cam-other","messageTtlSeconds":30}', 400, 'bad_request');
  await put('{"__proto__":{"admin":true}}', 400, 'bad_request');
  await h.healthy();
});

test('Content-Type', async () => {
  const body = '{"messageTtlSeconds":30}';
  for (const ct of ['text/plain', 'application/jsonx', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
    'json', 'application/json-patch+json'])
    await put(body, 400, 'bad_request', { headers: { ...auth, 'Content-Type': ct }, category: 'content type' });
  await put(body, 400, 'bad_request', { headers: { Authorization: auth.Authorization }, category: 'content type' });
  await put(body, 400, 'bad_request', { headers: [['Authorization', auth.Authorization], ['Content-Type', 'application/json'], ['Content-Type', 'text/plain']], category: 'content type' });
  // Parameters after the media type are fine.
  const ok = await h.send(request('PUT', '/v1/channels/cam-ct-ok', { ...auth, 'Content-Type': 'application/json; charset=utf-8' }, body));
  h.count('content type');
  assert.equal(ok.res.status, 201, ok.res.text);
  await h.healthy();
});

test('the suite sent at least 70 hostile bodies here', () => {
  const total = Object.values(hostile.counts).reduce((a, b) => a + b, 0);
  assert.ok(total >= 70, `only ${total}`);
});
