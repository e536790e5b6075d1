'use strict';
// Fault knobs (at start with --faults and at run time with PUT
// /_emulator/faults), per-operation counters and the test API: every knob
// does what docs/emulator.md says, counters count exactly, reset resets.
const { test, describe, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { startEmulator } = require('../lib/emulator');
const h = require('./helpers');

const { kv } = h;

// A raw request that also reports a body cut short: resolves
// {status, headers, body, complete} or rejects on a reset before any answer.
function request(url, { method = 'POST', headers = {}, body, timeoutMs = 5000 } = {}) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ method, hostname: u.hostname, port: u.port, path: u.pathname, headers, agent: false }, (res) => {
      const chunks = [];
      let settled = false;
      const finish = (complete) => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('latin1'), complete });
      };
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => finish(true));
      res.on('aborted', () => finish(false));
      res.on('error', () => finish(false));
      res.on('close', () => finish(res.complete));
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('client timeout'), { code: 'TIMEOUT' })));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function describeRaw(emu, name = 'faulty') {
  const signed = await h.smithySigner('kinesisvideo').sign({
    method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port: emu.port, path: '/describeSignalingChannel',
    headers: { host: new URL(emu.url).host, 'content-type': 'application/json' }, body: JSON.stringify({ ChannelName: name }),
  });
  return { headers: signed.headers, body: JSON.stringify({ ChannelName: name }) };
}

describe('fault knobs', () => {
  let emu;
  let client;
  let arn;
  before(async () => {
    emu = await startEmulator();
  });
  after(() => emu.stop());
  beforeEach(async () => {
    await emu.reset();
    client = h.kvsClient(emu);
    arn = await h.createChannel(client, 'faulty');
    await emu.resetCounters();
  });

  const describeCall = (c = client) => c.send(new kv.DescribeSignalingChannelCommand({ ChannelName: 'faulty' }));

  test('throttleRate 1: control plane 400 ClientLimitExceededException, nothing created, counted as throttled', async () => {
    await emu.setFaults({ throttleRate: 1 });
    await assert.rejects(describeCall(), (e) => e.name === 'ClientLimitExceededException' && e.$metadata.httpStatusCode === 400);
    await assert.rejects(h.createChannel(client, 'never'), (e) => e.name === 'ClientLimitExceededException');
    await emu.setFaults({ throttleRate: 0 });
    await assert.rejects(client.send(new kv.DescribeSignalingChannelCommand({ ChannelName: 'never' })), (e) => e.name === 'ResourceNotFoundException');
    const c = (await emu.counters()).operations;
    assert.deepEqual([c.DescribeSignalingChannel.total, c.DescribeSignalingChannel.throttled, c.DescribeSignalingChannel.error], [2, 1, 1]);
    assert.deepEqual([c.CreateSignalingChannel.total, c.CreateSignalingChannel.throttled], [1, 1]);
  });

  test('throttle in every protocol: ICE 400 ClientLimitExceeded, STS 400 Throttling, metadata 429, signaling 400 before upgrade', async () => {
    const ep = await h.endpoints(client, arn, 'VIEWER');
    const wsUrl = await h.presignWithKvsSdk(ep.WSS, arn, 'v');
    await emu.setFaults({ throttleRate: 1 });
    await assert.rejects(h.signalingClient(ep.HTTPS).send(new h.kvsig.GetIceServerConfigCommand({ ChannelARN: arn })),
      (e) => e.name === 'ClientLimitExceededException');
    const sts = await h.rawRequest(`${emu.url}/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=s&WebIdentityToken=a.e30.c' });
    assert.equal(sts.status, 400);
    assert.equal(h.xmlField(sts.body, 'Code'), 'Throttling');
    assert.equal((await h.rawRequest(`${emu.url}/container-credentials`, { headers: { authorization: 'local-container-token' } })).status, 429);
    assert.equal((await h.rawRequest(`${emu.url}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })).status, 429);
    await h.assertRefused(wsUrl, 400);
    const c = (await emu.counters()).operations;
    for (const op of ['GetIceServerConfig', 'AssumeRoleWithWebIdentity', 'ContainerCredentials', 'IMDSToken', 'ConnectAsViewer']) {
      assert.equal(c[op].throttled, 1, op);
    }
  });

  test('operations limits the knobs to the named operations', async () => {
    await emu.setFaults({ throttleRate: 1, operations: ['DescribeSignalingChannel'] });
    await assert.rejects(describeCall(), (e) => e.name === 'ClientLimitExceededException');
    const list = await client.send(new kv.ListSignalingChannelsCommand({}));
    assert.equal(list.ChannelInfoList.length, 1);
  });

  test('errorRate 1: 500 InternalFailure and 503 ServiceUnavailable alternately, counted as error', async () => {
    await emu.setFaults({ errorRate: 1 });
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const d = await describeRaw(emu);
      const r = await request(`${emu.url}/describeSignalingChannel`, d);
      statuses.push([r.status, JSON.parse(r.body).__type]);
    }
    assert.deepEqual(statuses, [[500, 'InternalFailure'], [503, 'ServiceUnavailable'], [500, 'InternalFailure'], [503, 'ServiceUnavailable']]);
    assert.equal(await emu.count('DescribeSignalingChannel', 'error'), 4);
  });

  test('the SDK retries injected 5xx: with maxAttempts 3 and errorRate 1 the emulator sees exactly three calls', async () => {
    await emu.setFaults({ errorRate: 1 });
    const retrying = h.kvsClient(emu, h.CREDS, { maxAttempts: 3 });
    await assert.rejects(describeCall(retrying), (e) => [500, 503].includes(e.$metadata.httpStatusCode));
    assert.equal(await emu.count('DescribeSignalingChannel'), 3);
  });

  test('resetRate 1: the connection is destroyed with no answer (HTTP and WebSocket), counted as reset', async () => {
    const ep = await h.endpoints(client, arn, 'MASTER');
    const wsUrl = await h.presignWithKvsSdk(ep.WSS, arn, null);
    await emu.setFaults({ resetRate: 1 });
    const d = await describeRaw(emu);
    await assert.rejects(request(`${emu.url}/describeSignalingChannel`, d), (e) => ['ECONNRESET'].includes(e.code) || /socket hang up/.test(e.message));
    await assert.rejects(h.connect(wsUrl), (e) => e.status === undefined);
    const c = (await emu.counters()).operations;
    assert.equal(c.DescribeSignalingChannel.reset, 1);
    assert.equal(c.ConnectAsMaster.reset, 1);
  });

  test('latencyMs delays every answer, which still succeeds', async () => {
    await emu.setFaults({ latencyMs: 300 });
    const t0 = Date.now();
    const out = await describeCall();
    assert.ok(Date.now() - t0 >= 290);
    assert.equal(out.ChannelInfo.ChannelARN, arn);
    assert.equal(await emu.count('DescribeSignalingChannel', 'ok'), 1);
  });

  test('stallMs: no answer comes; the client gives up on its own timeout; counted as stalled', async () => {
    await emu.setFaults({ stallMs: 5000 });
    const d = await describeRaw(emu);
    const t0 = Date.now();
    await assert.rejects(request(`${emu.url}/describeSignalingChannel`, { ...d, timeoutMs: 300 }), (e) => e.code === 'TIMEOUT');
    assert.ok(Date.now() - t0 < 2000);
    const sdk = h.kvsClient(emu, h.CREDS, { requestHandler: { requestTimeout: 300, throwOnRequestTimeout: true } });
    const t1 = Date.now();
    await assert.rejects(describeCall(sdk));
    assert.ok(Date.now() - t1 < 2000);
    assert.equal(await emu.count('DescribeSignalingChannel', 'stalled'), 2);
  });

  test('garbageRate 1: a 200 whose body is neither JSON nor XML; the SDK fails to parse it', async () => {
    await emu.setFaults({ garbageRate: 1 });
    const d = await describeRaw(emu);
    const r = await request(`${emu.url}/describeSignalingChannel`, d);
    assert.equal(r.status, 200);
    assert.throws(() => JSON.parse(r.body));
    assert.ok(!r.body.trim().startsWith('<?xml') && !/^<\w+/.test(r.body.trim()));
    await assert.rejects(describeCall());
    assert.equal(await emu.count('DescribeSignalingChannel', 'garbage'), 2);
  });

  test('truncateRate 1: a 200 whose body stops short of its Content-Length', async () => {
    await emu.setFaults({ truncateRate: 1 });
    const d = await describeRaw(emu);
    const r = await request(`${emu.url}/describeSignalingChannel`, d);
    assert.equal(r.status, 200);
    assert.equal(r.complete, false);
    assert.ok(Buffer.byteLength(r.body, 'latin1') < Number(r.headers['content-length']));
    await assert.rejects(describeCall());
    assert.equal(await emu.count('DescribeSignalingChannel', 'truncated'), 2);
  });

  test('clockSkewS shifts the emulator clock: signatures more than 5 minutes off are refused; Date shows the shift', async () => {
    // Fresh clients each time: the SDK corrects its own clock from a refusal.
    const ep = await h.endpoints(client, arn, 'MASTER');
    await emu.setFaults({ clockSkewS: 600 });
    await assert.rejects(describeCall(h.kvsClient(emu)), (e) => e.name === 'InvalidSignatureException' && e.$metadata.httpStatusCode === 403);
    const d = await describeRaw(emu);
    const r = await request(`${emu.url}/describeSignalingChannel`, d);
    assert.equal(r.status, 403);
    assert.ok(Math.abs(Date.parse(r.headers.date) - (Date.now() + 600000)) < 5000);
    await emu.setFaults({ clockSkewS: -600 });
    await h.assertRefused(await h.presignWithKvsSdk(ep.WSS, arn, null), 403);
    await emu.setFaults({ clockSkewS: 240 });
    assert.equal((await describeCall(h.kvsClient(emu))).ChannelInfo.ChannelARN, arn);
    const m = await h.connect(await h.presignWithKvsSdk(ep.WSS, arn, null));
    m.close();
  });

  test('createDelayMs: a new channel is CREATING (no endpoints yet), then ACTIVE', async () => {
    await emu.setFaults({ createDelayMs: 300 });
    const a = await h.createChannel(client, 'slow-create');
    const info = (await client.send(new kv.DescribeSignalingChannelCommand({ ChannelARN: a }))).ChannelInfo;
    assert.equal(info.ChannelStatus, 'CREATING');
    await assert.rejects(h.endpoints(client, a, 'MASTER'), (e) => e.name === 'ResourceInUseException');
    await h.sleep(400);
    assert.equal((await client.send(new kv.DescribeSignalingChannelCommand({ ChannelARN: a }))).ChannelInfo.ChannelStatus, 'ACTIVE');
    assert.ok(await h.endpoints(client, a, 'MASTER'));
  });

  test('deleteDelayMs: a deleted channel is DELETING (name still taken, connections closed), then gone', async () => {
    const ep = await h.endpoints(client, arn, 'MASTER');
    const m = await h.connect(await h.presignWithKvsSdk(ep.WSS, arn, null));
    await emu.setFaults({ deleteDelayMs: 300 });
    await client.send(new kv.DeleteSignalingChannelCommand({ ChannelARN: arn }));
    await m.closed;
    assert.equal((await describeCall()).ChannelInfo.ChannelStatus, 'DELETING');
    await assert.rejects(h.createChannel(client, 'faulty'), (e) => e.name === 'ResourceInUseException');
    await assert.rejects(client.send(new kv.DeleteSignalingChannelCommand({ ChannelARN: arn })), (e) => e.name === 'ResourceInUseException');
    await h.sleep(400);
    await assert.rejects(describeCall(), (e) => e.name === 'ResourceNotFoundException');
  });
});

describe('knob management, counters and the test API', () => {
  let shared;
  before(async () => {
    shared = await startEmulator();
  });
  after(() => shared.stop());

  test('--faults at start applies and shows in GET /_emulator/faults with every knob', async () => {
    const emu = await startEmulator({ faults: { throttleRate: 1, operations: ['ListSignalingChannels'] } });
    try {
      const f = await emu.faults();
      assert.deepEqual(f, {
        throttleRate: 1, errorRate: 0, resetRate: 0, latencyMs: 0, stallMs: 0, garbageRate: 0, truncateRate: 0,
        operations: ['ListSignalingChannels'], iceTtl: 300, credentialTtl: 3600, rejectWebIdentity: false,
        createDelayMs: 0, deleteDelayMs: 0, clockSkewS: 0, quotas: false, quotaScale: 1,
      });
      const client = h.kvsClient(emu);
      await assert.rejects(client.send(new kv.ListSignalingChannelsCommand({})), (e) => e.name === 'ClientLimitExceededException');
      await h.createChannel(client, 'fine');
    } finally {
      await emu.stop();
    }
  });

  test('PUT merges into the current knobs; null restores a default; invalid knobs are 400 and change nothing', async () => {
    const emu = shared;
    await emu.reset();
    await emu.setFaults({ latencyMs: 5, operations: ['AssumeRole'] });
    await emu.setFaults({ errorRate: 0.25 });
    let f = await emu.faults();
    assert.equal(f.latencyMs, 5);
    assert.equal(f.errorRate, 0.25);
    assert.deepEqual(f.operations, ['AssumeRole']);
    await emu.setFaults({ operations: null });
    assert.equal((await emu.faults()).operations, null);
    for (const bad of [{ throttleRate: 2 }, { nope: 1 }, { latencyMs: -1 }, { operations: ['Bogus'] }, { rejectWebIdentity: 'yes' }, [1]]) {
      await assert.rejects(emu.setFaults(bad), /400/);
    }
    f = await emu.faults();
    assert.equal(f.latencyMs, 5);
    assert.equal(f.errorRate, 0.25);
  });

  test('an invalid --faults makes the emulator exit at start', async () => {
    await assert.rejects(startEmulator({ faults: { throttleRate: 7 } }), /exited with 2/);
  });

  test('counters count exactly, per operation and outcome, and reset to zero', async () => {
    const emu = shared;
    await emu.reset();
    const client = h.kvsClient(emu);
    await h.createChannel(client, 'count-me');
    await emu.resetCounters();
    assert.deepEqual(await emu.counters(), { operations: {} });
    await client.send(new kv.DescribeSignalingChannelCommand({ ChannelName: 'count-me' }));
    assert.equal(await emu.count('DescribeSignalingChannel'), 1);
    await assert.rejects(client.send(new kv.DescribeSignalingChannelCommand({ ChannelName: 'absent' })));
    await assert.rejects(h.kvsClient(emu, { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'x' }).send(new kv.DescribeSignalingChannelCommand({ ChannelName: 'count-me' })));
    const c = await emu.counters();
    assert.deepEqual(c, { operations: { DescribeSignalingChannel: { total: 3, ok: 1, throttled: 0, limited: 0, error: 2, reset: 0, stalled: 0, garbage: 0, truncated: 0 } } });
    await emu.resetCounters();
    assert.equal(await emu.count('DescribeSignalingChannel'), 0);
    // Test API calls and unknown paths are not counted.
    await emu.faults();
    await h.rawRequest(`${emu.url}/nothing-here`, { method: 'POST' });
    assert.deepEqual(await emu.counters(), { operations: {} });
  });

  test('POST /_emulator/reset drops channels, connections, issued credentials, counters and faults', async () => {
    const emu = shared;
    await emu.reset();
    const client = h.kvsClient(emu);
    const a = await h.createChannel(client, 'to-drop');
    const ep = await h.endpoints(client, a, 'MASTER');
    const m = await h.connect(await h.presignWithKvsSdk(ep.WSS, a, null));
    const cr = JSON.parse((await h.rawRequest(`${emu.url}/container-credentials`, { headers: { authorization: 'local-container-token' } })).body);
    await emu.setFaults({ latencyMs: 1 });
    await emu.reset();
    await m.closed;
    assert.deepEqual(await emu.counters(), { operations: {} });
    assert.equal((await emu.faults()).latencyMs, 0);
    await assert.rejects(client.send(new kv.DescribeSignalingChannelCommand({ ChannelName: 'to-drop' })), (e) => e.name === 'ResourceNotFoundException');
    const temp = { accessKeyId: cr.AccessKeyId, secretAccessKey: cr.SecretAccessKey, sessionToken: cr.Token };
    await assert.rejects(h.kvsClient(emu, temp).send(new kv.ListSignalingChannelsCommand({})), (e) => e.name === 'UnrecognizedClientException');
  });

  test('GET /_emulator/health answers 200; an unknown test API path is 404', async () => {
    const emu = shared;
    await emu.reset();
    assert.equal((await h.rawRequest(`${emu.url}/_emulator/health`)).status, 200);
    assert.equal((await h.rawRequest(`${emu.url}/_emulator/nope`)).status, 404);
    await assert.rejects(emu.connections('no-such-channel'), /404/);
  });
});
