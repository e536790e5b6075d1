'use strict';
// Refresh-ahead with the real binary: channels in steady use never wait for
// AWS once warm, because their channel, endpoint and TURN entries are reloaded
// in the background before they expire; the same load with refresh-ahead off
// waits every time an entry expires. Short TTLs (TURN 15 s minus a 5 s margin,
// channel and endpoint 12 s) let ~22 s show two refresh cycles; the emulator
// adds 150 ms to every AWS call, so a wait would be visible to the caller too.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate } = require('../lib/kvsgate');
const { client } = require('../lib/client');
const { mint } = require('../lib/tokens');
const { metric, sum } = require('../lib/metrics');
const kv = require('@aws-sdk/client-kinesis-video');
const { kvsClient } = require('../emulator/helpers');

const CHANNELS = ['cam-ra-1', 'cam-ra-2', 'cam-ra-3'];
const DRIVE_MS = 22000;
const AWS_LATENCY_MS = 150;

let emu, ahead, plain, admin;

const shortTtls = {
  KVSGATE_RATE_LIMIT_RPS: '0',
  KVSGATE_ACCESS_LOG: 'false',
  KVSGATE_CACHE_CHANNEL_TTL_S: '12',
  KVSGATE_CACHE_ENDPOINT_TTL_S: '12',
  KVSGATE_ICE_REFRESH_MARGIN_S: '5',
};

before(async () => {
  emu = await startEmulator({ iceTtl: 15 });
  ahead = await startKvsgate({ emulator: emu, env: { ...shortTtls } });
  plain = await startKvsgate({ emulator: emu, env: { ...shortTtls, KVSGATE_REFRESH_AHEAD: 'false' } });
  admin = await mint({ sub: 'admin', kvs: { manage: ['*'], master: ['*'], viewer: ['*'] } }, { ttl: 3600 });
  for (const name of CHANNELS) {
    const r = await client(ahead.url).put(`/v1/channels/${name}`, { token: admin });
    assert.ok([200, 201].includes(r.status), r.text);
  }
  await emu.setFaults({ latencyMs: AWS_LATENCY_MS });
});

after(async () => {
  if (ahead) await ahead.stop();
  if (plain) await plain.stop();
  if (emu) await emu.stop();
});


// Every channel as viewer and master, one request each every 250 ms, for ms.
async function drive(gate, ms) {
  const api = client(gate.url);
  const slow = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const t0 = Date.now();
    const rs = await Promise.all(CHANNELS.flatMap((name) => ['viewer', 'master'].map(async (role) => {
      const s = Date.now();
      const r = await api.get(`/v1/channels/${name}/${role}`, { token: admin });
      return { r, took: Date.now() - s, what: `${name}/${role}` };
    })));
    for (const { r, took, what } of rs) {
      assert.equal(r.status, 200, r.text);
      if (took >= AWS_LATENCY_MS) slow.push(`${what} ${took} ms`);
    }
    await new Promise((res) => setTimeout(res, Math.max(0, 250 - (Date.now() - t0))));
  }
  return slow;
}

test('warm channels in steady use never wait for AWS with refresh-ahead, and do without it', async () => {
  // Warm-up: the first request per channel and role loads (and waits).
  await Promise.all([drive(ahead, 500), drive(plain, 500)]);
  const waitsBefore = sum(await metric(ahead, 'kvsgate_aws_waits_total'));
  const plainBefore = sum(await metric(plain, 'kvsgate_aws_waits_total'));
  assert.ok(waitsBefore >= CHANNELS.length * 2, `warm-up waited ${waitsBefore} times`);
  await emu.resetCounters();

  const [slowAhead] = await Promise.all([drive(ahead, DRIVE_MS), drive(plain, DRIVE_MS)]);

  assert.equal(sum(await metric(ahead, 'kvsgate_aws_waits_total')), waitsBefore,
    'a request waited for AWS although its entries were in use');
  assert.deepEqual(slowAhead, []);
  const refreshes = await metric(ahead, 'kvsgate_cache_refreshes_total');
  // TURN entries (6 keys) live 10 s: at least two refresh cycles in 22 s; the
  // channel (3) and endpoint (6) entries live 12 s: at least one.
  assert.ok((refreshes['{cache="ice",outcome="ok"}'] || 0) >= 12, JSON.stringify(refreshes));
  assert.ok((refreshes['{cache="channel",outcome="ok"}'] || 0) >= 3, JSON.stringify(refreshes));
  assert.ok((refreshes['{cache="endpoint",outcome="ok"}'] || 0) >= 6, JSON.stringify(refreshes));
  assert.equal(refreshes['{cache="ice",outcome="error"}'] || 0, 0);

  // Without refresh-ahead the same load waits whenever an entry expires: each
  // of the 6 TURN keys at least twice in 22 s.
  const plainWaits = sum(await metric(plain, 'kvsgate_aws_waits_total')) - plainBefore;
  assert.ok(plainWaits >= 12, `refresh-ahead off waited only ${plainWaits} times`);
  assert.deepEqual(await metric(plain, 'kvsgate_cache_refreshes_total'), {});
});

test('a channel deleted behind kvsgate is noticed by a refresh before its TTL ends', async () => {
  const api = client(ahead.url);
  await emu.setFaults({ latencyMs: 0 });
  const r0 = await api.put('/v1/channels/cam-ra-gone', { token: admin });
  assert.ok([200, 201].includes(r0.status), r0.text);
  const arn = r0.json.arn;
  for (let i = 0; i < 2; i++) // the second request makes the entries "in use"
    assert.equal((await api.get('/v1/channels/cam-ra-gone/viewer', { token: admin })).status, 200);
  // Deleted straight at AWS (another replica, the console): without a
  // refresh, kvsgate would hand out the cached channel until its TTL (12 s).
  await kvsClient(emu).send(new kv.DeleteSignalingChannelCommand({ ChannelARN: arn }));
  const t0 = Date.now();
  let status = 200;
  while (status === 200 && Date.now() - t0 < 15000) {
    await new Promise((res) => setTimeout(res, 250));
    status = (await api.get('/v1/channels/cam-ra-gone/viewer', { token: admin })).status;
  }
  assert.equal(status, 404);
  // A refresh met ResourceNotFound and forgot the channel (its own result
  // dropped with it), before the entries' TTLs ran out.
  const refreshes = await metric(ahead, 'kvsgate_cache_refreshes_total');
  const dropped = Object.entries(refreshes)
    .filter(([k]) => k.includes('outcome="dropped"')).reduce((n, [, v]) => n + v, 0);
  assert.ok(dropped >= 1, JSON.stringify(refreshes));
  assert.ok(Date.now() - t0 < 11500, `noticed after ${Date.now() - t0} ms`);
});
