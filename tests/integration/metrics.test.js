'use strict';
// /metrics after a known scenario: promtool accepts the scrape, and the
// counters match what the test did and what the emulator counted.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate } = require('../lib/kvsgate');
const { client } = require('../lib/client');
const { mint } = require('../lib/tokens');

let emu, gate, api;

before(async () => {
  emu = await startEmulator();
  gate = await startKvsgate({ emulator: emu, env: { KVSGATE_RATE_LIMIT_RPS: '0' } });
  api = client(gate.url);
});

after(async () => {
  if (gate) await gate.stop();
  if (emu) await emu.stop();
});

// name{labels} value -> Map(key -> value), key = 'name{a="1",b="2"}' as printed
function parse(text) {
  const m = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

test('a scrape after a known scenario passes promtool and counts exactly', async () => {
  const admin = await mint({ sub: 'admin', kvs: { manage: ['cam-*'], viewer: ['cam-*'] } });
  for (let i = 0; i < 3; i++) assert.equal((await api.get('/healthz')).status, 200);
  assert.equal((await api.put('/v1/channels/cam-metrics', { token: admin })).status, 201);
  assert.equal((await api.put('/v1/channels/cam-metrics', { token: admin })).status, 200);
  assert.equal((await api.get('/v1/nope', { token: admin })).status, 404);
  assert.equal((await api.get('/v1/channels/cam-metrics', { token: 'garbage' })).status, 401);
  const rs = await Promise.all(Array.from({ length: 50 }, () => api.get('/v1/channels/cam-metrics/viewer', { token: admin })));
  for (const r of rs) assert.equal(r.status, 200);

  const scrape = await api.get('/metrics');
  assert.equal(scrape.status, 200);
  assert.match(scrape.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: scrape.text, encoding: 'utf8' });
  assert.equal(promtool.status, 0, promtool.stdout + promtool.stderr);

  const m = parse(scrape.text);
  const req = (route, method, status) => m.get(`kvsgate_http_requests_total{route="${route}",method="${method}",status="${status}"}`);
  assert.equal(req('/healthz', 'GET', 200), 3);
  assert.equal(req('/v1/channels/{name}', 'PUT', 201), 1);
  assert.equal(req('/v1/channels/{name}', 'PUT', 200), 1);
  assert.equal(req('unmatched', 'GET', 404), 1);
  assert.equal(req('/v1/channels/{name}', 'GET', 401), 1);
  assert.equal(req('/v1/channels/{name}/viewer', 'GET', 200), 50);
  assert.equal(m.get('kvsgate_http_request_duration_seconds_count{route="/v1/channels/{name}/viewer"}'), 50);

  // Upstream calls seen by kvsgate equal the calls the emulator answered.
  const counters = await emu.counters();
  for (const op of ['DescribeSignalingChannel', 'CreateSignalingChannel', 'GetSignalingChannelEndpoint', 'GetIceServerConfig']) {
    const ours = m.get(`kvsgate_upstream_calls_total{operation="${op}",outcome="ok"}`) || 0;
    const notFound = m.get(`kvsgate_upstream_calls_total{operation="${op}",outcome="not_found"}`) || 0;
    assert.equal(ours + notFound, counters.operations[op].total, op);
  }
  // 50 concurrent first requests: one miss per cache, the rest joined or hit.
  for (const cache of ['channel', 'endpoint', 'ice']) {
    assert.equal(m.get(`kvsgate_cache_requests_total{cache="${cache}",result="miss"}`), 1, cache);
    const joined = m.get(`kvsgate_cache_requests_total{cache="${cache}",result="joined"}`) || 0;
    const hit = m.get(`kvsgate_cache_requests_total{cache="${cache}",result="hit"}`) || 0;
    assert.ok(joined + hit >= 49, `${cache}: ${joined} joined, ${hit} hits`);
  }
  assert.ok([...m.keys()].some((k) => k.startsWith('kvsgate_build_info{version=')));
  assert.ok(m.has('kvsgate_credentials_expiry_timestamp_seconds'));
  assert.ok([...m.keys()].some((k) => k.startsWith('kvsgate_upstream_duration_seconds_bucket{operation="GetIceServerConfig"')));
});
