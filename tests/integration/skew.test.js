'use strict';
// Clock skew with the real binary: the emulator's clock runs ten minutes
// ahead (as AWS's would for a host whose clock drifted). kvsgate's first AWS
// call is refused as a signature too far off; kvsgate learns AWS's time from
// the answer's Date, signs the same call again and succeeds, presigns with
// AWS's time (the URL opens at the emulator, which verifies it on its own
// clock), says so in /metrics, /readyz and ConnectionInfo's serverTime, and
// with KVSGATE_MAX_CLOCK_SKEW_S below the offset is not ready.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate } = require('../lib/kvsgate');
const { client } = require('../lib/client');
const { mint } = require('../lib/tokens');
const { metric } = require('../lib/metrics');
const signaling = require('../lib/signaling');
const { kvsClient, createChannel } = require('../emulator/helpers');

const SKEW_S = 600;
let emu, viewer;
const gates = [];

before(async () => {
  emu = await startEmulator();
  await createChannel(kvsClient(emu), 'cam-skew');
  await emu.setFaults({ clockSkewS: SKEW_S });
  viewer = await mint({ sub: 'skewed', kvs: { viewer: ['cam-skew'] } }, { ttl: 3600 });
});

after(async () => {
  for (const g of gates) await g.stop();
  if (emu) await emu.stop();
});

test('AWS ten minutes ahead: kvsgate corrects from its Date, the URL verifies at AWS, the offset shows', async () => {
  const g = await startKvsgate({ emulator: emu });
  gates.push(g);
  const r = await client(g.url).get('/v1/channels/cam-skew/viewer', { token: viewer });
  assert.equal(r.status, 200, r.text);
  const offset = (await metric(g, 'kvsgate_aws_clock_offset_seconds'))[''];
  assert.ok(Math.abs(offset - SKEW_S) <= 2, `offset ${offset}`);
  assert.ok(g.logs.some((l) => l.event === 'aws_clock_skew' && Math.abs(l.offset_s - SKEW_S) <= 2));
  // Signed with AWS's time: X-Amz-Date, expiresAt and serverTime are ten minutes ahead of ours.
  const amzDate = new URL(r.json.url).searchParams.get('X-Amz-Date');
  const signedAt = Date.parse(amzDate.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
  assert.ok(Math.abs(signedAt - (Date.now() + SKEW_S * 1000)) < 5000, amzDate);
  assert.ok(Math.abs(Date.parse(r.json.serverTime) - (Date.now() + SKEW_S * 1000)) < 5000, r.json.serverTime);
  assert.equal(Date.parse(r.json.expiresAt) - Date.parse(r.json.serverTime), 299000);
  const ws = await signaling.open(r.json.url); // the emulator verifies it against its own clock
  await ws.close();
  const ready = await client(g.url).get('/readyz');
  assert.equal(ready.status, 200, ready.text);
  assert.ok(Math.abs(ready.json.clockOffsetSeconds - SKEW_S) <= 2);
  assert.equal(await emu.count('DescribeSignalingChannel', 'error'), 1);
});

test('past KVSGATE_MAX_CLOCK_SKEW_S the replica corrects but is not ready, and says why', async () => {
  const g = await startKvsgate({ emulator: emu, env: { KVSGATE_MAX_CLOCK_SKEW_S: '300' } });
  gates.push(g);
  assert.equal((await client(g.url).get('/readyz')).status, 200); // nothing learnt yet
  const r = await client(g.url).get('/v1/channels/cam-skew/viewer', { token: viewer });
  assert.equal(r.status, 200, r.text);
  const ready = await client(g.url).get('/readyz');
  assert.equal(ready.status, 503, ready.text);
  assert.equal(ready.json.status, 'not_ready');
  assert.match(ready.json.reason, /clock/);
});
