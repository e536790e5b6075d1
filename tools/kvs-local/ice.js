'use strict';
// A channel's HTTPS endpoint: GetIceServerConfig
// (kinesis-video-signaling-2019-12-04, rest-json). Two TURN servers with fresh
// credentials per call; Username is "<expiry epoch s>:<base64("v1:" + ARN)>"
// as KVS hands out, the password random base64.

const crypto = require('node:crypto');
const { jsonError, json } = require('./http-util');
const { CHANNEL_ARN_RE } = require('./control-plane');

const CLIENT_ID_RE = /^[a-zA-Z0-9_.-]+$/;

class IceService {
  // options: {store, faults, nowMs, turnHost}
  constructor(options) {
    this.store = options.store;
    this.faults = options.faults;
    this.nowMs = options.nowMs;
    this.turnHost = options.turnHost;
  }

  // channelId from the path; body the raw request body (already authenticated).
  handle(channelId, body) {
    let input;
    try {
      input = body.length ? JSON.parse(body.toString('utf8')) : {};
    } catch (e) {
      return jsonError(400, 'SerializationException', 'The request body is not valid JSON.');
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      return jsonError(400, 'SerializationException', 'The request body must be a JSON object.');
    }
    const { ChannelARN: arn, ClientId: clientId, Service: service, Username: username } = input;
    if (typeof arn !== 'string' || arn.length < 1 || arn.length > 1024 || !CHANNEL_ARN_RE.test(arn)) {
      return jsonError(400, 'InvalidArgumentException', "1 validation error detected: Value at 'channelARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:[a-z\\d-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:[a-z]+/[a-zA-Z0-9_.-]+/[0-9]+");
    }
    if (clientId !== undefined && clientId !== null &&
        (typeof clientId !== 'string' || clientId.length > 256 || !CLIENT_ID_RE.test(clientId))) {
      return jsonError(400, 'InvalidArgumentException', "1 validation error detected: Value at 'clientId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+");
    }
    if (service !== undefined && service !== null && service !== 'TURN') {
      return jsonError(400, 'InvalidArgumentException', "1 validation error detected: Value at 'service' failed to satisfy constraint: Member must satisfy enum value set: [TURN]");
    }
    if (username !== undefined && username !== null &&
        (typeof username !== 'string' || username.length < 1 || username.length > 256 || !CLIENT_ID_RE.test(username))) {
      return jsonError(400, 'InvalidArgumentException', "1 validation error detected: Value at 'username' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+");
    }
    const channel = this.store.getByArn(arn);
    if (!channel || channel.status !== 'ACTIVE') {
      return jsonError(404, 'ResourceNotFoundException', 'The requested channel is not found or not active.');
    }
    if (channel.id !== channelId) {
      return jsonError(400, 'InvalidArgumentException',
        'The ChannelARN does not belong to this endpoint; call GetSignalingChannelEndpoint for the channel.');
    }
    const ttl = this.faults.get().iceTtl;
    const expiry = Math.floor(this.nowMs() / 1000) + ttl;
    const user = `${expiry}:${Buffer.from('v1:' + arn, 'utf8').toString('base64')}`;
    const h = this.turnHost;
    const servers = [[3478, 5349], [3479, 5350]].map(([turnPort, turnsPort]) => ({
      Uris: [`turn:${h}:${turnPort}?transport=udp`, `turns:${h}:${turnsPort}?transport=udp`, `turns:${h}:${turnsPort}?transport=tcp`],
      Username: user,
      Password: crypto.randomBytes(32).toString('base64'),
      Ttl: ttl,
    }));
    return json(200, { IceServerList: servers });
  }
}

module.exports = { IceService };
