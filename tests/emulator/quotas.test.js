'use strict';
// The documented KVS request-rate quotas (docs/emulator.md, "Quotas"): off by
// default; with the `quotas` knob (or --quotas) a call over a quota is
// answered 400 ClientLimitExceededException as KVS answers it, counted as
// `limited`, and changes nothing.
//
// Timing: a bucket holds one second's worth of calls and refills
// continuously, so how many calls of a burst get through depends on how long
// the emulator takes to see them all (on a loaded 2-core machine 80 calls
// spread over 60..450 ms, i.e. 3..22 extra tokens at 50 TPS). So the exact
// counts are asserted end to end against an in-process emulator whose quota
// clock is stopped (`quotaNowMs`) and moved by hand; against the spawned
// emulator (real clock) a burst's count is asserted within capacity ..
// capacity + floor(TPS * burst duration), the burst being signed first and
// then sent at once over warmed keep-alive connections.
const { test, describe, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { startEmulator, serverPath } = require('../lib/emulator');
const env = require('../lib/env');
const h = require('./helpers');

const { kv } = h;
const quotasModule = require(path.join(env.sourceDir, 'tools', 'kvs-local', 'quotas.js'));

const LIMITED = 'ClientLimitExceededException';

// Signs a JSON POST with @smithy/signature-v4 (as h.signedRequest does) without sending it.
async function sign(url, body) {
  const u = new URL(url);
  const text = JSON.stringify(body);
  const signed = await h.smithySigner('kinesisvideo').sign({
    method: 'POST', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: u.pathname, query: {},
    headers: { host: u.host, 'content-type': 'application/json' }, body: text,
  });
  return { url, method: 'POST', headers: signed.headers, body: text };
}

// One request on `agent`; resolves {status, headers, body, type (the __type)}.
function send(agent, { url, method = 'GET', headers = {}, body }) {
  const u = new URL(url);
  const all = body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) };
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, method, hostname: u.hostname, port: u.port, path: u.pathname, headers: all }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let type;
        try {
          type = JSON.parse(text).__type;
        } catch (e) {
          type = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, body: text, type });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// Sends `calls` ([{url, body}]) in one burst: all are signed first, one
// keep-alive connection per call is opened beforehand, then all go at once.
// Resolves {results (in order), elapsedMs (first send to last answer)}.
async function burst(emu, calls) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: calls.length });
  try {
    await Promise.all(calls.map(() => send(agent, { url: `${emu.url}/_emulator/health` })));
    const signed = await Promise.all(calls.map((c) => sign(c.url, c.body)));
    const t0 = performance.now();
    const results = await Promise.all(signed.map((r) => send(agent, r)));
    return { results, elapsedMs: performance.now() - t0 };
  } finally {
    agent.destroy();
  }
}

// Asserts that `results` are `ok` 200s and the rest KVS's throttling answer.
function assertSplit(results, ok) {
  const good = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status !== 200);
  assert.equal(good.length, ok);
  for (const r of refused) {
    assert.equal(r.status, 400);
    assert.equal(r.type, LIMITED);
    assert.match(r.headers['x-amzn-errortype'], /^ClientLimitExceededException:/);
    assert.match(JSON.parse(r.body).message, /^Your request has been throttled because you have exceeded the limit of allowed client calls\./);
  }
}

// How many of a burst a bucket of `capacity` refilled at `tps` lets through:
// capacity, plus what refills during the burst. Asserts the bound and answers
// the count, so callers can assert the exact split.
function assertWithinRefill(t, results, { capacity, tps, elapsedMs, ok = (r) => r.status === 200 }) {
  const through = results.filter(ok).length;
  const most = capacity + Math.floor((tps * elapsedMs) / 1000);
  t.diagnostic(`${through} of ${results.length} through in ${elapsedMs.toFixed(1)} ms (capacity ${capacity}, at most ${most})`);
  assert.ok(through >= capacity && through <= most, `${through} through, expected ${capacity}..${most}`);
  return through;
}

const listCalls = (emu, n) => Array.from({ length: n }, () => ({ url: `${emu.url}/listSignalingChannels`, body: {} }));


// The emulator in this process with its quota buckets on `clock.ms`, wrapped
// like tests/lib/emulator.js wraps a spawned one.
async function startWithClock(clock) {
  const { parseArgs, createEmulator } = require(serverPath);
  const emulator = createEmulator({ ...parseArgs(['--port', '0', '--quiet']), quotaNowMs: () => clock.ms });
  const port = await emulator.listen();
  const url = `http://127.0.0.1:${port}`;
  async function api(method, p, body) {
    const res = await fetch(url + p, { method, body: body ? JSON.stringify(body) : undefined });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }
  return {
    url,
    port,
    counters: () => api('GET', '/_emulator/counters'),
    resetCounters: () => api('POST', '/_emulator/counters/reset'),
    faults: () => api('GET', '/_emulator/faults'),
    setFaults: (f) => api('PUT', '/_emulator/faults', f),
    reset: () => api('POST', '/_emulator/reset'),
    connections: (name) => api('GET', `/_emulator/channels/${encodeURIComponent(name)}/connections`),
    stop: () => emulator.close(),
  };
}

const counts = (results) => results.map((r) => r.status);

describe('quotas end to end, with the quota clock stopped', () => {
  const clock = { ms: 1000 };
  let emu;
  let client;
  before(async () => {
    emu = await startWithClock(clock);
  });
  after(() => emu.stop());
  beforeEach(async () => {
    await emu.reset();
    client = h.kvsClient(emu);
  });

  test('account quota: 80 concurrent ListSignalingChannels give exactly 50 ok and 30 ClientLimitExceeded 400, counted as limited; a second later 50 more succeed', async () => {
    await emu.setFaults({ quotas: true });
    const { results } = await burst(emu, listCalls(emu, 80));
    assertSplit(results, 50);
    assert.deepEqual(counts(results).sort(), [...Array(50).fill(200), ...Array(30).fill(400)]);
    const c = (await emu.counters()).operations.ListSignalingChannels;
    assert.deepEqual(c, { total: 80, ok: 50, throttled: 0, limited: 30, error: 0, reset: 0, stalled: 0, garbage: 0, truncated: 0 });
    clock.ms += 999;
    assert.equal(counts((await burst(emu, listCalls(emu, 50))).results).filter((s) => s === 200).length, 49, '49.95 tokens after 999 ms');
    clock.ms += 1000;
    const again = await burst(emu, listCalls(emu, 51));
    assertSplit(again.results, 50);
  });

  test('channel quota: 8 concurrent DescribeSignalingChannel of one channel, by name and by ARN, give 5 ok and 3 limited while another channel\'s Describe succeeds', async () => {
    const arnA = await h.createChannel(client, 'pc-a');
    const arnB = await h.createChannel(client, 'pc-b');
    await emu.setFaults({ quotas: true });
    await emu.resetCounters();
    const url = `${emu.url}/describeSignalingChannel`;
    const calls = [];
    for (let i = 0; i < 8; i++) calls.push({ url, body: i % 2 ? { ChannelARN: arnA } : { ChannelName: 'pc-a' } });
    calls.push({ url, body: { ChannelName: 'pc-b' } });
    const { results } = await burst(emu, calls);
    assertSplit(results.slice(0, 8), 5);
    assert.equal(results[8].status, 200);
    assert.equal(JSON.parse(results[8].body).ChannelInfo.ChannelARN, arnB);
    const c = (await emu.counters()).operations.DescribeSignalingChannel;
    assert.deepEqual([c.total, c.ok, c.limited, c.error], [9, 6, 3, 0]);
  });

  test('the AWS SDK sees a refused call as ClientLimitExceededException with HTTP 400', async () => {
    await h.createChannel(client, 'sdk-limit');
    await emu.setFaults({ quotas: true });
    for (let i = 0; i < 5; i++) await client.send(new kv.DescribeSignalingChannelCommand({ ChannelName: 'sdk-limit' }));
    await assert.rejects(client.send(new kv.DescribeSignalingChannelCommand({ ChannelName: 'sdk-limit' })), (e) => {
      assert.equal(e.name, LIMITED);
      assert.equal(e.$metadata.httpStatusCode, 400);
      return true;
    });
  });

  test('a limited call changes nothing: DeleteSignalingChannel, UpdateSignalingChannel and TagResource over their channel quota', async () => {
    const arn = await h.createChannel(client, 'keep-me');
    // quotaScale 0.2: one call per channel a second for each of these operations.
    await emu.setFaults({ quotas: true, quotaScale: 0.2 });
    const describe = async () => (await client.send(new kv.DescribeSignalingChannelCommand({ ChannelARN: arn }))).ChannelInfo;
    const before = await describe();

    // Delete: a version mismatch takes the token, so the next, valid Delete is refused.
    await assert.rejects(client.send(new kv.DeleteSignalingChannelCommand({ ChannelARN: arn, CurrentVersion: 'wrongversion' })),
      (e) => e.name === 'VersionMismatchException');
    await assert.rejects(client.send(new kv.DeleteSignalingChannelCommand({ ChannelARN: arn, CurrentVersion: before.Version })),
      (e) => e.name === LIMITED && e.$metadata.httpStatusCode === 400);
    // Update: the first changes the TTL (and Version), the second is refused.
    await client.send(new kv.UpdateSignalingChannelCommand({ ChannelARN: arn, CurrentVersion: before.Version, SingleMasterConfiguration: { MessageTtlSeconds: 30 } }));
    const updated = (await client.send(new kv.ListSignalingChannelsCommand({}))).ChannelInfoList[0];
    assert.notEqual(updated.Version, before.Version);
    await assert.rejects(client.send(new kv.UpdateSignalingChannelCommand({ ChannelARN: arn, CurrentVersion: updated.Version, SingleMasterConfiguration: { MessageTtlSeconds: 90 } })),
      (e) => e.name === LIMITED);
    // Tag: the first adds a tag, the second is refused.
    await client.send(new kv.TagResourceCommand({ ResourceARN: arn, Tags: [{ Key: 'first', Value: '1' }] }));
    await assert.rejects(client.send(new kv.TagResourceCommand({ ResourceARN: arn, Tags: [{ Key: 'second', Value: '2' }] })),
      (e) => e.name === LIMITED);

    clock.ms += 1000;
    const after = await describe();
    assert.equal(after.ChannelStatus, 'ACTIVE');
    assert.equal(after.Version, updated.Version);
    assert.equal(after.SingleMasterConfiguration.MessageTtlSeconds, 30);
    assert.deepEqual((await client.send(new kv.ListTagsForResourceCommand({ ResourceARN: arn }))).Tags, { first: '1' });
    const c = (await emu.counters()).operations;
    assert.deepEqual([c.DeleteSignalingChannel.limited, c.DeleteSignalingChannel.error, c.DeleteSignalingChannel.ok], [1, 1, 0]);
    assert.deepEqual([c.UpdateSignalingChannel.limited, c.UpdateSignalingChannel.ok], [1, 1]);
    assert.deepEqual([c.TagResource.limited, c.TagResource.ok], [1, 1]);
    // With the bucket refilled the same Delete goes through.
    await client.send(new kv.DeleteSignalingChannelCommand({ ChannelARN: arn, CurrentVersion: after.Version }));
    assert.deepEqual((await client.send(new kv.ListSignalingChannelsCommand({}))).ChannelInfoList, []);
  });

  test('quotas apply after authentication: badly signed calls are 403 and take no token', async () => {
    await emu.setFaults({ quotas: true, quotaScale: 0.02 }); // ListSignalingChannels: 1 call a second
    const bad = h.kvsClient(emu, { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'wrong' });
    for (let i = 0; i < 3; i++) {
      await assert.rejects(bad.send(new kv.ListSignalingChannelsCommand({})), (e) => e.name === 'InvalidSignatureException');
    }
    await client.send(new kv.ListSignalingChannelsCommand({}));
    await assert.rejects(client.send(new kv.ListSignalingChannelsCommand({})), (e) => e.name === LIMITED);
    const c = (await emu.counters()).operations.ListSignalingChannels;
    assert.deepEqual([c.error, c.ok, c.limited], [3, 1, 1]);
  });

  test('GetIceServerConfig: 5 per channel a second; ConnectAsViewer: 3 per channel a second, refused with a plain 400 before the upgrade', async () => {
    const arn = await h.createChannel(client, 'sig-q');
    const ep = await h.endpoints(client, arn, 'VIEWER');
    const urls = await Promise.all([0, 1, 2, 3].map((i) => h.presignWithKvsSdk(ep.WSS, arn, `viewer-${i}`)));
    await emu.setFaults({ quotas: true });
    await emu.resetCounters();
    const ice = Array.from({ length: 8 }, (_, i) => ({ url: `${ep.HTTPS}/v1/get-ice-server-config`, body: { ChannelARN: arn, ClientId: `c${i}` } }));
    assertSplit((await burst(emu, ice)).results, 5);
    const settled = await Promise.allSettled(urls.map((u) => h.connect(u)));
    const opened = settled.filter((x) => x.status === 'fulfilled');
    const refused = settled.filter((x) => x.status === 'rejected');
    assert.equal(opened.length, 3);
    assert.deepEqual(refused.map((x) => [x.reason.status, JSON.parse(x.reason.body).__type]), [[400, LIMITED]]);
    assert.equal((await emu.connections('sig-q')).viewers.length, 3);
    for (const s of opened) s.value.close();
    const c = (await emu.counters()).operations;
    assert.deepEqual([c.GetIceServerConfig.ok, c.GetIceServerConfig.limited], [5, 3]);
    assert.deepEqual([c.ConnectAsViewer.ok, c.ConnectAsViewer.limited, c.ConnectAsViewer.error], [3, 1, 0]);
  });

  test('DescribeStream: 5 per stream a second, by name and by ARN alike', async () => {
    const { StreamARN } = await client.send(new kv.CreateStreamCommand({ StreamName: 'q-stream', DataRetentionInHours: 1 }));
    await emu.setFaults({ quotas: true });
    const url = `${emu.url}/describeStream`;
    const calls = Array.from({ length: 8 }, (_, i) => ({ url, body: i % 2 ? { StreamARN } : { StreamName: 'q-stream' } }));
    assertSplit((await burst(emu, calls)).results, 5);
  });

  test('JoinStorageSession: 50 per account a second (scaled here to 1), besides the 2 per channel storage.js always enforces', async () => {
    const recording = async (name) => {
      const arn = await h.createChannel(client, name);
      const { StreamARN } = await client.send(new kv.CreateStreamCommand({ StreamName: `${name}-s`, DataRetentionInHours: 1 }));
      await client.send(new kv.UpdateMediaStorageConfigurationCommand({ ChannelARN: arn, MediaStorageConfiguration: { Status: 'ENABLED', StreamARN } }));
      const out = await client.send(new kv.GetSignalingChannelEndpointCommand({
        ChannelARN: arn, SingleMasterChannelEndpointConfiguration: { Protocols: ['WEBRTC'], Role: 'MASTER' },
      }));
      return { arn, webrtc: out.ResourceEndpointList[0].ResourceEndpoint };
    };
    const one = await recording('join-q1');
    const two = await recording('join-q2');
    await emu.setFaults({ quotas: true, quotaScale: 0.02 });
    const join = (ch) => h.signedRequest(`${ch.webrtc}/joinStorageSession`, {
      headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channelArn: ch.arn }),
    });
    assert.equal((await join(one)).status, 200);
    const refused = await join(two);
    assert.equal(refused.status, 400);
    assert.equal(JSON.parse(refused.body).__type, LIMITED);
    const c = (await emu.counters()).operations.JoinStorageSession;
    assert.deepEqual([c.ok, c.limited], [1, 1]);
  });

  test('POST /_emulator/reset refills every bucket', async () => {
    await h.createChannel(client, 'refill');
    await emu.setFaults({ quotas: true });
    for (let i = 0; i < 5; i++) await client.send(new kv.DescribeSignalingChannelCommand({ ChannelName: 'refill' }));
    await assert.rejects(client.send(new kv.DescribeSignalingChannelCommand({ ChannelName: 'refill' })), (e) => e.name === LIMITED);
    await emu.reset();
    await emu.setFaults({ quotas: true });
    await h.createChannel(client, 'refill');
    for (let i = 0; i < 5; i++) await client.send(new kv.DescribeSignalingChannelCommand({ ChannelName: 'refill' }));
    await assert.rejects(client.send(new kv.DescribeSignalingChannelCommand({ ChannelName: 'refill' })), (e) => e.name === LIMITED);
  });

  test('quotas apply to every operation whatever the `operations` knob says', async () => {
    await emu.setFaults({ quotas: true, quotaScale: 0.02, operations: ['AssumeRole'] });
    await client.send(new kv.ListSignalingChannelsCommand({}));
    await assert.rejects(client.send(new kv.ListSignalingChannelsCommand({})), (e) => e.name === LIMITED);
  });
});

describe('quotas in the spawned emulator (real clock)', () => {
  let emu;
  before(async () => {
    emu = await startEmulator();
  });
  after(() => emu.stop());
  beforeEach(() => emu.reset());

  test('quotas are off by default: 80 concurrent ListSignalingChannels all succeed', async () => {
    const f = await emu.faults();
    assert.deepEqual([f.quotas, f.quotaScale], [false, 1]);
    const { results } = await burst(emu, listCalls(emu, 80));
    assert.deepEqual(counts(results), Array(80).fill(200));
    const c = (await emu.counters()).operations.ListSignalingChannels;
    assert.deepEqual([c.total, c.ok, c.limited, c.error], [80, 80, 0, 0]);
  });

  test('account quota: of a burst of 80 ListSignalingChannels, 50 plus what refills during the burst succeed, the rest are ClientLimitExceeded 400; a second later 50 succeed', async (t) => {
    await emu.setFaults({ quotas: true });
    const { results, elapsedMs } = await burst(emu, listCalls(emu, 80));
    const ok = assertWithinRefill(t, results, { capacity: 50, tps: 50, elapsedMs });
    assertSplit(results, ok);
    const c = (await emu.counters()).operations.ListSignalingChannels;
    assert.deepEqual([c.total, c.ok, c.limited, c.error, c.throttled], [80, ok, 80 - ok, 0, 0]);
    await h.sleep(1100);
    assert.deepEqual(counts((await burst(emu, listCalls(emu, 50))).results), Array(50).fill(200), 'the bucket is full again');
  });

  test('channel quota: of 8 concurrent DescribeSignalingChannel of one channel (by name and ARN), 5 plus the refill succeed; another channel is unaffected', async (t) => {
    const client = h.kvsClient(emu);
    const arnA = await h.createChannel(client, 'pc-a');
    await h.createChannel(client, 'pc-b');
    await emu.setFaults({ quotas: true });
    const url = `${emu.url}/describeSignalingChannel`;
    const calls = [];
    for (let i = 0; i < 8; i++) calls.push({ url, body: i % 2 ? { ChannelARN: arnA } : { ChannelName: 'pc-a' } });
    calls.push({ url, body: { ChannelName: 'pc-b' } });
    const { results, elapsedMs } = await burst(emu, calls);
    const ok = assertWithinRefill(t, results.slice(0, 8), { capacity: 5, tps: 5, elapsedMs });
    assertSplit(results.slice(0, 8), ok);
    assert.equal(results[8].status, 200);
  });

  test('the knobs: PUT {"quotas": true} turns quotas on, null turns them off; bad values are 400 and change nothing', async () => {
    assert.equal((await emu.setFaults({ quotas: true, quotaScale: 0.5 })).quotas, true);
    let f = await emu.faults();
    assert.deepEqual([f.quotas, f.quotaScale], [true, 0.5]);
    for (const bad of [{ quotas: 'yes' }, { quotas: 1 }, { quotaScale: 0 }, { quotaScale: -1 }, { quotaScale: '2' }, { quotaScale: 1e6 }]) {
      await assert.rejects(emu.setFaults(bad), /400/, JSON.stringify(bad));
    }
    f = await emu.faults();
    assert.deepEqual([f.quotas, f.quotaScale], [true, 0.5]);
    f = await emu.setFaults({ quotas: null, quotaScale: null });
    assert.deepEqual([f.quotas, f.quotaScale], [false, 1]);
  });
});

describe('switching quotas on at start', () => {
  test('--faults \'{"quotas":true}\' turns them on until a reset', async () => {
    const emu = await startEmulator({ faults: { quotas: true, quotaScale: 0.02 } });
    try {
      const client = h.kvsClient(emu);
      await client.send(new kv.ListSignalingChannelsCommand({}));
      await assert.rejects(client.send(new kv.ListSignalingChannelsCommand({})), (e) => e.name === LIMITED);
      await emu.reset();
      assert.equal((await emu.faults()).quotas, false);
    } finally {
      await emu.stop();
    }
  });

  test('--quotas makes them the default: on at start, after a reset and after PUT {"quotas": null}', async () => {
    const emu = await startEmulator({ args: ['--quotas'] });
    try {
      assert.equal((await emu.faults()).quotas, true);
      await emu.reset();
      assert.equal((await emu.faults()).quotas, true);
      assert.equal((await emu.setFaults({ quotas: false })).quotas, false);
      assert.equal((await emu.setFaults({ quotas: null })).quotas, true);
      await emu.setFaults({ quotaScale: 0.02 });
      const client = h.kvsClient(emu);
      await client.send(new kv.ListSignalingChannelsCommand({}));
      await assert.rejects(client.send(new kv.ListSignalingChannelsCommand({})), (e) => e.name === LIMITED);
    } finally {
      await emu.stop();
    }
  });

  test('an invalid quotaScale in --faults makes the emulator exit at start', async () => {
    await assert.rejects(startEmulator({ faults: { quotaScale: 0 } }), /exited with 2/);
  });
});

describe('the bucket model (quotas.js, with a stopped clock)', () => {
  const { Quotas, QUOTAS, resourceOf } = quotasModule;
  const arnOf = (name) => `arn:aws:kinesisvideo:us-west-2:123456789012:channel/${name}/1700000000000`;
  function make(knobs = {}, options = {}) {
    const clock = { ms: 0 };
    const faults = { get: () => ({ quotas: true, quotaScale: 1, ...knobs }) };
    return { q: new Quotas({ faults, nowMs: () => clock.ms, ...options }), clock };
  }
  const count = (q, op, input, n) => {
    let ok = 0;
    for (let i = 0; i < n; i++) if (q.allow(op, input)) ok++;
    return ok;
  };

  test('the table holds the documented quotas', () => {
    assert.deepEqual(QUOTAS.ListSignalingChannels, { account: 50 });
    assert.deepEqual(QUOTAS.DescribeSignalingChannel, { account: 300, channel: 5 });
    assert.deepEqual(QUOTAS.UpdateMediaStorageConfiguration, { account: 10, channel: 5 });
    assert.deepEqual(QUOTAS.GetSignalingChannelEndpoint, { account: 300 });
    assert.deepEqual(QUOTAS.GetIceServerConfig, { account: 100, channel: 5 });
    assert.deepEqual(QUOTAS.ConnectAsViewer, { channel: 3 });
    assert.equal(QUOTAS.AssumeRole, undefined);
  });

  test('the channel of a call: ChannelName, or the NAME in ChannelARN / ResourceARN / channelArn; a stream ARN is not a channel', () => {
    assert.equal(resourceOf('channel', { ChannelName: 'cam-1' }), 'cam-1');
    assert.equal(resourceOf('channel', { ChannelARN: arnOf('cam-1') }), 'cam-1');
    assert.equal(resourceOf('channel', Buffer.from(JSON.stringify({ ResourceARN: arnOf('cam-1') }))), 'cam-1');
    assert.equal(resourceOf('channel', { channelArn: arnOf('cam-1') }), 'cam-1');
    assert.equal(resourceOf('channel', { ChannelARN: 'arn:aws:kinesisvideo:us-west-2:123456789012:stream/cam-1/1' }), null);
    assert.equal(resourceOf('stream', { StreamARN: 'arn:aws:kinesisvideo:us-west-2:123456789012:stream/cam-1/1' }), 'cam-1');
    assert.equal(resourceOf('channel', Buffer.from('not json')), null);
    assert.equal(resourceOf('channel', { ChannelName: 'has space' }), null);
  });

  test('exactly capacity calls pass at one instant, then one more per 1/TPS seconds', () => {
    const { q, clock } = make();
    assert.equal(count(q, 'ListSignalingChannels', {}, 80), 50);
    clock.ms = 19;
    assert.equal(q.allow('ListSignalingChannels', {}), false);
    clock.ms = 21;
    assert.equal(q.allow('ListSignalingChannels', {}), true);
    assert.equal(q.allow('ListSignalingChannels', {}), false);
    clock.ms = 5000;
    assert.equal(count(q, 'ListSignalingChannels', {}, 80), 50, 'never more than one second\'s worth');
  });

  test('a call refused by its channel bucket takes nothing from the account bucket', () => {
    const { q } = make();
    assert.equal(count(q, 'UpdateMediaStorageConfiguration', { ChannelARN: arnOf('a') }, 6), 5);
    // The account (10) still has 5: a sixth call on 'a' did not take one.
    assert.equal(count(q, 'UpdateMediaStorageConfiguration', { ChannelName: 'b' }, 6), 5);
  });

  test('a call refused by the account bucket takes nothing from its channel bucket', () => {
    const { q, clock } = make();
    for (let i = 0; i < 10; i++) assert.equal(count(q, 'DeleteSignalingChannel', { ChannelARN: arnOf(`c${i}`) }, 5), 5);
    assert.equal(q.allow('DeleteSignalingChannel', { ChannelARN: arnOf('k') }), false);
    clock.ms = 100; // the account gets 5 back; 'k' must still hold all 5
    assert.equal(count(q, 'DeleteSignalingChannel', { ChannelARN: arnOf('k') }, 6), 5);
  });

  test('quotaScale multiplies every TPS; a bucket holds at least one call', () => {
    const { q, clock } = make({ quotaScale: 0.1 });
    assert.equal(count(q, 'ListSignalingChannels', {}, 10), 5);
    assert.equal(count(q, 'ConnectAsMaster', { ChannelARN: arnOf('m') }, 3), 1); // 0.3 TPS
    clock.ms = 3000;
    assert.equal(q.allow('ConnectAsMaster', { ChannelARN: arnOf('m') }), false);
    clock.ms = 3334;
    assert.equal(q.allow('ConnectAsMaster', { ChannelARN: arnOf('m') }), true);
  });

  test('with the switch off nothing is limited and no bucket is kept', () => {
    const { q } = make({ quotas: false });
    assert.equal(count(q, 'ListSignalingChannels', {}, 500), 500);
    assert.deepEqual(q.sizes(), { account: 0, resources: 0 });
  });

  test('the per-channel table stays bounded: full buckets are dropped, then the least recently used', () => {
    const { q, clock } = make({}, { maxResourceBuckets: 3 });
    for (const name of ['n1', 'n2', 'n3', 'n4']) q.allow('DescribeSignalingChannel', { ChannelName: name });
    assert.equal(q.sizes().resources, 3);
    // n1 (least recently used) went; n2 is still counted.
    assert.equal(count(q, 'DescribeSignalingChannel', { ChannelName: 'n2' }, 5), 4);
    clock.ms = 1000; // everything is full again and is dropped on the next overflow
    for (const name of ['n5', 'n6', 'n7', 'n8']) q.allow('DescribeSignalingChannel', { ChannelName: name });
    assert.ok(q.sizes().resources <= 3);
    for (let i = 0; i < 10000; i++) q.allow('DescribeSignalingChannel', { ChannelName: `many-${i}` });
    assert.equal(q.sizes().resources, 3);
  });

  test('reset refills every bucket', () => {
    const { q } = make();
    assert.equal(count(q, 'ListSignalingChannels', {}, 60), 50);
    q.reset();
    assert.equal(count(q, 'ListSignalingChannels', {}, 60), 50);
  });
});
