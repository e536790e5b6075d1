'use strict';
// Signaling channels, and the video streams they may record into, in memory.
// The store only keeps state; validation and AWS errors are the control
// plane's job (control-plane.js), connections the signaling relay's
// (signaling.js) and the media server's (media-server.js), which learn of a
// removed channel through `onRemoved`.

const crypto = require('node:crypto');

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function newVersion() {
  const bytes = crypto.randomBytes(20);
  let out = '';
  for (const b of bytes) out += ALNUM[b % ALNUM.length];
  return out;
}

function partitionOf(region) {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

class ChannelStore {
  // options: {region, account, nowMs: () => number, maxChannels, onRemoved(channel)}
  constructor(options) {
    this.region = options.region;
    this.account = options.account;
    this.nowMs = options.nowMs;
    this.maxChannels = options.maxChannels;
    this.onRemoved = options.onRemoved || (() => {});
    this.byName = new Map();
    this.byArn = new Map();
    this.byId = new Map();
    this.streams = new Map(); // name -> stream
    this.lastCreationMs = 0;
  }

  // A creation time in ms, unique across channels and streams (their ids).
  nextId() {
    const ms = Math.max(Math.floor(this.nowMs()), this.lastCreationMs + 1);
    this.lastCreationMs = ms;
    return ms;
  }

  createStream({ name, retentionHours, mediaType }) {
    const creationTimeMs = this.nextId();
    const stream = {
      name,
      arn: `arn:${partitionOf(this.region)}:kinesisvideo:${this.region}:${this.account}:stream/${name}/${creationTimeMs}`,
      retentionHours,
      mediaType: mediaType || null,
      creationTimeMs,
      version: newVersion(),
    };
    this.streams.set(name, stream);
    return stream;
  }

  getStream(name) {
    return this.streams.get(name) || null;
  }

  getStreamByArn(arn) {
    for (const s of this.streams.values()) if (s.arn === arn) return s;
    return null;
  }

  streamInfo(s) {
    const info = { StreamName: s.name, StreamARN: s.arn, Version: s.version, Status: 'ACTIVE',
      CreationTime: s.creationTimeMs / 1000, DataRetentionInHours: s.retentionHours };
    if (s.mediaType) info.MediaType = s.mediaType;
    return info;
  }

  // The channel whose media storage records into the stream, or null.
  channelRecordingInto(streamArn) {
    for (const c of this.byName.values()) if (c.storage.status === 'ENABLED' && c.storage.streamArn === streamArn) return c;
    return null;
  }

  storageChannelCount() {
    let n = 0;
    for (const c of this.byName.values()) if (c.storage.status === 'ENABLED') n++;
    return n;
  }

  get size() {
    return this.byName.size;
  }

  getByName(name) {
    return this.byName.get(name) || null;
  }

  getByArn(arn) {
    return this.byArn.get(arn) || null;
  }

  getById(id) {
    return this.byId.get(id) || null;
  }

  // Names in code-unit order (the order ListSignalingChannels pages in).
  sortedNames() {
    return [...this.byName.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  // Creates a channel; ACTIVE at once, or CREATING for createDelayMs.
  create({ name, messageTtlS, tags, createDelayMs }) {
    // The channel id is the creation time in ms, and must be unique.
    const creationTimeMs = this.nextId();
    const id = String(creationTimeMs);
    const channel = {
      name,
      id,
      arn: `arn:${partitionOf(this.region)}:kinesisvideo:${this.region}:${this.account}:channel/${name}/${id}`,
      type: 'SINGLE_MASTER',
      status: createDelayMs > 0 ? 'CREATING' : 'ACTIVE',
      creationTimeMs,
      messageTtlS,
      version: newVersion(),
      tags: new Map(tags),
      timer: null,
      master: null,
      viewers: new Map(),
      storage: { status: 'DISABLED', streamArn: null },
    };
    this.byName.set(name, channel);
    this.byArn.set(channel.arn, channel);
    this.byId.set(id, channel);
    if (createDelayMs > 0) {
      channel.timer = setTimeout(() => {
        channel.timer = null;
        if (this.byArn.get(channel.arn) === channel && channel.status === 'CREATING') {
          channel.status = 'ACTIVE';
          channel.version = newVersion();
        }
      }, createDelayMs);
    }
    return channel;
  }

  touch(channel) {
    channel.version = newVersion();
  }

  // Deletes at once, or marks DELETING and removes after deleteDelayMs.
  delete(channel, deleteDelayMs) {
    if (channel.timer) clearTimeout(channel.timer);
    channel.timer = null;
    if (deleteDelayMs > 0) {
      channel.status = 'DELETING';
      channel.version = newVersion();
      this.onRemoved(channel);
      channel.timer = setTimeout(() => {
        channel.timer = null;
        this.remove(channel);
      }, deleteDelayMs);
    } else {
      this.remove(channel);
    }
  }

  remove(channel) {
    if (this.byArn.get(channel.arn) !== channel) return;
    if (channel.timer) clearTimeout(channel.timer);
    channel.timer = null;
    this.byName.delete(channel.name);
    this.byArn.delete(channel.arn);
    this.byId.delete(channel.id);
    this.onRemoved(channel);
  }

  reset() {
    for (const channel of [...this.byName.values()]) this.remove(channel);
    this.streams.clear();
  }

  info(channel) {
    return {
      ChannelName: channel.name,
      ChannelARN: channel.arn,
      ChannelType: channel.type,
      ChannelStatus: channel.status,
      CreationTime: channel.creationTimeMs / 1000,
      SingleMasterConfiguration: { MessageTtlSeconds: channel.messageTtlS },
      Version: channel.version,
    };
  }
}

module.exports = { ChannelStore, partitionOf };
