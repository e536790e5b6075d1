#!/usr/bin/env node
'use strict';
// The baseline: what the widely copied Express example does (KVS.md §1,
// junhyuk0801/aws-kvs-webtrtc-signaling-channel-example), on the AWS SDK v3
// and the official KVS JS signer, against the same local emulator as kvsgate.
//
// Per GET /channel/{viewer|master}/:channelname/:clientid, with no caching:
//   DescribeSignalingChannel -> GetSignalingChannelEndpoint (WSS + HTTPS)
//   -> GetIceServerConfig (a new signaling client on the HTTPS endpoint, as the
//   example makes one per call) -> SigV4RequestSigner.getSignedURL(WSS, {ChannelARN, ClientId})
// and answers the example's shape:
//   {"statusCode":200,"ok":true,"message":"a connection is created",
//    "channelData":{"configuration":{"iceServers":[...],"iceTransportPolicy":"all"},"url":...,"role":...}}
//
// Like the example: one process, one KinesisVideoClient made at start, CORS
// open to every origin (what `app.use(cors())` sends), JSON and urlencoded body
// parsers, no authentication at all (kvsgate verifies a JWT on every request,
// so this favours the baseline). Differences, both forced by the emulator: the
// emulator's signaling endpoint is ws://, which the official signer refuses,
// so it signs the wss:// spelling (the signature covers host and path, not the
// scheme) and hands back ws://; and it adds no STUN entry, as the example.
//
//   node bench/baseline-express/server.js --kvs http://127.0.0.1:4566 [--port 0] [--region us-west-2]
// prints {"event":"listening","port":P} on stdout.
const express = require('express');
const { KinesisVideoClient, DescribeSignalingChannelCommand, GetSignalingChannelEndpointCommand } =
  require('@aws-sdk/client-kinesis-video');
const { KinesisVideoSignalingClient, GetIceServerConfigCommand } =
  require('@aws-sdk/client-kinesis-video-signaling');
const { SigV4RequestSigner } = require('amazon-kinesis-video-streams-webrtc');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const endpoint = arg('--kvs', process.env.KVS_ENDPOINT);
const region = arg('--region', process.env.AWS_REGION || 'us-west-2');
const port = Number(arg('--port', '0'));
if (!endpoint) {
  process.stderr.write('usage: server.js --kvs URL [--port 0] [--region R]\n');
  process.exit(2);
}
const credentials = {
  accessKeyId: process.env.AWS_ACCESS_KEY_ID || 'AKIDLOCAL',
  secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || 'SECRETLOCAL',
};
const kinesis = new KinesisVideoClient({ region, endpoint, credentials });

async function channelInfo(role, channelName, clientId) {
  const described = await kinesis.send(new DescribeSignalingChannelCommand({ ChannelName: channelName }));
  const channelARN = described.ChannelInfo.ChannelARN;
  const endpoints = await kinesis.send(new GetSignalingChannelEndpointCommand({
    ChannelARN: channelARN,
    SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS'], Role: role },
  }));
  const byProtocol = {};
  for (const e of endpoints.ResourceEndpointList) byProtocol[e.Protocol] = e.ResourceEndpoint;
  const signaling = new KinesisVideoSignalingClient({ region, credentials, endpoint: byProtocol.HTTPS });
  const ice = await signaling.send(new GetIceServerConfigCommand({ ChannelARN: channelARN }));
  const iceServers = ice.IceServerList.map((s) => ({ urls: s.Uris, username: s.Username, credential: s.Password }));
  let queryParams = { 'X-Amz-ChannelARN': channelARN };
  if (clientId) queryParams = { ...queryParams, 'X-Amz-ClientId': clientId };
  const signer = new SigV4RequestSigner(region, credentials);
  const plain = byProtocol.WSS.startsWith('ws://');
  const wss = plain ? 'wss://' + byProtocol.WSS.slice(5) : byProtocol.WSS;
  let url = await signer.getSignedURL(wss, queryParams);
  if (plain) url = 'ws://' + url.slice(6);
  return { configuration: { iceServers, iceTransportPolicy: 'all' }, url, role };
}

const app = express();
app.use((req, res, next) => { res.set('Access-Control-Allow-Origin', '*'); next(); });
app.use(express.urlencoded({ extended: false }));
app.use(express.json());
app.get('/', (req, res) => res.json({ message: 'Hi there!' }));
for (const role of ['master', 'viewer']) {
  app.get(`/channel/${role}/:channelname/:clientid`, async (req, res) => {
    try {
      const channelData = await channelInfo(role.toUpperCase(), req.params.channelname,
        role === 'viewer' ? req.params.clientid : undefined);
      res.json({ statusCode: 200, ok: true, message: 'a connection is created', channelData });
    } catch (e) {
      res.status(500).json({ statusCode: 500, ok: false, message: e });
    }
  });
}

const server = app.listen(port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ event: 'listening', port: server.address().port }) + '\n');
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
