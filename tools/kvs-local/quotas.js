'use strict';
// The documented KVS request-rate quotas, enforced when the fault knob
// `quotas` is on (docs/emulator.md, "Quotas"). Each quota is a token bucket
// holding one second's worth of calls (capacity = TPS, at least one call),
// refilled continuously at TPS per second: one bucket per operation for the
// account, and one per (operation, resource) where a per-channel (or
// per-stream) quota is documented. A call passes only when every bucket it
// meets has a whole token, and then takes one from each; a refused call takes
// nothing. The resource of a call is its channel (stream) name: ChannelName,
// or the NAME of a ChannelARN / ResourceARN / channelArn
// (arn:PARTITION:kinesisvideo:REGION:ACCOUNT:channel/NAME/CREATIONTIME; the
// signaling endpoint passes its X-Amz-ChannelARN as ChannelARN), so calls by
// name and by ARN share a bucket. `quotaScale` multiplies every TPS.
// The clock is monotonic (not shifted by clockSkewS).
//
// Sources (TPS; [h] hard, [s] soft):
//   WebRTC: https://docs.aws.amazon.com/kinesisvideostreams-webrtc-dg/latest/devguide/kvswebrtc-limits.html
//     control plane table, signaling table (ConnectAs*), TURN table
//     (GetIceServerConfig), WebRTC ingestion (JoinStorageSession*).
//   Streams: https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/limits.html
//     control plane table (CreateStream, DescribeStream).
// Operations absent here (STS, container credentials, IMDS) have no
// documented KVS quota and are not limited.

const { performance } = require('node:perf_hooks');
const { jsonError } = require('./http-util');

const QUOTAS = {
  // kvswebrtc-limits, control plane API service quotas
  CreateSignalingChannel: { account: 50 }, // [s]; per channel N/A
  DeleteSignalingChannel: { account: 50, channel: 5 }, // [h] [h]
  DescribeMediaStorageConfiguration: { account: 50, channel: 5 }, // [h] [h]
  DescribeSignalingChannel: { account: 300, channel: 5 }, // [h] [h]
  GetSignalingChannelEndpoint: { account: 300 }, // [h]; per channel N/A
  ListSignalingChannels: { account: 50 }, // [h]; per channel N/A
  ListTagsForResource: { account: 50, channel: 5 }, // [h] [h]
  TagResource: { account: 50, channel: 5 }, // [h] [h]
  UntagResource: { account: 50, channel: 5 }, // [h] [h]
  UpdateMediaStorageConfiguration: { account: 10, channel: 5 }, // [h] [h]
  UpdateSignalingChannel: { account: 50, channel: 5 }, // [h] [h]
  // kvswebrtc-limits, TURN service quotas: "5 TPS per signaling channel (h),
  // 100 TPS per AWS Region per AWS account (s)" (the emulator is one region)
  GetIceServerConfig: { account: 100, channel: 5 },
  // kvswebrtc-limits, signaling API service quotas: "Maximum API request rate
  // per channel 3 TPS (h)"; no account rate is documented
  ConnectAsMaster: { channel: 3 },
  ConnectAsViewer: { channel: 3 },
  // kvswebrtc-limits, WebRTC ingestion service quotas: "Per AWS account -
  // 50 TPS (h), Per channel - 2 TPS (h)". The per-channel 2 TPS is enforced
  // by storage.js at all times (switch or not), so only the account quota is here.
  JoinStorageSession: { account: 50 },
  JoinStorageSessionAsViewer: { account: 50 },
  // limits.html (Kinesis Video Streams), control plane API service quotas
  CreateStream: { account: 50 }, // [s]; no stream-level limit listed
  DescribeStream: { account: 300, stream: 5 }, // [h] [h]
};

const LIMITED_TYPE = 'ClientLimitExceededException';
const LIMITED_MESSAGE = 'Your request has been throttled because you have exceeded the limit of allowed client calls. Try making the call later.';
// Per-resource buckets kept at most; see prune().
const MAX_RESOURCE_BUCKETS = 10000;

const ARN_RE = /^arn:[a-z\d-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:(channel|stream)\/([a-zA-Z0-9_.-]{1,256})\/[0-9]+$/;
const NAME_RE = /^[a-zA-Z0-9_.-]{1,256}$/;
const ARN_MEMBERS = { channel: ['ChannelARN', 'ResourceARN', 'channelArn'], stream: ['StreamARN'] };
const NAME_MEMBERS = { channel: ['ChannelName'], stream: ['StreamName'] };

// The name of the channel or stream (`kind`) a call is about, or null.
// `input` is the parsed request (an object) or its raw JSON body.
function resourceOf(kind, input) {
  if (Buffer.isBuffer(input) || typeof input === 'string') {
    try {
      input = JSON.parse(input.toString('utf8'));
    } catch (e) {
      return null;
    }
  }
  if (input === null || typeof input !== 'object') return null;
  for (const member of ARN_MEMBERS[kind]) {
    const m = typeof input[member] === 'string' ? ARN_RE.exec(input[member]) : null;
    if (m && m[1] === kind) return m[2];
  }
  for (const member of NAME_MEMBERS[kind]) {
    if (typeof input[member] === 'string' && NAME_RE.test(input[member])) return input[member];
  }
  return null;
}

// The error a refused call answers (kinesisvideo and kinesis-video-signaling
// model ClientLimitExceededException as HTTP 400).
function limitedResponse() {
  return jsonError(400, LIMITED_TYPE, LIMITED_MESSAGE);
}

class Quotas {
  // options: {faults: Faults (knobs quotas, quotaScale), nowMs?: monotonic
  // clock in ms (tests), maxResourceBuckets?}
  constructor(options) {
    this.faults = options.faults;
    this.nowMs = options.nowMs || (() => performance.now());
    this.maxResourceBuckets = options.maxResourceBuckets || MAX_RESOURCE_BUCKETS;
    this.reset();
  }

  // Drops every bucket: all are full again.
  reset() {
    this.account = new Map(); // operation -> {tokens, atMs, tps}
    this.resources = new Map(); // `${operation} ${name}` -> {tokens, atMs, tps}, least recently used first
    this.lastSweepMs = -Infinity;
  }

  // Whether a call of `operation` on `input` may go on; when it may, its
  // tokens are taken. Always true with the switch off or for an operation
  // without a documented quota.
  allow(operation, input) {
    const f = this.faults.get();
    if (f.quotas !== true) return true;
    const quota = QUOTAS[operation];
    if (!quota) return true;
    const now = this.nowMs();
    const scale = f.quotaScale;
    const buckets = [];
    if (quota.account) buckets.push(this.bucket(this.account, operation, quota.account * scale, now));
    const kind = quota.channel ? 'channel' : quota.stream ? 'stream' : null;
    const name = kind ? resourceOf(kind, input) : null;
    let key = null;
    if (name !== null) {
      key = `${operation} ${name}`;
      buckets.push(this.bucket(this.resources, key, quota[kind] * scale, now));
    }
    const ok = buckets.every((b) => b.tokens >= 1);
    if (ok) for (const b of buckets) b.tokens -= 1;
    if (key !== null && this.resources.size > this.maxResourceBuckets) this.prune(now, key);
    return ok;
  }

  // The bucket `key` of `table`, refilled up to now at `tps`; a missing one
  // is full. Moves it to the most recently used end of the table.
  bucket(table, key, tps, now) {
    const capacity = Math.max(1, tps);
    let b = table.get(key);
    if (b) {
      table.delete(key);
      b.tokens = Math.min(capacity, b.tokens + (Math.max(0, now - b.atMs) / 1000) * tps);
      b.atMs = now;
    } else {
      b = { tokens: capacity, atMs: now, tps };
    }
    b.tps = tps;
    table.set(key, b);
    return b;
  }

  // Keeps the per-resource table bounded. Buckets that are full again are
  // dropped (a missing bucket is full, so nothing changes); that sweep runs at
  // most once a second, as a bucket of 1 TPS or more refills within a second
  // (slower ones stay until they are full). If more than
  // the maximum remain (that many resources called within about a second), the
  // least recently used go, which can only let calls through early.
  prune(now, keep) {
    if (now - this.lastSweepMs >= 1000) {
      this.lastSweepMs = now;
      for (const [key, b] of this.resources) {
        const capacity = Math.max(1, b.tps);
        if (key !== keep && b.tokens + ((now - b.atMs) / 1000) * b.tps >= capacity) this.resources.delete(key);
      }
    }
    for (const key of this.resources.keys()) {
      if (this.resources.size <= this.maxResourceBuckets) break;
      if (key !== keep) this.resources.delete(key);
    }
  }

  // Bucket counts (tests).
  sizes() {
    return { account: this.account.size, resources: this.resources.size };
  }
}

module.exports = { Quotas, QUOTAS, resourceOf, limitedResponse, LIMITED_TYPE, LIMITED_MESSAGE, MAX_RESOURCE_BUCKETS };
