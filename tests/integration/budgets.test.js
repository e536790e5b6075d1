'use strict';
// Upstream budgets and shared lists with the real binary, against the
// emulator with KVS's documented quotas on (it answers
// ClientLimitExceededException past them, counted as `limited`):
// concurrent lists share one AWS call; without the list cache the List budget
// (25 per second at the default 50%, plus what a second's wait brings) bounds
// the calls and the rest get 429 upstream_budget_exceeded with Retry-After,
// never an AWS throttle; a
// burst of cold channels makes one Describe per channel; and an account busier
// than kvsgate's share (the emulator's quotas cut to a fifth) shrinks the
// budget so that retries do not multiply the calls.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate } = require('../lib/kvsgate');
const { client } = require('../lib/client');
const { mint } = require('../lib/tokens');
const { metric, sum } = require('../lib/metrics');
const { kvsClient, createChannel } = require('../emulator/helpers');

let emu;
const gates = [];
const subjects = [];

async function gate(env = {}) {
  const g = await startKvsgate({ emulator: emu, env: { KVSGATE_RATE_LIMIT_RPS: '0', KVSGATE_ACCESS_LOG: 'false', ...env } });
  gates.push(g);
  return g;
}

// n concurrent lists of prefix q, round-robin over the subjects and gates.
function lists(over, n) {
  return Promise.all(Array.from({ length: n }, (_, i) =>
    client(over[i % over.length].url).get('/v1/channels?prefix=q', { token: subjects[i % subjects.length] })));
}

before(async () => {
  emu = await startEmulator({ faults: { quotas: true } });
  const aws = kvsClient(emu);
  for (const name of ['q-1', 'q-2', 'q-3']) await createChannel(aws, name);
  for (let i = 0; i < 5; i++) subjects.push(await mint({ sub: `lister-${i}`, kvs: { manage: ['q-*'] } }, { ttl: 3600 }));
});

after(async () => {
  for (const g of gates) await g.stop();
  if (emu) await emu.stop();
});

test('100 concurrent lists from 5 subjects make one ListSignalingChannels call and all answer 200', async () => {
  const g = await gate();
  await emu.resetCounters();
  const rs = await lists([g], 100);
  assert.deepEqual(rs.map((r) => r.status), Array(100).fill(200));
  assert.deepEqual(rs[0].json.channels.map((c) => c.name).sort(), ['q-1', 'q-2', 'q-3']);
  assert.equal(await emu.count('ListSignalingChannels'), 1);
  assert.equal(await emu.limited(), 0);
});

test('a create through kvsgate drops the shared pages: the next list shows the new channel', async () => {
  const g = gates[0];
  const admin = await mint({ sub: 'admin', kvs: { manage: ['q-*'] } });
  const before = await client(g.url).get('/v1/channels?prefix=q', { token: admin });
  assert.equal(before.json.channels.length, 3);
  const put = await client(g.url).put('/v1/channels/q-4', { token: admin });
  assert.equal(put.status, 201, put.text);
  const afterPut = await client(g.url).get('/v1/channels?prefix=q', { token: admin });
  assert.deepEqual(afterPut.json.channels.map((c) => c.name).sort(), ['q-1', 'q-2', 'q-3', 'q-4']);
  const del = await client(g.url).del('/v1/channels/q-4', { token: admin });
  assert.equal(del.status, 204, del.text);
  const afterDel = await client(g.url).get('/v1/channels?prefix=q', { token: admin });
  assert.deepEqual(afterDel.json.channels.map((c) => c.name).sort(), ['q-1', 'q-2', 'q-3']);
});

test('three replicas: 100 concurrent lists over them make at most three calls and no throttle', async () => {
  const three = [await gate(), await gate(), await gate()];
  await emu.resetCounters();
  const rs = await lists(three, 100);
  assert.deepEqual(rs.map((r) => r.status), Array(100).fill(200));
  assert.ok(await emu.count('ListSignalingChannels') <= 3, JSON.stringify(await emu.counters()));
  assert.equal(await emu.limited(), 0);
});

test('without the list cache, the List budget bounds the calls: no AWS throttle, the rest 429 with Retry-After', async () => {
  const g = await gate({ KVSGATE_CACHE_LIST_TTL_S: '0' });
  await new Promise((r) => setTimeout(r, 1100)); // the emulator's buckets refill
  await emu.resetCounters();
  const t0 = Date.now();
  const rs = await lists([g], 100);
  const seconds = (Date.now() - t0) / 1000;
  const calls = await emu.count('ListSignalingChannels');
  const ok = rs.filter((r) => r.status === 200).length;
  // 25 at once, then one per 40 ms for as long as the burst lasted (the last
  // callers may wait up to 1000 ms for their turn), +1 for rounding.
  const bound = Math.floor(25 + 25 * seconds) + 1;
  assert.ok(calls <= bound, `${calls} calls in ${seconds} s (bound ${bound})`);
  assert.ok(calls < 100);
  assert.equal(ok, calls);
  assert.equal(await emu.limited(), 0);
  for (const r of rs.filter((x) => x.status !== 200)) {
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.code, 'upstream_budget_exceeded');
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
  }
  const refusals = await metric(g, 'kvsgate_aws_budget_refusals_total');
  assert.equal(refusals['{operation="ListSignalingChannels",scope="account"}'], 100 - calls);
});

test('a burst of 30 cold channels makes one Describe and one endpoint call each, within the quotas', async () => {
  const aws = kvsClient(emu);
  const names = Array.from({ length: 30 }, (_, i) => `qc-${String(i).padStart(2, '0')}`);
  await Promise.all(names.map((n) => createChannel(aws, n)));
  const g = await gate();
  await new Promise((r) => setTimeout(r, 1100));
  await emu.resetCounters();
  const viewer = await mint({ sub: 'v', kvs: { viewer: ['qc-*'] } });
  // Every channel three times at once: single flight inside one replica.
  const rs = await Promise.all(names.flatMap((n) => [0, 1, 2].map(() =>
    client(g.url).get(`/v1/channels/${n}/viewer`, { token: viewer }))));
  assert.deepEqual(rs.map((r) => r.status), Array(90).fill(200));
  assert.equal(await emu.count('DescribeSignalingChannel'), 30);
  assert.equal(await emu.count('GetSignalingChannelEndpoint'), 30);
  assert.equal(await emu.limited(), 0);
});

test('an account busier than our share: throttles shrink the budget and retries do not multiply the calls', async () => {
  // The emulator's quotas at a fifth (List: 10 per second) while kvsgate
  // budgets 25; lists uncached. Without budgets the same burst is retried
  // three times over; with them every attempt takes from the shrunk budget.
  const budgeted = await gate({ KVSGATE_CACHE_LIST_TTL_S: '0' });
  const unbudgeted = await gate({ KVSGATE_CACHE_LIST_TTL_S: '0', KVSGATE_AWS_QUOTA_PERCENT: '0' });
  await emu.setFaults({ quotaScale: 0.2 });
  try {
    await new Promise((r) => setTimeout(r, 1100));
    await emu.resetCounters();
    await lists([unbudgeted], 60);
    const without = await emu.count('ListSignalingChannels');
    await new Promise((r) => setTimeout(r, 1100));
    await emu.resetCounters();
    const t0 = Date.now();
    await lists([budgeted], 60);
    const seconds = (Date.now() - t0) / 1000;
    const withBudget = await emu.count('ListSignalingChannels');
    const shrinks = await metric(budgeted, 'kvsgate_aws_budget_shrinks_total');
    assert.ok(shrinks['{operation="ListSignalingChannels"}'] >= 1, JSON.stringify(shrinks));
    // Never more than the full budget allows over the burst's time (one
    // second held, 25 per second after), retries included.
    const bound = Math.floor(25 + 25 * seconds) + 1;
    assert.ok(withBudget <= bound, `${withBudget} calls with the budget in ${seconds} s (bound ${bound})`);
    assert.ok(without > withBudget, `${without} calls without it, ${withBudget} with it`);
    console.log(`busy account: ${without} calls without budgets, ${withBudget} with them in ${seconds} s`);
    assert.ok(sum(await metric(budgeted, 'kvsgate_aws_budget_rate')) > 0);
  } finally {
    await emu.setFaults({ quotaScale: null });
  }
});
