'use strict';
// WebRTC ingestion in the emulator: the streams and media storage operations
// of the control plane (AWS SDK v3 client), the WEBRTC endpoint's
// JoinStorageSession / JoinStorageSessionAsViewer (signed with
// @smithy/signature-v4), and the storage peer behind it: a master and a viewer
// played by werift peers in this process get the peer's offer on their
// signaling sockets, answer it, and media flows master -> storage peer ->
// viewer. (The browser suite does the same with Chromium and the official
// SDK, tests/browser/storage.test.js.)
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { RTCPeerConnection, RtpPacket, RtpHeader, useH264, useOPUS } = require('werift');
const { startEmulator } = require('../lib/emulator');
const h = require('./helpers');

const { kv } = h;

async function awsError(promise) {
  try {
    await promise;
  } catch (e) {
    return { name: e.name, status: e.$metadata && e.$metadata.httpStatusCode, message: e.message };
  }
  throw new Error('the call succeeded');
}

describe('storage', () => {
  let emu;
  let client;
  before(async () => {
    emu = await startEmulator();
    client = h.kvsClient(emu);
  });
  after(() => emu.stop());

  const stats = async (name) => (await fetch(`${emu.url}/_emulator/channels/${name}/storage`)).json();

  async function recordingChannel(name, retention = 24) {
    const arn = await h.createChannel(client, name);
    const { StreamARN } = await client.send(new kv.CreateStreamCommand({ StreamName: `${name}-stream`, DataRetentionInHours: retention }));
    await client.send(new kv.UpdateMediaStorageConfigurationCommand({ ChannelARN: arn, MediaStorageConfiguration: { Status: 'ENABLED', StreamARN } }));
    const ep = async (role) => Object.fromEntries((await client.send(new kv.GetSignalingChannelEndpointCommand({
      ChannelARN: arn, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS', 'WEBRTC'], Role: role },
    }))).ResourceEndpointList.map((e) => [e.Protocol, e.ResourceEndpoint]));
    return { name, arn, streamArn: StreamARN, master: await ep('MASTER'), viewer: await ep('VIEWER') };
  }

  const join = (endpoint, body) => h.signedRequest(`${endpoint}/${body.clientId ? 'joinStorageSessionAsViewer' : 'joinStorageSession'}`, {
    headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });

  describe('control plane', () => {
    test('streams: CreateStream, DescribeStream by name and ARN, a repeated name is ResourceInUse', async () => {
      const { StreamARN } = await client.send(new kv.CreateStreamCommand({ StreamName: 'st-1', DataRetentionInHours: 2, MediaType: 'video/h264' }));
      assert.match(StreamARN, /^arn:aws:kinesisvideo:us-west-2:123456789012:stream\/st-1\/\d+$/);
      const byName = await client.send(new kv.DescribeStreamCommand({ StreamName: 'st-1' }));
      const byArn = await client.send(new kv.DescribeStreamCommand({ StreamARN }));
      assert.equal(byName.StreamInfo.StreamARN, StreamARN);
      assert.equal(byArn.StreamInfo.DataRetentionInHours, 2);
      assert.equal(byArn.StreamInfo.Status, 'ACTIVE');
      assert.equal((await awsError(client.send(new kv.CreateStreamCommand({ StreamName: 'st-1' })))).name, 'ResourceInUseException');
      assert.equal((await awsError(client.send(new kv.DescribeStreamCommand({ StreamName: 'nope' })))).name, 'ResourceNotFoundException');
    });

    test('media storage: DISABLED by default; enabling checks the stream, its retention and its owner', async () => {
      const arn = await h.createChannel(client, 'ms-1');
      const other = await h.createChannel(client, 'ms-2');
      const describe = async (a) => (await client.send(new kv.DescribeMediaStorageConfigurationCommand({ ChannelARN: a }))).MediaStorageConfiguration;
      assert.deepEqual(await describe(arn), { Status: 'DISABLED' });
      const { StreamARN: kept } = await client.send(new kv.CreateStreamCommand({ StreamName: 'ms-kept', DataRetentionInHours: 1 }));
      const { StreamARN: none } = await client.send(new kv.CreateStreamCommand({ StreamName: 'ms-none' }));
      const update = (a, cfg) => client.send(new kv.UpdateMediaStorageConfigurationCommand({ ChannelARN: a, MediaStorageConfiguration: cfg }));
      assert.deepEqual(await awsError(update(arn, { Status: 'ENABLED', StreamARN: none })),
        { name: 'NoDataRetentionException', status: 400, message: 'The Stream data retention in hours is equal to zero.' });
      assert.equal((await awsError(update(arn, { Status: 'ENABLED' }))).name, 'InvalidArgumentException');
      assert.equal((await awsError(update(arn, { Status: 'ENABLED', StreamARN: kept.replace('ms-kept', 'ms-gone') }))).name, 'ResourceNotFoundException');
      await update(arn, { Status: 'ENABLED', StreamARN: kept });
      assert.deepEqual(await describe(arn), { Status: 'ENABLED', StreamARN: kept });
      assert.deepEqual((await client.send(new kv.DescribeMediaStorageConfigurationCommand({ ChannelName: 'ms-1' }))).MediaStorageConfiguration,
        { Status: 'ENABLED', StreamARN: kept });
      assert.equal((await awsError(update(other, { Status: 'ENABLED', StreamARN: kept }))).name, 'ResourceInUseException');
      await update(arn, { Status: 'DISABLED' });
      assert.deepEqual(await describe(arn), { Status: 'DISABLED' });
    });

    test('GetSignalingChannelEndpoint gives WEBRTC only to a channel that records', async () => {
      const arn = await h.createChannel(client, 'ep-1');
      const err = await awsError(client.send(new kv.GetSignalingChannelEndpointCommand({
        ChannelARN: arn, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS', 'WEBRTC'], Role: 'MASTER' },
      })));
      assert.equal(err.name, 'InvalidArgumentException');
      const ch = await recordingChannel('ep-2');
      assert.match(ch.master.WEBRTC, /^http:\/\/127\.0\.0\.1:\d+\/channels\/\d+\/webrtc$/);
      assert.match(ch.master.WSS, /\/wss\/master$/);
    });
  });

  describe('join API', () => {
    test('signed joins answer 200 with no body; unsigned ones 403; a channel that does not record 400', async () => {
      const ch = await recordingChannel('join-1');
      const r = await join(ch.master.WEBRTC, { channelArn: ch.arn });
      assert.equal(r.status, 200);
      assert.equal(r.body, '');
      const unsigned = await h.rawRequest(`${ch.master.WEBRTC}/joinStorageSession`, { method: 'POST', body: JSON.stringify({ channelArn: ch.arn }) });
      assert.equal(unsigned.status, 403);
      await client.send(new kv.UpdateMediaStorageConfigurationCommand({ ChannelARN: ch.arn, MediaStorageConfiguration: { Status: 'DISABLED' } }));
      const off = await join(ch.master.WEBRTC, { channelArn: ch.arn });
      assert.equal(off.status, 400);
      assert.equal(JSON.parse(off.body).__type, 'InvalidArgumentException');
      assert.equal(await emu.count('JoinStorageSession', 'ok'), 1);
    });

    test('per channel and API at most 2 calls a second; a session holds 3 viewers; clientId is checked', async () => {
      const ch = await recordingChannel('join-2');
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push((await join(ch.master.WEBRTC, { channelArn: ch.arn })).status);
      assert.deepEqual(codes, [200, 200, 400]);
      const bad = await join(ch.viewer.WEBRTC, { channelArn: ch.arn, clientId: 'has space' });
      assert.equal(JSON.parse(bad.body).__type, 'InvalidArgumentException');
      await h.sleep(1100);
      const third = await join(ch.master.WEBRTC, { channelArn: ch.arn });
      assert.equal(third.status, 200, 'the bucket refills');
      const throttled = JSON.parse((await join(ch.master.WEBRTC, { channelArn: ch.arn })).body || '{}');
      assert.ok(throttled.__type === undefined || throttled.__type === 'ClientLimitExceededException');
    });
  });

  describe('the storage peer', () => {
    // A werift peer that answers the storage peer's offer on a signaling socket.
    async function participant(ws, role) {
      const pc = new RTCPeerConnection({ codecs: { video: [useH264()], audio: [useOPUS()] } });
      const got = { videoPackets: 0, candidatesSent: 0 };
      pc.onIceCandidate.subscribe((c) => {
        if (!c) return;
        got.candidatesSent++;
        ws.send({ action: 'ICE_CANDIDATE', messagePayload: h.b64(JSON.stringify(c.toJSON())) });
      });
      pc.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(() => { got.videoPackets++; }));
      const offerMsg = await ws.next((m) => m.messageType === 'SDP_OFFER', 5000);
      assert.equal(offerMsg.senderClientId, undefined, 'the storage peer has no client id');
      const offer = JSON.parse(Buffer.from(offerMsg.messagePayload, 'base64').toString('utf8'));
      assert.equal(offer.type, 'offer');
      assert.match(offer.sdp, /H264/);
      await pc.setRemoteDescription(offer);
      const video = pc.getTransceivers().find((t) => t.kind === 'video');
      video.setDirection(role === 'master' ? 'sendonly' : 'recvonly');
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      ws.send({ action: 'SDP_ANSWER', messagePayload: h.b64(JSON.stringify({ type: 'answer', sdp: pc.localDescription.sdp })) });
      return { pc, got, video };
    }

    test('a master joins: offer on its socket, answer, connected, its video counted; a viewer gets that video', async () => {
      const ch = await recordingChannel('media-1');
      const mws = await h.connect(await h.presignWithKvsSdk(ch.master.WSS, ch.arn, null));
      assert.equal((await join(ch.master.WEBRTC, { channelArn: ch.arn })).status, 200);
      const master = await participant(mws, 'master');
      await waitFor(async () => (await stats('media-1')).master.state === 'connected');
      // H.264 RTP from the master (payloads are opaque to the storage peer)
      let seq = 1000;
      const sendFrames = setInterval(() => {
        const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq++ & 0xffff, timestamp: seq * 3000, marker: true, ssrc: 1234 });
        master.video.sender.sendRtp(new RtpPacket(header, Buffer.from([0x65, 0x88, 0x84, 0x00]))).catch(() => {});
      }, 20);
      try {
        await waitFor(async () => (await stats('media-1')).master.videoFrames >= 20);
        const vws = await h.connect(await h.presignWithKvsSdk(ch.viewer.WSS, ch.arn, 'v-1'));
        assert.equal((await join(ch.viewer.WEBRTC, { channelArn: ch.arn, clientId: 'v-1' })).status, 200);
        const viewer = await participant(vws, 'viewer');
        await waitFor(() => viewer.got.videoPackets >= 10, 10000);
        const s = await stats('media-1');
        assert.equal(s.viewers[0].clientId, 'v-1');
        assert.equal(s.viewers[0].state, 'connected');
        assert.ok(s.viewers[0].videoPacketsSent >= 10);
        assert.deepEqual(s.master.answerCodecs.sort(), ['h264', 'opus']);
        // disabling storage ends the session
        await client.send(new kv.UpdateMediaStorageConfigurationCommand({ ChannelARN: ch.arn, MediaStorageConfiguration: { Status: 'DISABLED' } }));
        assert.equal((await stats('media-1')).master, null);
        await viewer.pc.close();
        vws.close();
      } finally {
        clearInterval(sendFrames);
        await master.pc.close();
        mws.close();
      }
    });

    test('a join without a signaling connection sends nothing; a message to nobody gets a status', async () => {
      const ch = await recordingChannel('media-2');
      assert.equal((await join(ch.master.WEBRTC, { channelArn: ch.arn })).status, 200);
      await h.sleep(200);
      assert.equal((await stats('media-2')).master, null);
      const mws = await h.connect(await h.presignWithKvsSdk(ch.master.WSS, ch.arn, null));
      mws.send({ action: 'SDP_ANSWER', messagePayload: h.b64('{}'), correlationId: 'c1' });
      const st = await mws.next((m) => m.messageType === 'STATUS_RESPONSE');
      assert.equal(st.statusResponse.correlationId, 'c1');
      assert.equal(st.statusResponse.errorType, 'InvalidArgumentException');
      mws.close();
    });
  });
});

async function waitFor(fn, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
