'use strict';
// Three kvsgate replicas sharing a real redis-server (Debian's package),
// against the emulator: one AWS call per key across replicas, invalidation
// that reaches every replica within a second (checked by opening the URLs at
// the emulator), a subject's rate limit across replicas, and a Redis killed
// under load and started again without one failed request.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate } = require('../lib/kvsgate');
const { startRedis } = require('../lib/redis');
const { client } = require('../lib/client');
const { mint } = require('../lib/tokens');
const { metric, sum } = require('../lib/metrics');
const signaling = require('../lib/signaling');
const { kvsClient, createChannel } = require('../emulator/helpers');

const REDIS_KEY = 'test-only redis value key, 32+ bytes long';
const RATE = 10;
const BURST = 10;

let emu, redis, admin, viewer;
const replicas = [];

async function replica(env = {}) {
  const g = await startKvsgate({
    emulator: emu,
    env: {
      KVSGATE_REDIS_URL: redis.url,
      KVSGATE_REDIS_KEY: REDIS_KEY,
      KVSGATE_ACCESS_LOG: 'false',
      KVSGATE_RATE_LIMIT_RPS: String(RATE),
      KVSGATE_RATE_LIMIT_BURST: String(BURST),
      ...env,
    },
  });
  replicas.push(g);
  return g;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  emu = await startEmulator({ faults: { quotas: true } }); // KVS's documented quotas
  redis = await startRedis();
  for (let i = 0; i < 3; i++) await replica();
  // Every test subject its own sub: the rate limit is per subject.
  admin = await mint({ sub: 'admin', kvs: { manage: ['*'], master: ['*'], viewer: ['*'] } }, { ttl: 3600 });
});

after(async () => {
  for (const g of replicas) await g.stop();
  if (redis) await redis.stop();
  if (emu) await emu.stop();
});

// A token of its own per request batch keeps these tests clear of the rate limit.
async function viewerToken(sub) {
  return mint({ sub, kvs: { viewer: ['*'] } }, { ttl: 3600 });
}

test('30 cold channels requested through all three replicas at once make 30 Describe and 30 endpoint calls', async () => {
  const aws = kvsClient(emu);
  const names = Array.from({ length: 30 }, (_, i) => `rc-${String(i).padStart(2, '0')}`);
  await Promise.all(names.map((n) => createChannel(aws, n)));
  await emu.resetCounters();
  const tokens = await Promise.all(names.map((n) => viewerToken(`cold-${n}`)));
  const rs = await Promise.all(names.flatMap((n, i) => replicas.slice(0, 3).map((g) =>
    client(g.url).get(`/v1/channels/${n}/viewer`, { token: tokens[i] }))));
  assert.deepEqual(rs.map((r) => r.status), Array(90).fill(200), rs.find((r) => r.status !== 200)?.text);
  const shared = {};
  for (const g of replicas.slice(0, 3))
    for (const [k, v] of Object.entries(await metric(g, 'kvsgate_shared_requests_total'))) shared[k] = (shared[k] || 0) + v;
  assert.equal(await emu.count('DescribeSignalingChannel'), 30);
  assert.equal(await emu.count('GetSignalingChannelEndpoint'), 30);
  assert.equal(await emu.count('GetIceServerConfig'), 30);
  assert.equal(await emu.limited(), 0);
  assert.equal(shared['{cache="channel",result="load"}'], 30, JSON.stringify(shared));
});

test('a channel deleted and created again through A: within a second B and C hand out the new ARN', async () => {
  const [a, b, c] = replicas;
  const name = 'rc-recreated';
  const put = await client(a.url).put(`/v1/channels/${name}`, { token: admin });
  assert.equal(put.status, 201, put.text);
  const oldArn = put.json.arn;
  const tok = await viewerToken('recreate-viewer');
  for (const g of [b, c]) {
    const r = await client(g.url).get(`/v1/channels/${name}/viewer`, { token: tok });
    assert.equal(r.status, 200, r.text);
    assert.equal(new URL(r.json.url).searchParams.get('X-Amz-ChannelARN'), oldArn);
  }
  assert.equal((await client(a.url).del(`/v1/channels/${name}`, { token: admin })).status, 204);
  await sleep(1100); // KVS deletes asynchronously: the emulator keeps DELETING for a moment
  const again = await client(a.url).put(`/v1/channels/${name}`, { token: admin });
  assert.equal(again.status, 201, again.text);
  const newArn = again.json.arn;
  assert.notEqual(newArn, oldArn);
  const t0 = Date.now();
  for (const g of [b, c]) {
    let info;
    for (;;) {
      const r = await client(g.url).get(`/v1/channels/${name}/viewer`, { token: tok });
      assert.equal(r.status, 200, r.text);
      info = r.json;
      if (new URL(info.url).searchParams.get('X-Amz-ChannelARN') === newArn) break;
      assert.ok(Date.now() - t0 < 1000, `replica ${g.url} still hands out ${oldArn} after 1 s`);
      await sleep(50);
    }
    const ws = await signaling.open(info.url); // the emulator verifies it and knows the ARN
    await ws.close();
  }
});

test('a subject at its limit on three replicas gets the configured rate within the documented tolerance', async () => {
  const tok = await viewerToken('hammer');
  await client(replicas[0].url).get('/v1/channels/rc-00/viewer', { token: await viewerToken('warm') });
  const SECONDS = 4;
  const end = Date.now() + SECONDS * 1000;
  let ok = 0, limited = 0;
  await Promise.all(replicas.slice(0, 3).flatMap((g) => [0, 1].map(async () => {
    while (Date.now() < end) {
      const r = await client(g.url).get('/v1/channels/rc-00/viewer', { token: tok, contract: false });
      if (r.status === 200) ok++;
      else if (r.status === 429) limited++;
      else assert.fail(`${r.status} ${r.text}`);
    }
  })));
  // One replica alone: BURST + RATE x SECONDS = 50. The tolerance (docs/redis.md):
  // per other replica, its first burst and two sync intervals (250 ms) of the rate.
  const alone = BURST + RATE * SECONDS;
  const tolerance = 2 * (BURST + 2 * RATE * 0.25) + 2;
  console.log(`rate limit across 3 replicas: ${ok} let through in ${SECONDS} s (one replica: ${alone}, without sharing: ${3 * alone}), ${limited} limited`);
  assert.ok(ok >= alone - 2, `${ok} let through`);
  assert.ok(ok <= alone + tolerance, `${ok} let through, more than ${alone} + ${tolerance}`);
});

test('Redis killed under load and started again: no request fails, readiness holds, caches are shared again', async () => {
  const [a, b] = replicas;
  const names = ['rc-01', 'rc-02', 'rc-03'];
  const toks = await Promise.all(replicas.slice(0, 3).map((_, i) => viewerToken(`outage-${i}`)));
  let stop = false;
  const statuses = [];
  const load = Promise.all(replicas.slice(0, 3).map(async (g, i) => {
    for (let k = 0; !stop; k++) {
      // Warm channels, and now and then one nobody asked for yet (a cold load during the outage).
      const name = k % 10 === 9 ? `rc-${10 + ((k / 10) % 20 | 0)}` : names[k % 3];
      const r = await client(g.url).get(`/v1/channels/${name}/viewer`, { token: toks[i], contract: false });
      statuses.push(r.status === 429 ? 200 : r.status); // the subject's own limit is not a failure
      await sleep(20);
    }
  }));
  await sleep(500);
  await redis.kill();
  await sleep(1500);
  for (const g of replicas.slice(0, 3)) assert.equal((await client(g.url).get('/readyz')).status, 200);
  await redis.start();
  await sleep(1500);
  stop = true;
  await load;
  assert.ok(statuses.length > 50, `${statuses.length} requests`);
  assert.deepEqual([...new Set(statuses)], [200]);
  for (const g of replicas.slice(0, 3)) {
    const outages = g.logs.filter((l) => l.event === 'redis_unavailable');
    assert.equal(outages.length, 1, JSON.stringify(outages));
    assert.ok(sum(await metric(g, 'kvsgate_redis_outages_total')) >= 1);
  }
  // Shared again: a channel loaded through A is found by B without AWS.
  const aws = kvsClient(emu);
  let shared = false;
  for (let i = 0; i < 40 && !shared; i++) {
    const name = `rc-after-${i}`;
    await createChannel(aws, name);
    await emu.resetCounters();
    const tok = await viewerToken(`after-${i}`);
    assert.equal((await client(a.url).get(`/v1/channels/${name}/viewer`, { token: tok })).status, 200);
    assert.equal((await client(b.url).get(`/v1/channels/${name}/viewer`, { token: tok })).status, 200);
    shared = (await emu.count('DescribeSignalingChannel')) === 1;
    if (!shared) await sleep(250);
  }
  assert.ok(shared, 'replicas did not share a cache again after Redis came back');
  assert.ok(a.logs.some((l) => l.event === 'redis_recovered'));
});

test('Redis stopped (SIGSTOP: connected but silent) under load: requests go on within the timeout, and it rejoins', async () => {
  const tok = await viewerToken('silent');
  const aws = kvsClient(emu);
  for (let i = 0; i < 6; i++) await createChannel(aws, `rc-silent-${i}`);
  redis.pause();
  try {
    const t0 = Date.now();
    // Cold channels: each needs Redis (to look, to lock) and then AWS.
    const rs = await Promise.all([0, 1, 2, 3, 4, 5].map((i) =>
      client(replicas[i % 3].url).get(`/v1/channels/rc-silent-${i}/viewer`, { token: tok })));
    assert.deepEqual(rs.map((r) => r.status), Array(6).fill(200));
    assert.ok(Date.now() - t0 < 2000, `${Date.now() - t0} ms with a silent Redis`);
  } finally {
    redis.resume();
  }
  for (const g of replicas.slice(0, 3)) {
    const up = await (async () => {
      for (let i = 0; i < 40; i++) {
        await client(g.url).get(`/v1/channels/rc-silent-${i % 6}/viewer`, { token: tok });
        if ((await metric(g, 'kvsgate_redis_up'))[''] === 1) return true;
        await sleep(250);
      }
      return false;
    })();
    assert.ok(up, `${g.url} did not rejoin Redis`);
  }
});

test('a value in Redis that does not open with our key is refused and loaded from AWS', async () => {
  const { execFileSync } = require('node:child_process');
  const name = 'rc-forged';
  await createChannel(kvsClient(emu), name);
  // A forged entry where the channel would be (generation 0): not sealed with our key.
  execFileSync('redis-cli', ['-p', String(redis.port), 'SET', `kvsgate:v1:channel:0:${name}`,
    '{"n":"rc-forged","a":"arn:aws:kinesisvideo:us-west-2:123456789012:channel/evil/1"}', 'PX', '60000']);
  await emu.resetCounters();
  const r = await client(replicas[2].url).get(`/v1/channels/${name}/viewer`, { token: await viewerToken('forged') });
  assert.equal(r.status, 200, r.text);
  assert.match(new URL(r.json.url).searchParams.get('X-Amz-ChannelARN'), new RegExp(`:channel/${name}/`));
  assert.equal(await emu.count('DescribeSignalingChannel'), 1);
  const m = await metric(replicas[2], 'kvsgate_shared_requests_total');
  assert.ok(m['{cache="channel",result="rejected"}'] >= 1, JSON.stringify(m));
});

test('a flight lock without an expiry and a value past 256 KiB cost a Redis writer nothing but an AWS call', async () => {
  const { execFileSync } = require('node:child_process');
  const aws = kvsClient(emu);
  await createChannel(aws, 'rc-locked');
  await createChannel(aws, 'rc-huge');
  const cli = (...args) => execFileSync('redis-cli', ['-p', String(redis.port), ...args], { maxBuffer: 1 << 26 });
  cli('SET', 'kvsgate:v1:channel:0:rc-locked:lock', 'not-ours'); // held forever
  execFileSync('sh', ['-c', `head -c 1048576 /dev/zero | tr '\\0' x | redis-cli -p ${redis.port} -x SET kvsgate:v1:channel:0:rc-huge`]);
  const tok = await viewerToken('writer-victim');
  for (const name of ['rc-locked', 'rc-huge']) {
    const t0 = Date.now();
    const r = await client(replicas[1].url).get(`/v1/channels/${name}/viewer`, { token: tok });
    assert.equal(r.status, 200, r.text);
    assert.ok(Date.now() - t0 < 1000, `${name}: ${Date.now() - t0} ms`);
  }
});

test('budgets on three more replicas: uncached lists through all of them stay within one account budget, no AWS throttle', async () => {
  const three = [];
  for (let i = 0; i < 3; i++) three.push(await replica({ KVSGATE_CACHE_LIST_TTL_S: '0', KVSGATE_RATE_LIMIT_RPS: '0' }));
  await sleep(2500); // presence: every replica counts the six alive and divides its budgets
  for (const g of three) {
    const rate = await metric(g, 'kvsgate_aws_budget_rate');
    assert.ok(Math.abs(rate['{operation="ListSignalingChannels"}'] - 25 / replicas.length) < 0.01, JSON.stringify(rate));
  }
  await emu.resetCounters();
  const t0 = Date.now();
  const rs = await Promise.all(Array.from({ length: 100 }, (_, i) =>
    client(three[i % 3].url).get('/v1/channels?prefix=rc-', { token: admin, contract: false })));
  const seconds = (Date.now() - t0) / 1000;
  const calls = await emu.count('ListSignalingChannels');
  // The account's budget (25 at once, 25 per second for as long as the burst
  // lasted), shared by six replicas: never the budgets of replicas alone.
  const bound = Math.floor(25 + 25 * seconds) + 1;
  assert.ok(calls <= bound, `${calls} calls in ${seconds} s (bound ${bound})`);
  assert.equal(rs.filter((r) => r.status === 200).length, calls);
  assert.ok(rs.every((r) => r.status === 200 || r.status === 429), [...new Set(rs.map((r) => r.status))].join());
  assert.equal(await emu.limited(), 0);
});

test('valid tokens with hostile subjects: limited across replicas, and no subject text reaches Redis or breaks a log line', async () => {
  const { execFileSync } = require('node:child_process');
  // Valid (signed, no control characters, within 1024 bytes) but hostile:
  // quotes, backslashes, braces, wildcards, JSON and Redis syntax, non-ASCII,
  // the longest a sub may be, and a lookalike of another subject's name.
  const marker = 'HOSTILE-SUB';
  const subs = [
    `${marker}"},{"sub":"admin\\" *`,
    `${marker} kvsgate:v1:rl:* {sub}%00%0a`,
    `${marker}-admin\u200b`,
    `${marker}-${'\u00e9'.repeat(300)}`,
    `${marker}-${'x'.repeat(1024 - marker.length - 1)}`,
  ];
  await createChannel(kvsClient(emu), 'rc-hostile');
  for (const sub of subs) {
    const tok = await mint({ sub, kvs: { viewer: ['rc-hostile'] } }, { ttl: 3600 });
    const t0 = Date.now();
    const rs = [];
    for (let i = 0; i < 15; i++)
      rs.push(...await Promise.all(replicas.slice(0, 3).map((g) =>
        client(g.url).get('/v1/channels/rc-hostile/viewer', { token: tok, contract: false }))));
    const seconds = (Date.now() - t0) / 1000;
    const statuses = new Set(rs.map((r) => r.status));
    const what = JSON.stringify(sub).slice(0, 60);
    assert.ok([...statuses].every((st) => st === 200 || st === 429), `${[...statuses]} for ${what}`);
    // The subject is limited (its own bucket on each replica, no more than
    // three bursts and the rate on each), whatever its text.
    const ok = rs.filter((r) => r.status === 200).length;
    assert.ok(statuses.has(429) && ok <= 3 * BURST + 3 * RATE * seconds + 2, `${ok} of 45 let through for ${what}`);
  }
  await sleep(600); // a sync or two
  const keys = execFileSync('redis-cli', ['-p', String(redis.port), '--scan'], { encoding: 'utf8' }).trim().split('\n');
  assert.ok(keys.some((k) => /^kvsgate:v1:rl:[0-9a-f]{32}$/.test(k)), keys.slice(0, 5).join(' '));
  for (const k of keys) {
    assert.ok(!k.includes(marker) && !k.includes('admin'), `a Redis key carries subject text: ${k.slice(0, 80)}`);
    assert.match(k, /^kvsgate:v1:(rl:[0-9a-f]{32}|replicas|gen:[A-Za-z0-9_.-]+|(channel:\d+|endpoint|ice|storage|webrtc):[!-~]+)$/, k.slice(0, 120));
  }
  for (const g of replicas)
    assert.ok(!g.logs.some((l) => l.unparsed), 'a log line was broken');
});

test('without KVSGATE_REDIS_KEY, a replica with KVSGATE_REDIS_URL refuses to start', async () => {
  await assert.rejects(startKvsgate({ emulator: emu, env: { KVSGATE_REDIS_URL: redis.url } }), /KVSGATE_REDIS_KEY/);
  await assert.rejects(startKvsgate({ emulator: emu, env: { KVSGATE_REDIS_URL: 'rediss://127.0.0.1:6380', KVSGATE_REDIS_KEY: REDIS_KEY } }), /TLS/);
  await assert.rejects(startKvsgate({ emulator: emu, env: { KVSGATE_REDIS_URL: 'redis://user:pw@127.0.0.1:6380', KVSGATE_REDIS_KEY: REDIS_KEY } }), /credentials/);
});
