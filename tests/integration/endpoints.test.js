'use strict';
// The AWS SDKs' endpoint settings with the real binary: dual-stack hands
// browsers the dual-stack STUN host (the control plane here is the emulator,
// a custom endpoint, used as given), FIPS where KVS has no FIPS endpoint is
// refused at start-up with the reason, and a region of no partition too.
// The endpoint tables themselves: tests/unit/test_endpoints.c.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate } = require('../lib/kvsgate');
const { client } = require('../lib/client');
const { mint } = require('../lib/tokens');
const { kvsClient, createChannel } = require('../emulator/helpers');

let emu, viewer;

before(async () => {
  emu = await startEmulator();
  await createChannel(kvsClient(emu), 'cam-ds');
  viewer = await mint({ sub: 'ds', kvs: { viewer: ['cam-ds'] } });
});

after(async () => { if (emu) await emu.stop(); });

test('AWS_USE_DUALSTACK_ENDPOINT=true: the STUN host handed out is the dual-stack one', async () => {
  const g = await startKvsgate({ emulator: emu, env: { AWS_USE_DUALSTACK_ENDPOINT: 'true' } });
  try {
    const r = await client(g.url).get('/v1/channels/cam-ds/viewer', { token: viewer });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.configuration.iceServers[0], { urls: ['stun:stun.kinesisvideo.us-west-2.api.aws:443'] });
  } finally {
    await g.stop();
  }
});

test('AWS_USE_FIPS_ENDPOINT=true in a region without KVS FIPS endpoints is refused at start-up', async () => {
  await assert.rejects(startKvsgate({ emulator: emu, env: { AWS_USE_FIPS_ENDPOINT: 'true' } }),
    /no FIPS endpoint in this region/);
});

test('a region of no AWS partition is refused when kvsgate would build its endpoints', async () => {
  await assert.rejects(startKvsgate({ emulator: emu, env: { AWS_REGION: 'xx-nowhere-1', KVSGATE_KVS_ENDPOINT: undefined } }),
    /no known AWS partition/);
});
