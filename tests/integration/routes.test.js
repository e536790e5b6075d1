'use strict';
// The real kvsgate binary against the local KVS emulator, every route in turn:
// create (201), create again (200), describe, list with paging, master and
// viewer info, signaling through the signed URLs, delete (204), describe after
// delete (404). Every response is held against openapi.yaml by the client.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate } = require('../lib/kvsgate');
const { client } = require('../lib/client');
const { mint } = require('../lib/tokens');
const signaling = require('../lib/signaling');

let emu, gate, api, admin, viewerTok, masterTok, outsiderTok;
const CH = 'cam-routes-1';

before(async () => {
  emu = await startEmulator();
  gate = await startKvsgate({ emulator: emu });
  api = client(gate.url);
  admin = await mint({ sub: 'admin', kvs: { manage: ['cam-*'], master: ['cam-*'], viewer: ['cam-*'] } });
  masterTok = await mint({ sub: 'camera-1', kvs: { master: ['cam-routes-*'] } });
  viewerTok = await mint({ sub: 'alice', kvs: { viewer: ['cam-routes-*'] } });
  outsiderTok = await mint({ sub: 'mallory', kvs: { viewer: ['other-*'], manage: ['other-*'] } });
});

after(async () => {
  if (gate) await gate.stop();
  if (emu) await emu.stop();
});

test('PUT creates a channel with 201, Location and the Channel shape', async () => {
  const r = await api.put(`/v1/channels/${CH}`, { token: admin, body: { messageTtlSeconds: 30, tags: { team: 'video' } } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.name, CH);
  assert.match(r.json.arn, new RegExp(`^arn:aws:kinesisvideo:us-west-2:\\d+:channel/${CH}/\\d+$`));
  assert.equal(r.json.messageTtlSeconds, 30);
  assert.equal(r.headers.get('location'), `/v1/channels/${CH}`);
});

test('PUT again answers 200 with the existing channel (idempotent)', async () => {
  const r = await api.put(`/v1/channels/${CH}`, { token: admin });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.name, CH);
});

test('GET describes the channel for manage, master and viewer grants alike', async () => {
  for (const t of [admin, masterTok, viewerTok]) {
    const r = await api.get(`/v1/channels/${CH}`, { token: t });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'ACTIVE');
  }
});

test('GET by a caller without a grant for the channel is 403 forbidden', async () => {
  const r = await api.get(`/v1/channels/${CH}`, { token: outsiderTok });
  assert.equal(r.status, 403);
  assert.equal(r.json.code, 'forbidden');
});

test('GET /v1/channels lists managed channels page by page', async () => {
  for (const n of ['cam-list-a', 'cam-list-b', 'cam-list-c']) {
    const r = await api.put(`/v1/channels/${n}`, { token: admin });
    assert.equal(r.status, 201, r.text);
  }
  const names = [];
  let next = null;
  let pages = 0;
  do {
    const q = `/v1/channels?prefix=cam-list-&limit=2${next ? `&nextToken=${encodeURIComponent(next)}` : ''}`;
    const r = await api.get(q, { token: admin });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.channels.length <= 2);
    names.push(...r.json.channels.map((c) => c.name));
    next = r.json.nextToken;
    pages++;
  } while (next && pages < 10);
  assert.deepEqual(names.sort(), ['cam-list-a', 'cam-list-b', 'cam-list-c']);
  assert.ok(pages >= 2);
});

test('listing shows only what the caller manages, and needs a manage grant', async () => {
  const r = await api.get('/v1/channels', { token: outsiderTok });
  assert.equal(r.status, 200);
  assert.ok(r.json.channels.every((c) => c.name.startsWith('other-')));
  const v = await api.get('/v1/channels', { token: viewerTok });
  assert.equal(v.status, 403);
});

let masterInfo, viewerInfo;

test('master info: signed URL, STUN then TURN, no-store, expiry times', async () => {
  const r = await api.get(`/v1/channels/${CH}/master`, { token: masterTok });
  assert.equal(r.status, 200, r.text);
  masterInfo = r.json;
  assert.equal(masterInfo.role, 'MASTER');
  assert.equal(masterInfo.clientId, null);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const url = new URL(masterInfo.url);
  assert.equal(url.searchParams.get('X-Amz-Expires'), '299');
  assert.equal(url.searchParams.get('X-Amz-ClientId'), null);
  assert.equal(url.searchParams.get('X-Amz-ChannelARN'), masterInfo.channelArn);
  const servers = masterInfo.configuration.iceServers;
  assert.deepEqual(servers[0], { urls: ['stun:stun.kinesisvideo.us-west-2.amazonaws.com:443'] });
  assert.ok(servers.length >= 2);
  for (const s of servers.slice(1)) {
    assert.ok(s.urls.every((u) => /^turns?:/.test(u)));
    assert.ok(s.username && s.credential);
  }
  assert.equal(masterInfo.configuration.iceTransportPolicy, 'all');
  const expires = Date.parse(masterInfo.expiresAt);
  assert.ok(Math.abs(expires - (Date.now() + 299000)) < 5000);
  assert.ok(Date.parse(masterInfo.iceServersExpireAt) > Date.now());
  // serverTime: the clock expiresAt was reckoned on (299 s before it, to the second).
  assert.ok(Math.abs(Date.parse(masterInfo.serverTime) - Date.now()) < 5000);
  assert.equal(expires - Date.parse(masterInfo.serverTime), 299000);
});

test('viewer info: the client id is derived from sub; a suffix is allowed', async () => {
  const r = await api.get(`/v1/channels/${CH}/viewer`, { token: viewerTok });
  assert.equal(r.status, 200, r.text);
  viewerInfo = r.json;
  assert.equal(viewerInfo.clientId, 'alice');
  assert.equal(new URL(viewerInfo.url).searchParams.get('X-Amz-ClientId'), 'alice');
  const s = await api.get(`/v1/channels/${CH}/viewer?clientId=alice.tab2`, { token: viewerTok });
  assert.equal(s.status, 200, s.text);
  assert.equal(s.json.clientId, 'alice.tab2');
});

test("viewer info refuses another viewer's client id (403) and a malformed one (400)", async () => {
  const r = await api.get(`/v1/channels/${CH}/viewer?clientId=bob`, { token: viewerTok });
  assert.equal(r.status, 403);
  assert.equal(r.json.code, 'forbidden');
  const b = await api.get(`/v1/channels/${CH}/viewer?clientId=AWS_x`, { token: viewerTok });
  assert.equal(b.status, 400);
  assert.equal(b.json.code, 'invalid_client_id');
});

test('a viewer asking for master info is 403', async () => {
  const r = await api.get(`/v1/channels/${CH}/master`, { token: viewerTok });
  assert.equal(r.status, 403);
});

test('the signed URLs open at the emulator, which verifies them, and SDP crosses both ways', async () => {
  const master = await signaling.open(masterInfo.url);
  const viewer = await signaling.open(viewerInfo.url);
  viewer.send('SDP_OFFER', { type: 'offer', sdp: 'v=0 offer-from-alice' });
  const offer = await master.next((m) => m.messageType === 'SDP_OFFER');
  assert.equal(offer.senderClientId, 'alice');
  assert.equal(master.decode(offer).sdp, 'v=0 offer-from-alice');
  master.send('SDP_ANSWER', { type: 'answer', sdp: 'v=0 answer-to-alice' }, 'alice');
  const answer = await viewer.next((m) => m.messageType === 'SDP_ANSWER');
  assert.equal(viewer.decode(answer).sdp, 'v=0 answer-to-alice');
  viewer.send('ICE_CANDIDATE', { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0' });
  const cand = await master.next((m) => m.messageType === 'ICE_CANDIDATE');
  assert.equal(cand.senderClientId, 'alice');
  await master.close();
  await viewer.close();
});

test('a tampered signed URL is refused by the emulator with 403', async () => {
  const u = new URL(viewerInfo.url);
  const sig = u.searchParams.get('X-Amz-Signature');
  u.searchParams.set('X-Amz-Signature', (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1));
  await assert.rejects(signaling.open(u.toString()), (e) => e.status === 403);
});

test('DELETE answers 204, then describe is 404 channel_not_found', async () => {
  const d = await api.del(`/v1/channels/${CH}`, { token: admin });
  assert.equal(d.status, 204, d.text);
  assert.equal(d.text, '');
  const g = await api.get(`/v1/channels/${CH}`, { token: admin });
  assert.equal(g.status, 404);
  assert.equal(g.json.code, 'channel_not_found');
  const again = await api.del(`/v1/channels/${CH}`, { token: admin });
  assert.equal(again.status, 404);
});

test('unknown paths are 404 not_found; wrong methods are 405 with Allow', async () => {
  const r = await api.get('/v2/nothing', { token: admin });
  assert.equal(r.status, 404);
  assert.equal(r.json.code, 'not_found');
  const m = await api.request('POST', `/v1/channels/${CH}`, { token: admin });
  assert.equal(m.status, 405);
  assert.equal(m.json.code, 'method_not_allowed');
  assert.equal(m.headers.get('allow'), 'PUT, GET, DELETE, HEAD, OPTIONS');
  const h = await api.request('PATCH', '/healthz');
  assert.equal(h.status, 405);
});

test('operations: healthz, readyz, metrics and the built-in spec', async () => {
  const h = await api.get('/healthz');
  assert.equal(h.status, 200);
  assert.equal(h.json.status, 'ok');
  const r = await api.get('/readyz');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { status: 'ready', credentials: true, jwtKeys: true, draining: false, clockOffsetSeconds: 0 });
  const m = await api.get('/metrics');
  assert.equal(m.status, 200);
  assert.match(m.text, /kvsgate_http_requests_total\{route="\/v1\/channels\/\{name\}",method="PUT",status="201"\} \d+/);
  const s = await api.get('/openapi.yaml');
  assert.equal(s.status, 200);
  assert.equal(s.text, require('node:fs').readFileSync(require('../lib/openapi').specPath, 'utf8'));
});

test('X-Request-Id is echoed when sane and replaced when not', async () => {
  const a = await api.get('/healthz', { headers: { 'x-request-id': 'trace-123.abc' } });
  assert.equal(a.headers.get('x-request-id'), 'trace-123.abc');
  const b = await api.get('/healthz', { headers: { 'x-request-id': 'bad id with spaces' } });
  assert.match(b.headers.get('x-request-id'), /^[0-9a-f]{24}$/);
});

// The drift of issue 17: iceServersExpireAt once used a fixed 30 s margin while
// the cache used KVSGATE_ICE_REFRESH_MARGIN_S. With TURN credentials of 300 s
// and a 100 s margin, they are handed out until 200 s after the fetch.
test('iceServersExpireAt is the TURN TTL minus KVSGATE_ICE_REFRESH_MARGIN_S', async () => {
  const e = await startEmulator({ iceTtl: 300 });
  const g = await startKvsgate({ emulator: e, env: { KVSGATE_ICE_REFRESH_MARGIN_S: '100' } });
  try {
    const c = client(g.url);
    assert.equal((await c.put('/v1/channels/cam-margin', { token: admin })).status, 201);
    const before = Math.floor(Date.now() / 1000);
    const r = await c.get('/v1/channels/cam-margin/master', { token: admin });
    assert.equal(r.status, 200, r.text);
    const after = Math.ceil(Date.now() / 1000);
    const at = Date.parse(r.json.iceServersExpireAt) / 1000;
    assert.ok(at >= before + 200 - 1 && at <= after + 200, `iceServersExpireAt ${r.json.iceServersExpireAt} is not fetch + 300 - 100`);
  } finally {
    await g.stop();
    await e.stop();
  }
});
