'use strict';
// Hostile paths, queries and request headers against the real binary (raw
// sockets, so the bytes arrive as written): invalid UTF-8, percent-encoding
// tricks (%00, %2F, double encoding, overlong UTF-8), path traversal in channel
// names, CRLF / header injection through clientId and X-Request-Id, and query
// parameters of every wrong shape. Every answer is problem+json with a stable
// code; nothing injected comes back as a header.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const hostile = require('./helpers');

const { request } = hostile;
let h, auth;

before(async () => {
  h = await hostile.start();
  auth = { Authorization: `Bearer ${h.admin}` };
  const put = await h.send(request('PUT', '/v1/channels/cam-1', auth));
  assert.ok([200, 201].includes(put.res.status), put.res.text);
  for (let i = 0; i < 10; i++) {
    const r = await h.send(request('GET', '/v1/channels/cam-1/viewer', auth));
    assert.equal(r.res.status, 200, r.res.text);
  }
  h.baseline();
});

after(async () => { if (h) await h.finish(); });

async function get(target, category, status, code, headers = auth) {
  const r = await h.send(request('GET', target, headers));
  h.count(category);
  try {
    return { r, body: h.problem(r, status, code) };
  } catch (e) {
    throw new Error(`GET ${JSON.stringify(target)}: ${e.message}`);
  }
}

test('invalid UTF-8 in paths and queries', async () => {
  for (const seg of ['%FF', '%C3%28', '%E2%82', '%ED%A0%80', '%F8%88%80%80%80', 'cam%FE-1', '%80'])
    await get(`/v1/channels/${seg}/viewer`, 'invalid UTF-8', 400, 'invalid_channel_name');
  // Raw (unencoded) high bytes in the request line.
  await get('/v1/channels/cam\xff/viewer', 'invalid UTF-8', 400, 'invalid_channel_name');
  await get('/v1/channels/\xc0\xaf', 'invalid UTF-8', 400, 'invalid_channel_name');
  for (const v of ['%FF', '%C3%28', 'alice%ED%A0%80', '\xff'])
    await get(`/v1/channels/cam-1/viewer?clientId=${v}`, 'invalid UTF-8', 400, 'invalid_client_id');
  await get('/v1/channels?prefix=%FF', 'invalid UTF-8', 400, 'invalid_channel_name');
  // The problem's instance is dropped rather than echoed as broken UTF-8.
  const { body } = await get('/v1/nope/%FF', 'invalid UTF-8', 404, 'not_found');
  assert.equal(body.instance, undefined);
  await h.healthy();
});

test('percent-encoding tricks', async () => {
  await get('/v1/channels/cam%00-1/viewer', 'percent-encoding', 400, 'bad_request');
  await get('/v1/channels/cam-1%00/viewer', 'percent-encoding', 400, 'bad_request');
  await get('/healthz%00', 'percent-encoding', 400, 'bad_request');
  // An encoded slash is refused, never a segment separator.
  const slash = await get('/v1/channels/cam-1%2Fviewer', 'percent-encoding', 400, 'bad_request');
  assert.match(slash.body.detail, /encoded slash/);
  await get('/v1/channels/a%2fb', 'percent-encoding', 400, 'bad_request');
  await get('/v1/channels%2Fcam-1', 'percent-encoding', 400, 'bad_request');
  // Double encoding decodes once: the name then holds '%', not a slash.
  await get('/v1/channels/cam-1%252Fviewer', 'percent-encoding', 400, 'invalid_channel_name');
  await get('/v1/channels/%252e%252e/viewer', 'percent-encoding', 400, 'invalid_channel_name');
  // Overlong encodings of '/' and '.': bytes, not characters.
  await get('/v1/channels/%C0%AF/viewer', 'percent-encoding', 400, 'invalid_channel_name');
  await get('/v1/channels/%C0%AE%C0%AE/viewer', 'percent-encoding', 400, 'invalid_channel_name');
  await get('/v1/channels/%E0%80%AF', 'percent-encoding', 400, 'invalid_channel_name');
  // Broken escapes.
  for (const p of ['/v1/channels/cam%', '/v1/channels/cam%4', '/v1/channels/%G0', '/v1/channels/%%30'])
    await get(p, 'percent-encoding', 400, 'bad_request');
  for (const q of ['clientId=%', 'clientId=%ZZ', 'clientId=a%00b', '%00=1', 'clientId=%0'])
    await get(`/v1/channels/cam-1/viewer?${q}`, 'percent-encoding', 400, 'bad_request');
  // Encoded but harmless: an encoded unreserved byte is the byte itself.
  const ok = await h.send(request('GET', '/v1/channels/cam%2D1/viewer', auth));
  h.count('percent-encoding');
  assert.equal(ok.res.status, 200, ok.res.text);
  await h.healthy();
});

test('path traversal in channel names', async () => {
  for (const name of ['..', '.', '%2e%2e', '%2E.', '.%2e'])
    await get(`/v1/channels/${name}/viewer`, 'traversal', 400, 'invalid_channel_name');
  await get('/v1/channels/..', 'traversal', 400, 'invalid_channel_name');
  for (const p of ['/v1/channels/../healthz', '/v1/channels/cam-1/../cam-2/viewer', '/v1/channels/cam-1/viewer/..',
    '/v1/../v1/channels', '/v1/channels/cam-1/./viewer', '//v1/channels/cam-1', '/v1//channels/cam-1',
    '/v1/channels/cam-1/viewer/', '/./healthz', '/v1/channels/cam-1/..%5C/viewer'])
    await get(p, 'traversal', 404, 'not_found');
  await get('/v1/channels/cam-1\\..', 'traversal', 400, 'invalid_channel_name');
  await get('/v1/channels/..\\..\\etc', 'traversal', 400, 'invalid_channel_name');
  const put = await h.send(request('PUT', '/v1/channels/..', auth));
  h.count('traversal');
  h.problem(put, 400, 'invalid_channel_name');
  const del = await h.send(request('DELETE', '/v1/channels/%2e%2e', auth));
  h.count('traversal');
  h.problem(del, 400, 'invalid_channel_name');
  // A 257-byte name, and one made only of dots.
  await get(`/v1/channels/${'a'.repeat(257)}`, 'traversal', 400, 'invalid_channel_name');
  // Dots alone are a valid KVS name (only . and .. are refused): AWS decides.
  await get('/v1/channels/....../viewer', 'traversal', 404, 'channel_not_found');
  await h.healthy();
});

test('CRLF and header injection through clientId and X-Request-Id', async () => {
  for (const v of ['alice%0D%0AX-Injected:%201', 'alice%0AX-Injected:1', 'alice%0D', '%0D%0A%0D%0A<html>',
    'alice%22%3B', 'AWS_x', 'aws_x', 'a'.repeat(257)]) {
    const { r } = await get(`/v1/channels/cam-1/viewer?clientId=${v}`, 'injection', 400, 'invalid_client_id');
    assert.equal(r.res.headers['x-injected'], undefined);
  }
  // Someone else's id is forbidden, not an error of shape.
  await get('/v1/channels/cam-1/viewer?clientId=bob', 'injection', 403, 'forbidden');
  // X-Request-Id: echoed only when sane; else replaced by a random one.
  const sane = await h.send(request('GET', '/healthz', { 'X-Request-Id': 'req-1.a_b:c' }));
  h.count('injection');
  assert.equal(sane.res.headers['x-request-id'], 'req-1.a_b:c');
  for (const v of ['a b', 'a"b', 'a;b=c', '<script>', 'x'.repeat(129), '%0d%0aX-Injected: 1', 'caf\xc3\xa9', '']) {
    const r = await h.send(request('GET', '/v1/nope', { 'X-Request-Id': v }));
    h.count('injection');
    const body = h.problem(r, 404, 'not_found');
    assert.match(r.res.headers['x-request-id'], /^[0-9a-f]{24}$/, `X-Request-Id ${JSON.stringify(v)} was not replaced`);
    assert.equal(body.requestId, r.res.headers['x-request-id']);
    assert.equal(r.res.headers['x-injected'], undefined);
  }
  // Folded header lines are unfolded into one value, never a new header.
  const folded = await h.send('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id: abc\r\n X-Injected: 1\r\n\r\n');
  h.count('injection');
  assert.equal(folded.res.headers['x-injected'], undefined);
  assert.notEqual(folded.res.headers['x-request-id'], 'abc X-Injected: 1');
  // Origin is echoed only when allowed (none are here), whatever it holds.
  const origin = await h.send(request('GET', '/healthz', { Origin: 'https://evil.example' }));
  h.count('injection');
  assert.equal(origin.res.headers['access-control-allow-origin'], undefined);
  await h.healthy();
});

test('query parameters of the wrong shape', async () => {
  const list = '/v1/channels';
  await get(`${list}?limit=0`, 'query', 400, 'bad_request');
  await get(`${list}?limit=101`, 'query', 400, 'bad_request');
  await get(`${list}?limit=-1`, 'query', 400, 'bad_request');
  await get(`${list}?limit=1e2`, 'query', 400, 'bad_request');
  await get(`${list}?limit=0x10`, 'query', 400, 'bad_request');
  await get(`${list}?limit=+5`, 'query', 400, 'bad_request');
  await get(`${list}?limit=`, 'query', 400, 'bad_request');
  await get(`${list}?limit=99999999999999999999999`, 'query', 400, 'bad_request');
  await get(`${list}?limit=1&limit=2`, 'query', 400, 'bad_request');
  await get(`${list}?prefix=../`, 'query', 400, 'invalid_channel_name');
  await get(`${list}?prefix=${'a'.repeat(257)}`, 'query', 400, 'invalid_channel_name');
  await get(`${list}?nextToken=%3Cscript%3E`, 'query', 400, 'bad_request');
  await get(`${list}?nextToken=${'A'.repeat(513)}`, 'query', 400, 'bad_request');
  await get(`/v1/channels/cam-1/viewer?clientId=a&clientId=b`, 'query', 400, 'bad_request');
  const many = Array.from({ length: 17 }, (_, i) => `p${i}=1`).join('&');
  await get(`${list}?${many}`, 'query', 400, 'bad_request');
  await get(`${list}?${'k'.repeat(2000)}=1`, 'query', 400, 'bad_request');
  // Unknown parameters are ignored; an empty query is no query.
  const ok = await h.send(request('GET', `${list}?x=1&&=&y`, auth));
  h.count('query');
  assert.equal(ok.res.status, 200, ok.res.text);
  await h.healthy();
});

test('the suite sent at least 80 hostile requests here', () => {
  const total = Object.values(hostile.counts).reduce((a, b) => a + b, 0);
  assert.ok(total >= 80, `only ${total}`);
});
