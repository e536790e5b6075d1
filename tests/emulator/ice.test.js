'use strict';
// GetIceServerConfig on a channel's HTTPS endpoint, called with the official
// @aws-sdk/client-kinesis-video-signaling client: the KVS answer shape, fresh
// TURN credentials per call, the TTL knobs, errors and SigV4 refusals.
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startEmulator } = require('../lib/emulator');
const h = require('./helpers');

const { kvsig } = h;

describe('GetIceServerConfig', () => {
  let emu;
  let client;
  let arn;
  let https;
  before(async () => {
    emu = await startEmulator();
    client = h.kvsClient(emu);
    arn = await h.createChannel(client, 'ice-channel');
    https = (await h.endpoints(client, arn, 'VIEWER')).HTTPS;
  });
  after(() => emu.stop());

  const ice = (input, creds, endpoint = https) =>
    h.signalingClient(endpoint, creds).send(new kvsig.GetIceServerConfigCommand({ ChannelARN: arn, ...input }));

  test('answers two TURN servers of three URIs with KVS-shaped Username, base64 Password and Ttl 300', async () => {
    const t0 = Math.floor(Date.now() / 1000);
    const out = await ice({ ClientId: 'viewer-1', Service: 'TURN' });
    assert.equal(out.IceServerList.length, 2);
    for (const s of out.IceServerList) {
      assert.equal(s.Uris.length, 3);
      assert.match(s.Uris[0], /^turn:[^:]+:\d+\?transport=udp$/);
      assert.match(s.Uris[1], /^turns:[^:]+:\d+\?transport=udp$/);
      assert.match(s.Uris[2], /^turns:[^:]+:\d+\?transport=tcp$/);
      assert.equal(s.Ttl, 300);
      const [expiry, user] = s.Username.split(':');
      assert.ok(Number(expiry) >= t0 + 300 && Number(expiry) <= t0 + 302, s.Username);
      assert.equal(Buffer.from(user, 'base64').toString('utf8'), `v1:${arn}`);
      assert.match(s.Password, /^[A-Za-z0-9+/]+=*$/);
      assert.equal(Buffer.from(s.Password, 'base64').length, 32);
    }
    assert.notEqual(out.IceServerList[0].Password, out.IceServerList[1].Password);
  });

  test('every call hands out fresh passwords', async () => {
    const a = await ice({});
    const b = await ice({});
    assert.notEqual(a.IceServerList[0].Password, b.IceServerList[0].Password);
  });

  test('the iceTtl knob changes Ttl and the Username expiry', async () => {
    await emu.setFaults({ iceTtl: 60 });
    try {
      const t0 = Math.floor(Date.now() / 1000);
      const s = (await ice({})).IceServerList[0];
      assert.equal(s.Ttl, 60);
      const expiry = Number(s.Username.split(':')[0]);
      assert.ok(expiry >= t0 + 60 && expiry <= t0 + 62);
    } finally {
      await emu.setFaults({ iceTtl: null });
    }
    assert.equal((await ice({})).IceServerList[0].Ttl, 300);
  });

  test('--ice-ttl sets the default Ttl', async () => {
    const e = await startEmulator({ iceTtl: 120 });
    try {
      const c = h.kvsClient(e);
      const a = await h.createChannel(c, 'ttl');
      const ep = (await h.endpoints(c, a, 'MASTER')).HTTPS;
      const out = await h.signalingClient(ep).send(new kvsig.GetIceServerConfigCommand({ ChannelARN: a }));
      assert.equal(out.IceServerList[0].Ttl, 120);
    } finally {
      await e.stop();
    }
  });

  test('an unknown channel is 404 ResourceNotFoundException; another channel\'s ARN on this endpoint is 400', async () => {
    await assert.rejects(ice({ ChannelARN: arn.replace(/\d+$/, '7') }), (e) => e.name === 'ResourceNotFoundException' && e.$metadata.httpStatusCode === 404);
    const other = await h.createChannel(client, 'ice-other');
    await assert.rejects(ice({ ChannelARN: other }), (e) => e.name === 'InvalidArgumentException' && e.$metadata.httpStatusCode === 400);
  });

  test('a bad ClientId or Service is 400 InvalidArgumentException', async () => {
    await assert.rejects(ice({ ClientId: 'has space' }), (e) => e.name === 'InvalidArgumentException');
    await assert.rejects(ice({ Service: 'STUN' }), (e) => e.name === 'InvalidArgumentException');
  });

  test('a wrong secret is 403 InvalidSignatureException; temporary keys without their token are 403 UnrecognizedClientException', async () => {
    await assert.rejects(ice({}, { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'nope' }),
      (e) => e.name === 'InvalidSignatureException' && e.$metadata.httpStatusCode === 403);
    const r = await h.rawRequest(`${emu.url}/container-credentials`, { headers: { authorization: 'local-container-token' } });
    const c = JSON.parse(r.body);
    const temp = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.Token };
    assert.equal((await ice({}, temp)).IceServerList.length, 2);
    await assert.rejects(ice({}, { accessKeyId: temp.accessKeyId, secretAccessKey: temp.secretAccessKey }),
      (e) => e.name === 'UnrecognizedClientException' && e.$metadata.httpStatusCode === 403);
  });

  test('the control-plane endpoint has no GetIceServerConfig (it must go to the channel HTTPS endpoint)', async () => {
    await assert.rejects(ice({}, h.CREDS, emu.url), (e) => e.$metadata.httpStatusCode === 404);
  });

  test('each call counts once as GetIceServerConfig', async () => {
    await emu.resetCounters();
    await ice({});
    await assert.rejects(ice({}, { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'nope' }));
    const c = (await emu.counters()).operations.GetIceServerConfig;
    assert.deepEqual([c.total, c.ok, c.error], [2, 1, 1]);
  });
});
