'use strict';
// The WEBRTC endpoint of a storage-enabled channel (botocore model
// kinesis-video-webrtc-storage-2018-05-10, rest-json, signing name
// kinesisvideo): POST {endpoint}/joinStorageSession {"channelArn"} and
// /joinStorageSessionAsViewer {"channelArn", "clientId"}. Requests are
// authenticated by the caller (server.js). Checked as KVS documents it
// (API_webrtc_JoinStorageSession*, kvswebrtc-limits "WebRTC ingestion"):
// the channel must record (media storage ENABLED), each API takes at most
// 2 calls per second per channel (ClientLimitExceededException), a session
// holds at most 3 viewers. A join answers 200 with no body and the offer
// follows asynchronously (media-server.js).

const { ApiError, CHANNEL_ARN_RE, parseBody, str, invalid } = require('./control-plane');

const PATH_RE = /^\/channels\/([0-9]{1,20})\/webrtc\/(joinStorageSession|joinStorageSessionAsViewer)$/;
const CLIENT_ID_RE = /^[a-zA-Z0-9_.-]+$/;
const PER_CHANNEL_TPS = 2;
const MAX_VIEWERS = 3;

class StorageService {
  // options: {store, media: MediaServer, nowMs}
  constructor(options) {
    Object.assign(this, options);
    this.buckets = new Map(); // `${op} ${arn}` -> {tokens, atMs}
  }

  static route(path) {
    const m = PATH_RE.exec(path);
    if (!m) return null;
    return { channelId: m[1], operation: m[2] === 'joinStorageSession' ? 'JoinStorageSession' : 'JoinStorageSessionAsViewer' };
  }

  // A token bucket per channel and API: PER_CHANNEL_TPS, burst the same.
  allow(op, arn) {
    const key = `${op} ${arn}`;
    const now = this.nowMs();
    const b = this.buckets.get(key) || { tokens: PER_CHANNEL_TPS, atMs: now };
    b.tokens = Math.min(PER_CHANNEL_TPS, b.tokens + ((now - b.atMs) / 1000) * PER_CHANNEL_TPS);
    b.atMs = now;
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  handle(operation, channelId, body) {
    try {
      return this.join(operation, channelId, parseBody(body));
    } catch (e) {
      if (e instanceof ApiError) return e.response();
      throw e;
    }
  }

  join(operation, channelId, input) {
    const arn = str(input, 'channelArn', { required: true, max: 1024, pattern: CHANNEL_ARN_RE });
    const viewer = operation === 'JoinStorageSessionAsViewer';
    const clientId = viewer ? str(input, 'clientId', { required: true, max: 256, pattern: CLIENT_ID_RE, patternText: '^[a-zA-Z0-9_.-]+$' }) : undefined;
    const channel = this.store.getByArn(arn);
    if (!channel || channel.status !== 'ACTIVE') {
      throw new ApiError(404, 'ResourceNotFoundException', 'The requested channel is not found or not active.');
    }
    if (channel.id !== channelId) throw invalid('The channelArn does not belong to this endpoint.');
    if (channel.storage.status !== 'ENABLED') {
      throw invalid('The signaling channel is not configured for media storage.');
    }
    if (!this.allow(operation, arn)) {
      throw new ApiError(400, 'ClientLimitExceededException',
        'Your request has been throttled because you have exceeded the limit of allowed client calls. Try making the call later.');
    }
    if (viewer && !this.media.hasViewer(channel, clientId) && this.media.viewerCount(channel) >= MAX_VIEWERS) {
      throw new ApiError(400, 'ClientLimitExceededException', 'The maximum number of viewers connected to the session has been reached.');
    }
    setImmediate(() => this.media.join(channel, viewer ? 'viewer' : 'master', clientId));
    return { status: 200, headers: {}, body: '' };
  }

  reset() {
    this.buckets.clear();
  }
}

module.exports = { StorageService, MAX_STORAGE_VIEWERS: MAX_VIEWERS };
