'use strict';
// Production behaviour against the emulator's counters and fault knobs:
// single-flight caches, warm requests that make no AWS call, throttling and
// failures with retries under the request deadline, degraded modes, recovery,
// and TURN credentials that are never handed out expired.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate } = require('../lib/kvsgate');
const { client } = require('../lib/client');
const { mint } = require('../lib/tokens');

let emu, gate, api, admin;
const DEADLINE_MS = 2000;

before(async () => {
  emu = await startEmulator();
  gate = await startKvsgate({
    emulator: emu,
    env: {
      KVSGATE_RATE_LIMIT_RPS: '0', // one subject fires hundreds of requests here
      KVSGATE_REQUEST_DEADLINE_MS: String(DEADLINE_MS),
      KVSGATE_AWS_CALL_TIMEOUT_MS: '800',
      KVSGATE_AWS_MAX_ATTEMPTS: '4',
      KVSGATE_UPSTREAM_WORKERS: '64',
      KVSGATE_ACCESS_LOG: 'false',
    },
  });
  api = client(gate.url);
  admin = await mint({ sub: 'admin', kvs: { manage: ['*'], master: ['*'], viewer: ['*'] } }, { ttl: 3600 });
});

after(async () => {
  if (gate) await gate.stop();
  if (emu) await emu.stop();
});

async function createChannel(name) {
  const r = await api.put(`/v1/channels/${name}`, { token: admin });
  assert.ok([200, 201].includes(r.status), r.text);
}

test('200 concurrent first requests make exactly one call per AWS operation', async () => {
  await createChannel('cam-flight');
  await emu.resetCounters();
  const rs = await Promise.all(Array.from({ length: 200 }, () =>
    api.get('/v1/channels/cam-flight/viewer', { token: admin })));
  for (const r of rs) assert.equal(r.status, 200, r.text);
  assert.equal(await emu.count('DescribeSignalingChannel'), 1);
  assert.equal(await emu.count('GetSignalingChannelEndpoint'), 1);
  assert.equal(await emu.count('GetIceServerConfig'), 1);
  // every answer carries its own freshly signed URL
  assert.equal(new Set(rs.map((r) => r.json.url)).size >= 1, true);
});

test('repeated requests within the TTLs make no AWS call', async () => {
  await emu.resetCounters();
  for (let i = 0; i < 50; i++) {
    const r = await api.get('/v1/channels/cam-flight/viewer', { token: admin });
    assert.equal(r.status, 200);
  }
  const m = await api.get('/v1/channels/cam-flight/master', { token: admin });
  assert.equal(m.status, 200);
  const c = await emu.counters();
  const total = Object.values(c.operations).reduce((n, o) => n + o.total, 0);
  // the master role needs its own endpoint and ICE servers, nothing else
  assert.equal(await emu.count('DescribeSignalingChannel'), 0);
  assert.equal(await emu.count('GetSignalingChannelEndpoint'), 1);
  assert.equal(await emu.count('GetIceServerConfig'), 1);
  assert.equal(total, 2);
});

test('with every call throttled, warm requests succeed and cold ones fail fast with Retry-After', async () => {
  await createChannel('cam-cold-1');
  await emu.setFaults({ throttleRate: 1 });
  try {
    const warm = await api.get('/v1/channels/cam-flight/viewer', { token: admin });
    assert.equal(warm.status, 200, warm.text);
    const t0 = Date.now();
    const cold = await api.get('/v1/channels/cam-cold-1/viewer', { token: admin });
    const took = Date.now() - t0;
    assert.equal(cold.status, 503, cold.text);
    assert.equal(cold.json.code, 'upstream_throttled');
    assert.ok(Number(cold.headers.get('retry-after')) >= 1);
    assert.ok(took < DEADLINE_MS + 1000, `took ${took} ms`);
  } finally {
    await emu.setFaults({ throttleRate: 0 });
  }
});

test('with 30% 5xx and connection resets, retries make most cold requests succeed', async () => {
  const names = Array.from({ length: 20 }, (_, i) => `cam-flaky-${i}`);
  for (const n of names) await createChannel(n);
  await emu.setFaults({ errorRate: 0.3, resetRate: 0.3, operations: ['DescribeSignalingChannel', 'GetSignalingChannelEndpoint', 'GetIceServerConfig'] });
  let ok = 0;
  try {
    const rs = await Promise.all(names.map((n) => api.get(`/v1/channels/${n}/viewer`, { token: admin })));
    for (const r of rs) {
      if (r.status === 200) ok++;
      else {
        // 5xx and resets past the retries: upstream_unavailable, never a
        // refusal (502) or a timeout (504: no latency is injected).
        assert.equal(r.status, 503, r.text);
        assert.equal(r.json.code, 'upstream_unavailable', r.text);
      }
    }
  } finally {
    await emu.setFaults({ errorRate: 0, resetRate: 0, operations: null });
  }
  assert.ok(ok >= 14, `only ${ok} of 20 succeeded`);
  const c = await emu.counters();
  assert.ok(c.operations.DescribeSignalingChannel.total > 20, 'retries happened');
});

test('after faults stop, the service recovers by itself', async () => {
  for (let i = 0; i < 20; i++) {
    const r = await api.get(`/v1/channels/cam-flaky-${i}/master`, { token: admin });
    assert.equal(r.status, 200, r.text);
  }
  const ready = await api.get('/readyz');
  assert.equal(ready.status, 200);
});

test('a stall past the deadline answers 504 upstream_timeout, never a hang', async () => {
  await createChannel('cam-stall');
  await emu.setFaults({ stallMs: 60000, operations: ['DescribeSignalingChannel'] });
  try {
    const t0 = Date.now();
    const r = await api.get('/v1/channels/cam-stall/viewer', { token: admin });
    const took = Date.now() - t0;
    assert.equal(r.status, 504, r.text);
    assert.equal(r.json.code, 'upstream_timeout');
    assert.ok(took < DEADLINE_MS + 1500, `took ${took} ms`);
  } finally {
    await emu.setFaults({ stallMs: 0, operations: null });
  }
});

test('TURN failing with nothing cached: STUN only, said in a header', async () => {
  await createChannel('cam-stun-only');
  await emu.setFaults({ errorRate: 1, operations: ['GetIceServerConfig'] });
  try {
    const r = await api.get('/v1/channels/cam-stun-only/viewer', { token: admin });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-kvsgate-ice'), 'stun-only');
    assert.equal(r.json.configuration.iceServers.length, 1);
    assert.match(r.json.configuration.iceServers[0].urls[0], /^stun:/);
  } finally {
    await emu.setFaults({ errorRate: 0, operations: null });
  }
  const again = await api.get('/v1/channels/cam-stun-only/viewer', { token: admin });
  assert.equal(again.headers.get('x-kvsgate-ice'), null);
  assert.ok(again.json.configuration.iceServers.length > 1);
});

test('a deleted channel is forgotten: connection info is 404 at once', async () => {
  await createChannel('cam-gone');
  assert.equal((await api.get('/v1/channels/cam-gone/viewer', { token: admin })).status, 200);
  assert.equal((await api.del('/v1/channels/cam-gone', { token: admin })).status, 204);
  const r = await api.get('/v1/channels/cam-gone/viewer', { token: admin });
  assert.equal(r.status, 404);
});

test('TURN credentials are never handed out expired or about to expire', async () => {
  await createChannel('cam-ttl');
  await emu.setFaults({ iceTtl: 33 }); // 3 s past the 30 s margin
  try {
    await emu.resetCounters();
    const deadline = Date.now() + 7000;
    let n = 0;
    while (Date.now() < deadline) {
      const r = await api.get('/v1/channels/cam-ttl/viewer', { token: admin });
      assert.equal(r.status, 200, r.text);
      const now = Math.floor(Date.now() / 1000);
      for (const s of r.json.configuration.iceServers.slice(1)) {
        const expiry = Number(s.username.split(':')[0]);
        assert.ok(expiry - now >= 29, `TURN credentials with ${expiry - now} s left were handed out`);
      }
      assert.ok(Date.parse(r.json.iceServersExpireAt) >= Date.now() - 1000);
      n++;
      await new Promise((res) => setTimeout(res, 250));
    }
    assert.ok(n > 10);
    assert.ok(await emu.count('GetIceServerConfig') >= 2, 'the short-lived credentials were refetched');
  } finally {
    await emu.setFaults({ iceTtl: 300 });
  }
});

test('a subject past its rate limit gets 429 with Retry-After', async () => {
  const limited = await startKvsgate({ emulator: emu, env: { KVSGATE_RATE_LIMIT_RPS: '1', KVSGATE_RATE_LIMIT_BURST: '3' } });
  try {
    const lapi = client(limited.url);
    const tok = await mint({ sub: 'hasty', kvs: { viewer: ['cam-flight'] } });
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await lapi.get('/v1/channels/cam-flight', { token: tok })).status);
    assert.deepEqual(statuses.slice(0, 3), [200, 200, 200]);
    const last = await lapi.get('/v1/channels/cam-flight', { token: tok });
    assert.equal(last.status, 429);
    assert.equal(last.json.code, 'rate_limited');
    assert.ok(Number(last.headers.get('retry-after')) >= 1);
    const other = await mint({ sub: 'patient', kvs: { viewer: ['cam-flight'] } });
    assert.equal((await lapi.get('/v1/channels/cam-flight', { token: other })).status, 200);
  } finally {
    await limited.stop();
  }
});
