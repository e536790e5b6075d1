'use strict';
// The gathered log output (KVSGATE_LOG_FLUSH_MS, default 100): access lines
// are written in batches, not one write(2) per request (counted from the
// kernel's own /proc/<pid>/io), every line still arrives, whole and in order,
// and what is gathered is written at shutdown. With 0, one write per line.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate } = require('../lib/kvsgate');
const { client } = require('../lib/client');
const { mint } = require('../lib/tokens');

let emu, admin;
const REQUESTS = 200;

before(async () => {
  emu = await startEmulator();
  admin = await mint({ sub: 'admin', kvs: { manage: ['*'], viewer: ['*'] } }, { ttl: 3600 });
});

after(async () => {
  if (emu) await emu.stop();
});

const writes = (pid) => Number(/syscw: (\d+)/.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))[1]);

// Warm requests, one at a time: write(2) calls the process made meanwhile.
async function warmRequests(gate) {
  const api = client(gate.url);
  const r = await api.put('/v1/channels/cam-logs', { token: admin });
  assert.ok([200, 201].includes(r.status), r.text);
  assert.equal((await api.get('/v1/channels/cam-logs/viewer', { token: admin })).status, 200);
  await new Promise((res) => setTimeout(res, 300)); // what warming wrote is out
  const w0 = writes(gate.process.pid);
  for (let i = 0; i < REQUESTS; i++)
    assert.equal((await api.get('/v1/channels/cam-logs/viewer', { token: admin, headers: { 'x-request-id': `logs-${i}` } })).status, 200);
  // A request's line is written when it completes, which is after its answer
  // reached us: let the last one's be done before counting.
  await new Promise((res) => setTimeout(res, 300));
  return writes(gate.process.pid) - w0;
}

test('access lines are gathered: far fewer writes than requests, every line whole and in order', async () => {
  const gate = await startKvsgate({ emulator: emu, env: { KVSGATE_LOG_FLUSH_MS: '100', KVSGATE_LOG_LEVEL: 'info', KVSGATE_RATE_LIMIT_RPS: '0' } });
  let n;
  try {
    n = await warmRequests(gate);
  } finally {
    await gate.stop(); // the last batch is written at shutdown
  }
  assert.ok(n < REQUESTS / 4, `${n} writes for ${REQUESTS} requests`);
  const ids = gate.logs.filter((l) => l.event === 'access' && /^logs-/.test(l.request_id || '')).map((l) => l.request_id);
  // Every line once. In order up to a neighbour: a request's line is gathered
  // when libmicrohttpd reports it complete, after its answer went out, so on
  // a busy machine the other HTTP thread may gather the next request's first.
  assert.deepEqual([...ids].sort(), Array.from({ length: REQUESTS }, (_, i) => `logs-${i}`).sort());
  ids.forEach((id, pos) => assert.ok(Math.abs(Number(id.slice(5)) - pos) <= 2, `${id} at ${pos}`));
  assert.ok(!gate.logs.some((l) => l.unparsed), 'a line was cut or merged');
  assert.equal(gate.logs[gate.logs.length - 1].event, 'stopped');
});

test('with KVSGATE_LOG_FLUSH_MS=0 every line is its own write', async () => {
  const gate = await startKvsgate({ emulator: emu, env: { KVSGATE_LOG_FLUSH_MS: '0', KVSGATE_LOG_LEVEL: 'info', KVSGATE_RATE_LIMIT_RPS: '0' } });
  let n;
  try {
    n = await warmRequests(gate);
  } finally {
    await gate.stop();
  }
  assert.ok(n >= REQUESTS, `${n} writes for ${REQUESTS} requests`);
});
