'use strict';
// The signaling WebSocket endpoint: URLs presigned by independent signers (the
// KVS WebRTC JS SDK's SigV4RequestSigner and @smithy/signature-v4) open it;
// bad signatures, expiry, tokens and parameters are refused before the
// upgrade with plain HTTP statuses; the relay forwards SDP_OFFER / SDP_ANSWER
// / ICE_CANDIDATE in the exact KVS shapes and enforces one master and ten
// viewers.
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startEmulator } = require('../lib/emulator');
const h = require('./helpers');

const { kv } = h;

describe('signaling', () => {
  let emu;
  let client;
  before(async () => {
    emu = await startEmulator();
    client = h.kvsClient(emu);
  });
  after(() => emu.stop());

  // A channel and its endpoints.
  async function channel(name) {
    const arn = await h.createChannel(client, name);
    return { name, arn, master: await h.endpoints(client, arn, 'MASTER'), viewer: await h.endpoints(client, arn, 'VIEWER') };
  }
  const openMaster = async (ch, creds) => h.connect(await h.presignWithKvsSdk(ch.master.WSS, ch.arn, null, creds));
  const openViewer = async (ch, id, creds) => h.connect(await h.presignWithKvsSdk(ch.viewer.WSS, ch.arn, id, creds));

  describe('URLs presigned by the KVS WebRTC SDK signer', () => {
    test('open as master and as viewer, and the test API lists the connections', async () => {
      const ch = await channel('sig-open');
      const url = await h.presignWithKvsSdk(ch.viewer.WSS, ch.arn, 'viewer-1');
      assert.equal(h.paramOf(url, 'X-Amz-Expires'), '299');
      const m = await openMaster(ch);
      const v = await h.connect(url);
      assert.deepEqual(await emu.connections('sig-open'), { master: true, viewers: ['viewer-1'] });
      m.close();
      v.close();
      await Promise.all([m.closed, v.closed]);
      await h.sleep(50);
      assert.deepEqual(await emu.connections('sig-open'), { master: false, viewers: [] });
    });

    test('a tampered signature is 403 before the upgrade', async () => {
      const ch = await channel('sig-tamper');
      const url = await h.presignWithKvsSdk(ch.viewer.WSS, ch.arn, 'v');
      await h.assertRefused(h.withParam(url, 'X-Amz-Signature', h.tamper(h.paramOf(url, 'X-Amz-Signature'))), 403);
    });

    test('a wrong secret is 403 and an unknown key is 403', async () => {
      const ch = await channel('sig-secret');
      await h.assertRefused(await h.presignWithKvsSdk(ch.viewer.WSS, ch.arn, 'v', { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'WRONG' }), 403);
      await h.assertRefused(await h.presignWithKvsSdk(ch.viewer.WSS, ch.arn, 'v', { accessKeyId: 'AKIDOTHER', secretAccessKey: 'SECRETLOCAL' }), 403);
    });

    test('an expired URL (signed 6 minutes ago, X-Amz-Expires 299) is 403; one signed 4 minutes ago opens', async () => {
      const ch = await channel('sig-expired');
      await h.assertRefused(await h.presignWithKvsSdk(ch.master.WSS, ch.arn, null, h.CREDS, new Date(Date.now() - 6 * 60000)), 403);
      const ok = await h.connect(await h.presignWithKvsSdk(ch.master.WSS, ch.arn, null, h.CREDS, new Date(Date.now() - 4 * 60000)));
      ok.close();
    });

    test('a signing date more than 5 minutes in the future is 403', async () => {
      const ch = await channel('sig-future');
      await h.assertRefused(await h.presignWithKvsSdk(ch.master.WSS, ch.arn, null, h.CREDS, new Date(Date.now() + 6 * 60000)), 403);
    });

    test('temporary credentials open with their signed token; without it, 403', async () => {
      const ch = await channel('sig-token');
      const r = await h.rawRequest(`${emu.url}/container-credentials`, { headers: { authorization: 'local-container-token' } });
      const c = JSON.parse(r.body);
      const temp = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.Token };
      const url = await h.presignWithKvsSdk(ch.viewer.WSS, ch.arn, 'temp-viewer', temp);
      assert.ok(h.paramOf(url, 'X-Amz-Security-Token'));
      const v = await h.connect(url);
      v.close();
      // The token removed from the URL, and a URL signed without the token.
      await h.assertRefused(h.withoutParam(url, 'X-Amz-Security-Token'), 403);
      const { sessionToken, ...noToken } = temp;
      assert.ok(sessionToken);
      await h.assertRefused(await h.presignWithKvsSdk(ch.viewer.WSS, ch.arn, 'temp-viewer', noToken), 403);
    });

    test('the signature covers host and path: another channel path or role path is 403', async () => {
      const ch = await channel('sig-path');
      const url = await h.presignWithKvsSdk(ch.viewer.WSS, ch.arn, 'v');
      await h.assertRefused(url.replace('/wss/viewer', '/wss/master'), 403);
    });
  });

  describe('URLs presigned by @smithy/signature-v4', () => {
    test('a fresh URL opens', async () => {
      const ch = await channel('smithy-ok');
      const url = await h.presignWithSmithy(ch.viewer.WSS, { query: { 'X-Amz-ChannelARN': ch.arn, 'X-Amz-ClientId': 'smithy-viewer' } });
      const v = await h.connect(url);
      assert.deepEqual((await emu.connections('smithy-ok')).viewers, ['smithy-viewer']);
      v.close();
    });

    test('an expiry in the past (fixed signing date 10 minutes ago, expiresIn 299) is 403', async () => {
      const ch = await channel('smithy-past');
      const url = await h.presignWithSmithy(ch.master.WSS, { query: { 'X-Amz-ChannelARN': ch.arn }, signingDate: new Date(Date.now() - 10 * 60000) });
      await h.assertRefused(url, 403);
    });

    test('X-Amz-Expires above 300 is 403 even while fresh', async () => {
      const ch = await channel('smithy-long');
      await h.assertRefused(await h.presignWithSmithy(ch.master.WSS, { query: { 'X-Amz-ChannelARN': ch.arn }, expiresIn: 301 }), 403);
      const ok = await h.connect(await h.presignWithSmithy(ch.master.WSS, { query: { 'X-Amz-ChannelARN': ch.arn }, expiresIn: 300 }));
      ok.close();
    });

    test('a tampered signature, another region or another service in the scope is 403', async () => {
      const ch = await channel('smithy-bad');
      const q = { query: { 'X-Amz-ChannelARN': ch.arn } };
      const url = await h.presignWithSmithy(ch.master.WSS, q);
      await h.assertRefused(h.withParam(url, 'X-Amz-Signature', h.tamper(h.paramOf(url, 'X-Amz-Signature'))), 403);
      await h.assertRefused(await h.presignWithSmithy(ch.master.WSS, { ...q, region: 'us-east-1' }), 403);
      await h.assertRefused(await h.presignWithSmithy(ch.master.WSS, { ...q, service: 'kinesis' }), 403);
    });
  });

  describe('parameters, checked after the signature', () => {
    test('a missing ARN, a master with a ClientId, a viewer without one or with a bad one are 400', async () => {
      const ch = await channel('param-400');
      await h.assertRefused(await h.presignWithSmithy(ch.master.WSS, { query: {} }), 400);
      await h.assertRefused(await h.presignWithKvsSdk(ch.master.WSS, ch.arn, 'not-allowed'), 400);
      await h.assertRefused(await h.presignWithKvsSdk(ch.viewer.WSS, ch.arn, null), 400);
      await h.assertRefused(await h.presignWithKvsSdk(ch.viewer.WSS, ch.arn, 'AWS_viewer'), 400);
      await h.assertRefused(await h.presignWithKvsSdk(ch.viewer.WSS, ch.arn, 'aws_lower'), 400);
      await h.assertRefused(await h.presignWithSmithy(ch.viewer.WSS, { query: { 'X-Amz-ChannelARN': ch.arn, 'X-Amz-ClientId': 'has space' } }), 400);
      await h.assertRefused(await h.presignWithKvsSdk(ch.viewer.WSS, ch.arn, 'x'.repeat(257)), 400);
    });

    test('an unknown channel is 404; the ARN of another channel on this endpoint is 400', async () => {
      const a = await channel('param-a');
      const b = await channel('param-b');
      await h.assertRefused(await h.presignWithKvsSdk(a.master.WSS, a.arn.replace(/\/\d+$/, '/42'), null), 404);
      await h.assertRefused(await h.presignWithKvsSdk(a.master.WSS, b.arn, null), 400);
    });

    test('a plain GET without the upgrade is refused', async () => {
      const ch = await channel('param-plain');
      const r = await h.rawRequest(await h.presignWithKvsSdk(ch.master.WSS, ch.arn, null));
      assert.equal(r.status, 426);
    });
  });

  describe('relay', () => {
    test('viewer -> master and master -> viewer carry SDP_OFFER, SDP_ANSWER and ICE_CANDIDATE in the KVS shapes', async () => {
      const ch = await channel('relay-shapes');
      const m = await openMaster(ch);
      const v = await openViewer(ch, 'viewer-A');
      const offer = h.b64(JSON.stringify({ type: 'offer', sdp: 'v=0\r\n' }));
      v.send({ action: 'SDP_OFFER', messagePayload: offer, recipientClientId: 'ignored-for-viewers' });
      assert.deepEqual(await m.next(), { messageType: 'SDP_OFFER', messagePayload: offer, senderClientId: 'viewer-A' });
      const cand = h.b64(JSON.stringify({ candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 }));
      v.send({ action: 'ICE_CANDIDATE', messagePayload: cand });
      assert.deepEqual(await m.next(), { messageType: 'ICE_CANDIDATE', messagePayload: cand, senderClientId: 'viewer-A' });
      const answer = h.b64(JSON.stringify({ type: 'answer', sdp: 'v=0\r\n' }));
      m.send({ action: 'SDP_ANSWER', messagePayload: answer, recipientClientId: 'viewer-A' });
      const got = await v.next();
      assert.deepEqual(got, { messageType: 'SDP_ANSWER', messagePayload: answer, senderClientId: '' });
      assert.deepEqual(Object.keys(got), ['messageType', 'messagePayload', 'senderClientId']);
      m.send({ action: 'ICE_CANDIDATE', messagePayload: cand, recipientClientId: 'viewer-A', correlationId: 'c-1' });
      assert.deepEqual(await v.next(), { messageType: 'ICE_CANDIDATE', messagePayload: cand, senderClientId: '' });
      m.close();
      v.close();
    });

    test('a master message reaches only the named viewer', async () => {
      const ch = await channel('relay-target');
      const m = await openMaster(ch);
      const v1 = await openViewer(ch, 'one');
      const v2 = await openViewer(ch, 'two');
      m.send({ action: 'SDP_ANSWER', messagePayload: h.b64('for two'), recipientClientId: 'two' });
      assert.equal((await v2.next()).messagePayload, h.b64('for two'));
      await h.sleep(100);
      assert.deepEqual(v1.pending(), []);
      for (const c of [m, v1, v2]) c.close();
    });

    test('the newest master wins: the older master is closed and messages go to the new one', async () => {
      const ch = await channel('relay-master');
      const m1 = await openMaster(ch);
      const m2 = await openMaster(ch);
      const closed = await m1.closed;
      assert.equal(closed.code, 1000);
      const v = await openViewer(ch, 'v');
      v.send({ action: 'SDP_OFFER', messagePayload: h.b64('offer') });
      assert.equal((await m2.next()).senderClientId, 'v');
      assert.deepEqual(await emu.connections('relay-master'), { master: true, viewers: ['v'] });
      m2.close();
      v.close();
    });

    test('ten viewers connect; the eleventh is refused with 400 before the upgrade; a known id still reconnects', async () => {
      const ch = await channel('relay-limit');
      const viewers = [];
      for (let i = 0; i < 10; i++) viewers.push(await openViewer(ch, `v${i}`));
      assert.equal((await emu.connections('relay-limit')).viewers.length, 10);
      await assert.rejects(openViewer(ch, 'v10'), (err) => {
        assert.equal(err.status, 400);
        assert.equal(JSON.parse(err.body).__type, 'ClientLimitExceededException');
        return true;
      });
      const again = await openViewer(ch, 'v3');
      assert.equal((await viewers[3].closed).code, 1000);
      assert.equal((await emu.connections('relay-limit')).viewers.length, 10);
      for (const v of viewers) v.close();
      again.close();
    });

    test('a viewer connecting again with the same client id replaces the old connection', async () => {
      const ch = await channel('relay-same-id');
      const m = await openMaster(ch);
      const old = await openViewer(ch, 'same');
      const fresh = await openViewer(ch, 'same');
      await old.closed;
      m.send({ action: 'SDP_ANSWER', messagePayload: h.b64('x'), recipientClientId: 'same' });
      assert.equal((await fresh.next()).messagePayload, h.b64('x'));
      assert.deepEqual((await emu.connections('relay-same-id')).viewers, ['same']);
      m.close();
      fresh.close();
    });

    test('bad messages answer STATUS_RESPONSE with the correlationId', async () => {
      const ch = await channel('relay-status');
      const m = await openMaster(ch);
      const v = await openViewer(ch, 'v');
      const status = async (conn, msg, correlationId) => {
        conn.send(msg);
        const r = await conn.next();
        assert.equal(r.messageType, 'STATUS_RESPONSE');
        assert.equal(r.statusResponse.success, false);
        assert.equal(r.statusResponse.statusCode, '400');
        assert.equal(typeof r.statusResponse.errorType, 'string');
        assert.equal(typeof r.statusResponse.description, 'string');
        assert.equal(r.statusResponse.correlationId, correlationId);
      };
      await status(v, 'not json', undefined);
      await status(v, { action: 'HELLO', messagePayload: h.b64('x'), correlationId: 'c1' }, 'c1');
      await status(v, { action: 'SDP_OFFER', messagePayload: '***', correlationId: 'c2' }, 'c2');
      await status(v, { action: 'SDP_OFFER', messagePayload: '', correlationId: 'c3' }, 'c3');
      await status(v, { action: 'SDP_OFFER', messagePayload: 'A'.repeat(10 * 1024 + 4), correlationId: 'c4' }, 'c4');
      await status(m, { action: 'SDP_ANSWER', messagePayload: h.b64('x'), correlationId: 'c5' }, 'c5');
      await status(m, { action: 'SDP_ANSWER', messagePayload: h.b64('x'), recipientClientId: 'absent', correlationId: 'c6' }, 'c6');
      // An absent recipient without a correlationId: silently dropped.
      m.send({ action: 'SDP_ANSWER', messagePayload: h.b64('x'), recipientClientId: 'absent' });
      await h.sleep(100);
      assert.deepEqual(m.pending(), []);
      // The connection still relays after bad messages.
      v.send({ action: 'SDP_OFFER', messagePayload: h.b64('still works') });
      assert.equal((await m.next()).messagePayload, h.b64('still works'));
      m.close();
      v.close();
    });

    test('a viewer message while no master is connected answers STATUS_RESPONSE only with a correlationId', async () => {
      const ch = await channel('relay-no-master');
      const v = await openViewer(ch, 'v');
      v.send({ action: 'SDP_OFFER', messagePayload: h.b64('x') });
      v.send({ action: 'SDP_OFFER', messagePayload: h.b64('x'), correlationId: 'abc' });
      const r = await v.next();
      assert.equal(r.statusResponse.correlationId, 'abc');
      await h.sleep(50);
      assert.deepEqual(v.pending(), []);
      v.close();
    });

    test('deleting the channel closes its connections', async () => {
      const ch = await channel('relay-delete');
      const m = await openMaster(ch);
      const v = await openViewer(ch, 'v');
      await client.send(new kv.DeleteSignalingChannelCommand({ ChannelARN: ch.arn }));
      await Promise.all([m.closed, v.closed]);
      await assert.rejects(emu.connections('relay-delete'), /404/);
      await h.assertRefused(await h.presignWithKvsSdk(ch.master.WSS, ch.arn, null), 404);
    });
  });

  test('ConnectAsMaster and ConnectAsViewer are counted by outcome', async () => {
    const ch = await channel('sig-count');
    await emu.resetCounters();
    const m = await openMaster(ch);
    const v = await openViewer(ch, 'v');
    await h.assertRefused(await h.presignWithKvsSdk(ch.viewer.WSS, ch.arn, 'v', { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'bad' }), 403);
    const c = (await emu.counters()).operations;
    assert.deepEqual([c.ConnectAsMaster.total, c.ConnectAsMaster.ok], [1, 1]);
    assert.deepEqual([c.ConnectAsViewer.total, c.ConnectAsViewer.ok, c.ConnectAsViewer.error], [2, 1, 1]);
    m.close();
    v.close();
  });
});
