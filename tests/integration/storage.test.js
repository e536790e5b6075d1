'use strict';
// WebRTC ingestion through the real binary against the emulator: the media
// storage configuration (GET/PUT, the stream by ARN or by name, the refusals:
// no such stream, no retention, a stream another channel records, not the
// owner, bad bodies), ConnectionInfo's `storage`, and the storage-session
// joins (202; refused without the grant, for a channel that does not record,
// past kvsgate's own limit with Retry-After, when AWS throttles, and for a
// region without ingestion). Every answer is held against openapi.yaml
// (tests/lib/client.js). The browser suite proves media flows.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const kv = require('@aws-sdk/client-kinesis-video');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate } = require('../lib/kvsgate');
const { client } = require('../lib/client');
const { mint } = require('../lib/tokens');

let emu, gate, api, kvs;
const tok = (sub, kvsGrants, extra = {}) => mint({ sub, kvs: kvsGrants, ...extra });
let owner, other, master, viewer, nobody;

before(async () => {
  emu = await startEmulator();
  gate = await startKvsgate({ emulator: emu, env: { KVSGATE_RATE_LIMIT_RPS: '0', KVSGATE_AUTH_FAILURE_RPS: '0' } });
  api = client(gate.url);
  kvs = new kv.KinesisVideoClient({ region: emu.region, endpoint: emu.url, credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'SECRETLOCAL' }, maxAttempts: 1 });
  owner = await tok('owner-1', { manage: ['rec-*'] });
  other = await tok('other-1', { manage: ['rec-*'] });
  master = await tok('cam-1', { master: ['rec-*'] });
  viewer = await tok('watcher', { viewer: ['rec-*'] });
  nobody = await tok('nobody', { viewer: ['elsewhere'] });
});

after(async () => {
  if (gate) await gate.stop();
  if (emu) await emu.stop();
});

async function stream(name, retention = 24) {
  return (await kvs.send(new kv.CreateStreamCommand({ StreamName: name, DataRetentionInHours: retention }))).StreamARN;
}

async function channel(name) {
  const r = await api.put(`/v1/channels/${name}`, { token: owner });
  assert.equal(r.status, 201, r.text);
  return r.json.arn;
}

const put = (name, body, token = owner) => api.put(`/v1/channels/${name}/media-storage`, { token, body });

test('media storage: off by default, on by stream ARN or name, off again; the answer says so', async () => {
  const arn = await channel('rec-1');
  let r = await api.get('/v1/channels/rec-1/media-storage', { token: owner });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { channelName: 'rec-1', channelArn: arn, enabled: false, streamArn: null });
  const s1 = await stream('rec-1-video');
  r = await put('rec-1', { enabled: true, streamArn: s1 });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { channelName: 'rec-1', channelArn: arn, enabled: true, streamArn: s1 });
  assert.deepEqual((await api.get('/v1/channels/rec-1/media-storage', { token: owner })).json.streamArn, s1);
  r = await put('rec-1', { enabled: false });
  assert.equal(r.json.enabled, false);
  r = await put('rec-1', { enabled: true, streamName: 'rec-1-video' });
  assert.equal(r.json.streamArn, s1);
  const cfg = await kvs.send(new kv.DescribeMediaStorageConfigurationCommand({ ChannelARN: arn }));
  assert.deepEqual(cfg.MediaStorageConfiguration, { Status: 'ENABLED', StreamARN: s1 });
});

test('media storage refusals: the stream, its retention, its channel, the owner, the body, the grant', async () => {
  await channel('rec-2');
  await channel('rec-3');
  const noRetention = await stream('rec-2-none', 0);
  const s = await stream('rec-2-video');
  const code = (r) => [r.status, r.json && r.json.code];
  assert.deepEqual(code(await put('rec-2', { enabled: true, streamName: 'rec-2-missing' })), [404, 'stream_not_found']);
  assert.deepEqual(code(await put('rec-2', { enabled: true, streamArn: noRetention })), [400, 'stream_without_retention']);
  assert.deepEqual(code(await put('rec-2', { enabled: true, streamArn: s })), [200, undefined]);
  assert.deepEqual(code(await put('rec-3', { enabled: true, streamArn: s })), [409, 'channel_not_active']);
  assert.deepEqual(code(await put('rec-2', { enabled: false }, other)), [403, 'forbidden']);
  for (const body of [{}, { enabled: 'yes' }, { enabled: true }, { enabled: true, streamArn: s, streamName: 'x' },
    { enabled: false, streamName: 'x' }, { enabled: true, streamArn: 'not-an-arn' }, { enabled: true, streamName: 'bad name' },
    { enabled: true, streamName: 'x', extra: 1 }]) {
    assert.deepEqual(code(await put('rec-2', body)), [400, 'bad_request'], JSON.stringify(body));
  }
  assert.deepEqual(code(await api.get('/v1/channels/rec-2/media-storage', { token: master })), [403, 'forbidden']);
  assert.deepEqual(code(await api.get('/v1/channels/rec-none/media-storage', { token: owner })), [404, 'channel_not_found']);
});

test('ConnectionInfo carries storage for a channel that records, and nothing for one that does not', async () => {
  const arn = await channel('rec-4');
  let info = await api.get('/v1/channels/rec-4/master', { token: master });
  assert.equal(info.status, 200);
  assert.equal(info.json.storage, undefined);
  const s = await stream('rec-4-video');
  await put('rec-4', { enabled: true, streamArn: s });
  info = await api.get('/v1/channels/rec-4/master', { token: master });
  assert.deepEqual(info.json.storage, { enabled: true, streamArn: s });
  info = await api.get('/v1/channels/rec-4/viewer', { token: viewer });
  assert.deepEqual(info.json.storage, { enabled: true, streamArn: s });
  assert.equal(info.json.channelArn, arn);
});

test('joins: 202 for master and viewer with the caller\'s id; the grant, storage and client id rules apply', async () => {
  await channel('rec-5');
  const code = (r) => [r.status, r.json && r.json.code];
  assert.deepEqual(code(await api.request('POST', '/v1/channels/rec-5/master/storage-session', { token: master })), [409, 'storage_disabled']);
  await put('rec-5', { enabled: true, streamArn: await stream('rec-5-video') });
  const before = await emu.count('JoinStorageSession', 'ok');
  const m = await api.request('POST', '/v1/channels/rec-5/master/storage-session', { token: master });
  assert.equal(m.status, 202, m.text);
  assert.deepEqual({ ...m.json, channelArn: undefined }, { channelName: 'rec-5', channelArn: undefined, role: 'MASTER', clientId: null, retryAfterSeconds: 6 });
  assert.equal(await emu.count('JoinStorageSession', 'ok'), before + 1);
  const v = await api.request('POST', '/v1/channels/rec-5/viewer/storage-session?clientId=watcher.tab2', { token: viewer });
  assert.equal(v.status, 202, v.text);
  assert.equal(v.json.clientId, 'watcher.tab2');
  assert.equal(v.json.role, 'VIEWER');
  assert.deepEqual(code(await api.request('POST', '/v1/channels/rec-5/viewer/storage-session?clientId=someone-else', { token: viewer })), [403, 'forbidden']);
  assert.deepEqual(code(await api.request('POST', '/v1/channels/rec-5/master/storage-session', { token: viewer })), [403, 'forbidden']);
  assert.deepEqual(code(await api.request('POST', '/v1/channels/rec-5/viewer/storage-session', { token: nobody })), [403, 'forbidden']);
  assert.deepEqual(code(await api.request('POST', '/v1/channels/rec-5/master/storage-session', { token: null })), [401, 'unauthenticated']);
  const access = gate.logs.filter((l) => l.event === 'access' && l.route === '/v1/channels/{name}/viewer/storage-session' && l.status === 202);
  await gate.waitForLog((l) => l.event === 'access' && l.route === '/v1/channels/{name}/viewer/storage-session' && l.status === 202);
  assert.ok(access.length <= 1);
});

test('kvsgate limits joins per channel and role (429 with Retry-After) before AWS throttles; AWS throttling is 503', async () => {
  await channel('rec-6');
  await put('rec-6', { enabled: true, streamArn: await stream('rec-6-video') });
  const post = () => api.request('POST', '/v1/channels/rec-6/master/storage-session', { token: master });
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await post()).status);
  assert.deepEqual(statuses, [202, 202, 429]);
  const limited = await post();
  assert.equal(limited.json.code, 'rate_limited');
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  // the viewer role has its own budget
  assert.equal((await api.request('POST', '/v1/channels/rec-6/viewer/storage-session', { token: viewer })).status, 202);
  // AWS's own throttle (forced by the emulator) is answered 503 with Retry-After and not retried
  await new Promise((r) => setTimeout(r, 2100));
  const calls = await emu.count('JoinStorageSession');
  await emu.setFaults({ throttleRate: 1, operations: ['JoinStorageSession'] });
  try {
    const r = await post();
    assert.equal(r.status, 503);
    assert.equal(r.json.code, 'upstream_throttled');
    assert.ok(r.headers.get('retry-after'));
    assert.equal(await emu.count('JoinStorageSession'), calls + 1, 'a join is never retried');
  } finally {
    await emu.setFaults({ throttleRate: 0, operations: null });
  }
});

test('storage turned off under a cached configuration: the join is refused as storage_disabled', async () => {
  const arn = await channel('rec-7');
  await put('rec-7', { enabled: true, streamArn: await stream('rec-7-video') });
  assert.equal((await api.request('POST', '/v1/channels/rec-7/master/storage-session', { token: master })).status, 202);
  // behind kvsgate's back
  await kvs.send(new kv.UpdateMediaStorageConfigurationCommand({ ChannelARN: arn, MediaStorageConfiguration: { Status: 'DISABLED' } }));
  await new Promise((r) => setTimeout(r, 1100));
  const r = await api.request('POST', '/v1/channels/rec-7/master/storage-session', { token: master });
  assert.equal(r.status, 409);
  assert.equal(r.json.code, 'storage_disabled');
  // and the next connection info knows it
  assert.equal((await api.get('/v1/channels/rec-7/master', { token: master })).json.storage, undefined);
});

test('a region without WebRTC ingestion answers 501 and never asks AWS', async () => {
  const cn = await startEmulator({ region: 'cn-north-1' });
  const g = await startKvsgate({ emulator: cn });
  try {
    const c = client(g.url);
    const t = await tok('owner-1', { manage: ['rec-*'], master: ['rec-*'] });
    assert.equal((await c.put('/v1/channels/rec-cn', { token: t })).status, 201);
    const r = await c.get('/v1/channels/rec-cn/media-storage', { token: t });
    assert.deepEqual([r.status, r.json.code], [501, 'unsupported_in_region']);
    const j = await c.request('POST', '/v1/channels/rec-cn/master/storage-session', { token: t });
    assert.deepEqual([j.status, j.json.code], [501, 'unsupported_in_region']);
    assert.equal((await c.get('/v1/channels/rec-cn/master', { token: t })).json.storage, undefined);
    assert.equal(await cn.count('DescribeMediaStorageConfiguration'), 0);
  } finally {
    await g.stop();
    await cn.stop();
  }
});
