'use strict';
// The KVS control plane (botocore model kinesisvideo-2017-09-30, rest-json):
// the signaling-channel operations, the tagging operations, and what WebRTC
// ingestion needs of the rest (CreateStream and DescribeStream for the video
// streams channels record into, Update/DescribeMediaStorageConfiguration), on
// top of the channel store. Requests are authenticated by the caller
// (server.js) before they reach a handler here.

const { jsonError, json } = require('./http-util');

const CHANNEL_NAME_RE = /^[a-zA-Z0-9_.-]+$/;
const CHANNEL_ARN_RE = /^arn:[a-z\d-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:[a-z]+\/[a-zA-Z0-9_.-]+\/[0-9]+$/;
const VERSION_RE = /^[a-zA-Z0-9]+$/;
const NEXT_TOKEN_RE = /^[a-zA-Z0-9+/=]*$/;
const TAG_RE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const MAX_TAGS = 50;
const DEFAULT_MESSAGE_TTL_S = 60;

const OPERATIONS = {
  '/createSignalingChannel': 'CreateSignalingChannel',
  '/describeSignalingChannel': 'DescribeSignalingChannel',
  '/listSignalingChannels': 'ListSignalingChannels',
  '/deleteSignalingChannel': 'DeleteSignalingChannel',
  '/getSignalingChannelEndpoint': 'GetSignalingChannelEndpoint',
  '/updateSignalingChannel': 'UpdateSignalingChannel',
  '/TagResource': 'TagResource',
  '/UntagResource': 'UntagResource',
  '/ListTagsForResource': 'ListTagsForResource',
  '/createStream': 'CreateStream',
  '/describeStream': 'DescribeStream',
  '/updateMediaStorageConfiguration': 'UpdateMediaStorageConfiguration',
  '/describeMediaStorageConfiguration': 'DescribeMediaStorageConfiguration',
};
const STREAM_ARN_RE = /^arn:[a-z\d-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:[a-z]+\/[a-zA-Z0-9_.-]+\/[0-9]+$/;
// Channels with media storage enabled, per account and region (ingest-media.html).
const MAX_STORAGE_CHANNELS = 100;

class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }

  response() {
    return jsonError(this.status, this.type, this.message);
  }
}

const invalid = (message) => new ApiError(400, 'InvalidArgumentException', message);
const notFound = (message = 'The requested channel is not found or not active.') =>
  new ApiError(404, 'ResourceNotFoundException', message);
const inUse = (message) => new ApiError(400, 'ResourceInUseException', message);

function validationMessage(value, member, constraint) {
  const shown = typeof value === 'string' ? value : JSON.stringify(value);
  return `1 validation error detected: Value '${shown}' at '${member}' failed to satisfy constraint: ${constraint}`;
}

// Parses a rest-json body: empty means {}; anything but an object is a
// SerializationException, as AWS answers.
function parseBody(body) {
  const textBody = body.toString('utf8');
  if (textBody.trim() === '') return {};
  let value;
  try {
    value = JSON.parse(textBody);
  } catch (e) {
    throw new ApiError(400, 'SerializationException', 'The request body is not valid JSON.');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ApiError(400, 'SerializationException', 'Start of list found where not expected; the request body must be a JSON object.');
  }
  return value;
}

function typed(value, member, type) {
  if (value === undefined || value === null) return undefined;
  const ok = type === 'array' ? Array.isArray(value) :
    type === 'object' ? typeof value === 'object' && !Array.isArray(value) :
      type === 'integer' ? Number.isInteger(value) : typeof value === type;
  if (!ok) throw new ApiError(400, 'SerializationException', `${member} must be of type ${type}.`);
  return value;
}

function str(input, member, { required = false, min = 1, max = 256, pattern = null, patternText = '' } = {}) {
  const value = typed(input[member], member, 'string');
  if (value === undefined) {
    if (required) throw invalid(validationMessage(null, member, 'Member must not be null'));
    return undefined;
  }
  if (value.length < min || value.length > max) {
    throw invalid(validationMessage(value, member, `Member must have length between ${min} and ${max}`));
  }
  if (pattern && !pattern.test(value)) {
    throw invalid(validationMessage(value, member, `Member must satisfy regular expression pattern: ${patternText || pattern.source}`));
  }
  return value;
}

const channelName = (input, member, required) =>
  str(input, member, { required, max: 256, pattern: CHANNEL_NAME_RE, patternText: '[a-zA-Z0-9_.-]+' });
const channelArn = (input, member, required) =>
  str(input, member, { required, max: 1024, pattern: CHANNEL_ARN_RE });

function messageTtl(input) {
  const config = typed(input.SingleMasterConfiguration, 'SingleMasterConfiguration', 'object');
  if (config === undefined) return undefined;
  const ttl = typed(config.MessageTtlSeconds, 'SingleMasterConfiguration.MessageTtlSeconds', 'integer');
  if (ttl === undefined) return undefined;
  if (ttl < 5 || ttl > 120) {
    throw invalid(validationMessage(ttl, 'singleMasterConfiguration.messageTtlSeconds',
      'Member must have value between 5 and 120'));
  }
  return ttl;
}

// A list of {Key, Value} tags, validated; returns [[key, value], ...].
function tagList(list, member, { min }) {
  typed(list, member, 'array');
  if (list.length < min || list.length > MAX_TAGS) {
    throw invalid(validationMessage(`[${list.length} tags]`, member, `Member must have length between ${min} and ${MAX_TAGS}`));
  }
  const out = new Map();
  for (const tag of list) {
    typed(tag, `${member}.member`, 'object');
    const key = str(tag, 'Key', { required: true, min: 1, max: 128, pattern: TAG_RE, patternText: '[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*' });
    const value = str(tag, 'Value', { required: true, min: 0, max: 256, pattern: TAG_RE, patternText: '[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*' });
    if (key.toLowerCase().startsWith('aws:')) throw invalid(`Tag keys may not start with 'aws:': '${key}'`);
    if (out.has(key)) throw invalid(`Duplicate tag key '${key}'.`);
    out.set(key, value);
  }
  return out;
}

const streamName = (input, member, required) =>
  str(input, member, { required, max: 256, pattern: CHANNEL_NAME_RE, patternText: '[a-zA-Z0-9_.-]+' });
const streamArn = (input, member, required) =>
  str(input, member, { required, max: 1024, pattern: STREAM_ARN_RE });

class ControlPlane {
  // options: {store: ChannelStore, faults: Faults, onStorageChanged(channel)}
  constructor(options) {
    this.store = options.store;
    this.faults = options.faults;
    this.onStorageChanged = options.onStorageChanged || (() => {});
  }

  static operationFor(path) {
    return Object.prototype.hasOwnProperty.call(OPERATIONS, path) ? OPERATIONS[path] : null;
  }

  // Runs one operation; `ctx.host` is the Host the client used (endpoints
  // handed out point back at it). Always returns a response descriptor.
  handle(operation, body, ctx) {
    try {
      const input = parseBody(body);
      return this[operation](input, ctx);
    } catch (e) {
      if (e instanceof ApiError) return e.response();
      throw e;
    }
  }

  channelByArn(arn) {
    const channel = this.store.getByArn(arn);
    if (!channel) throw notFound();
    return channel;
  }

  CreateSignalingChannel(input) {
    const name = channelName(input, 'ChannelName', true);
    const type = str(input, 'ChannelType', { max: 64 });
    if (type !== undefined && type !== 'SINGLE_MASTER') {
      if (type === 'FULL_MESH') throw invalid('Only the SINGLE_MASTER channel type is supported.');
      throw invalid(validationMessage(type, 'channelType', 'Member must satisfy enum value set: [SINGLE_MASTER, FULL_MESH]'));
    }
    const ttl = messageTtl(input);
    const tags = input.Tags === undefined || input.Tags === null ? new Map() : tagList(input.Tags, 'Tags', { min: 0 });
    if (this.store.getByName(name)) {
      throw inUse(`The signaling channel ${name} already exists.`);
    }
    if (this.store.size >= this.store.maxChannels) {
      throw new ApiError(400, 'AccountChannelLimitExceededException',
        'You have reached the maximum limit of active signaling channels for this AWS account in this region.');
    }
    const channel = this.store.create({
      name,
      messageTtlS: ttl === undefined ? DEFAULT_MESSAGE_TTL_S : ttl,
      tags,
      createDelayMs: this.faults.get().createDelayMs,
    });
    return json(200, { ChannelARN: channel.arn });
  }

  DescribeSignalingChannel(input) {
    const name = channelName(input, 'ChannelName', false);
    const arn = channelArn(input, 'ChannelARN', false);
    if (name === undefined && arn === undefined) {
      throw invalid('Either ChannelName or ChannelARN must be specified.');
    }
    const channel = arn !== undefined ? this.store.getByArn(arn) : this.store.getByName(name);
    if (!channel || (name !== undefined && channel.name !== name)) throw notFound();
    return json(200, { ChannelInfo: this.store.info(channel) });
  }

  ListSignalingChannels(input) {
    const maxResults = typed(input.MaxResults, 'MaxResults', 'integer');
    if (maxResults !== undefined && (maxResults < 1 || maxResults > 10000)) {
      throw invalid(validationMessage(maxResults, 'maxResults', 'Member must have value between 1 and 10000'));
    }
    const token = str(input, 'NextToken', { min: 0, max: 512, pattern: NEXT_TOKEN_RE });
    let after = null;
    if (token) {
      const decoded = Buffer.from(token, 'base64').toString('utf8');
      if (!decoded.startsWith('v1:') || Buffer.from(decoded, 'utf8').toString('base64') !== token) {
        throw invalid('The NextToken is not valid.');
      }
      after = decoded.slice(3);
    }
    let prefix = null;
    const condition = typed(input.ChannelNameCondition, 'ChannelNameCondition', 'object');
    if (condition !== undefined) {
      const op = str(condition, 'ComparisonOperator', { max: 64 });
      if (op !== undefined && op !== 'BEGINS_WITH') {
        throw invalid(validationMessage(op, 'channelNameCondition.comparisonOperator', 'Member must satisfy enum value set: [BEGINS_WITH]'));
      }
      prefix = channelName(condition, 'ComparisonValue', false);
      if (prefix === undefined) prefix = null;
    }
    const limit = maxResults === undefined ? 500 : maxResults;
    const names = this.store.sortedNames().filter((n) => (prefix === null || n.startsWith(prefix)) &&
      (after === null || n > after));
    const page = names.slice(0, limit);
    const out = { ChannelInfoList: page.map((n) => this.store.info(this.store.getByName(n))) };
    if (names.length > limit) out.NextToken = Buffer.from('v1:' + page[page.length - 1], 'utf8').toString('base64');
    return json(200, out);
  }

  DeleteSignalingChannel(input) {
    const arn = channelArn(input, 'ChannelARN', true);
    const version = str(input, 'CurrentVersion', { max: 64, pattern: VERSION_RE });
    const channel = this.channelByArn(arn);
    if (version !== undefined && version !== channel.version) {
      throw new ApiError(400, 'VersionMismatchException',
        'The version of the signaling channel does not match the CurrentVersion you specified.');
    }
    if (channel.status !== 'ACTIVE') {
      throw inUse(`The signaling channel is ${channel.status}; it can only be deleted when ACTIVE.`);
    }
    this.store.delete(channel, this.faults.get().deleteDelayMs);
    return json(200, {});
  }

  GetSignalingChannelEndpoint(input, ctx) {
    const arn = channelArn(input, 'ChannelARN', true);
    const config = typed(input.SingleMasterChannelEndpointConfiguration, 'SingleMasterChannelEndpointConfiguration', 'object');
    let protocols = ['WSS', 'HTTPS'];
    let role = 'MASTER';
    if (config !== undefined) {
      const list = typed(config.Protocols, 'Protocols', 'array');
      if (list !== undefined) {
        if (list.length < 1 || list.length > 5) {
          throw invalid(validationMessage(`[${list.length} protocols]`, 'singleMasterChannelEndpointConfiguration.protocols', 'Member must have length between 1 and 5'));
        }
        for (const p of list) {
          if (!['WSS', 'HTTPS', 'WEBRTC'].includes(p)) {
            throw invalid(validationMessage(p, 'singleMasterChannelEndpointConfiguration.protocols.member', 'Member must satisfy enum value set: [WSS, HTTPS, WEBRTC]'));
          }
        }
        if (new Set(list).size !== list.length) throw invalid('Protocols must not repeat.');
        protocols = list;
      }
      const r = str(config, 'Role', { max: 16 });
      if (r !== undefined) {
        if (r !== 'MASTER' && r !== 'VIEWER') {
          throw invalid(validationMessage(r, 'singleMasterChannelEndpointConfiguration.role', 'Member must satisfy enum value set: [MASTER, VIEWER]'));
        }
        role = r;
      }
    }
    const channel = this.channelByArn(arn);
    if (channel.status !== 'ACTIVE') throw inUse(`The signaling channel is ${channel.status}, not ACTIVE.`);
    if (protocols.includes('WEBRTC') && channel.storage.status !== 'ENABLED') {
      throw invalid('The WEBRTC protocol is only available for a signaling channel configured for media storage.');
    }
    const base = `/channels/${channel.id}`;
    const endpoint = { WSS: `ws://${ctx.host}${base}/wss/${role.toLowerCase()}`, HTTPS: `http://${ctx.host}${base}/https`,
      WEBRTC: `http://${ctx.host}${base}/webrtc` };
    const list = protocols.map((p) => ({ Protocol: p, ResourceEndpoint: endpoint[p] }));
    return json(200, { ResourceEndpointList: list });
  }

  UpdateSignalingChannel(input) {
    const arn = channelArn(input, 'ChannelARN', true);
    const version = str(input, 'CurrentVersion', { required: true, max: 64, pattern: VERSION_RE });
    const ttl = messageTtl(input);
    const channel = this.channelByArn(arn);
    if (version !== channel.version) {
      throw new ApiError(400, 'VersionMismatchException',
        'The version of the signaling channel does not match the CurrentVersion you specified.');
    }
    if (channel.status !== 'ACTIVE') throw inUse(`The signaling channel is ${channel.status}, not ACTIVE.`);
    if (ttl !== undefined) channel.messageTtlS = ttl;
    this.store.touch(channel);
    return json(200, {});
  }

  TagResource(input) {
    const arn = channelArn(input, 'ResourceARN', true);
    if (input.Tags === undefined || input.Tags === null) throw invalid(validationMessage(null, 'tags', 'Member must not be null'));
    const tags = tagList(input.Tags, 'Tags', { min: 1 });
    const channel = this.channelByArn(arn);
    const merged = new Map(channel.tags);
    for (const [k, v] of tags) merged.set(k, v);
    if (merged.size > MAX_TAGS) {
      throw new ApiError(400, 'TagsPerResourceExceededLimitException',
        `The signaling channel would have ${merged.size} tags; the limit is ${MAX_TAGS}.`);
    }
    channel.tags = merged;
    return json(200, {});
  }

  UntagResource(input) {
    const arn = channelArn(input, 'ResourceARN', true);
    const keys = typed(input.TagKeyList, 'TagKeyList', 'array');
    if (keys === undefined) throw invalid(validationMessage(null, 'tagKeyList', 'Member must not be null'));
    if (keys.length < 1 || keys.length > MAX_TAGS) {
      throw invalid(validationMessage(`[${keys.length} keys]`, 'tagKeyList', `Member must have length between 1 and ${MAX_TAGS}`));
    }
    for (const k of keys) {
      if (typeof k !== 'string') throw new ApiError(400, 'SerializationException', 'TagKeyList members must be strings.');
      if (k.length < 1 || k.length > 128 || !TAG_RE.test(k)) {
        throw invalid(validationMessage(k, 'tagKeyList.member', 'Member must have length between 1 and 128'));
      }
    }
    const channel = this.channelByArn(arn);
    for (const k of keys) channel.tags.delete(k);
    return json(200, {});
  }

  CreateStream(input) {
    const name = streamName(input, 'StreamName', true);
    const retention = typed(input.DataRetentionInHours, 'DataRetentionInHours', 'integer');
    if (retention !== undefined && (retention < 0 || retention > 87600)) {
      throw invalid(validationMessage(retention, 'dataRetentionInHours', 'Member must have value between 0 and 87600'));
    }
    const mediaType = str(input, 'MediaType', { max: 128, pattern: /^[\w\-.+]+\/[\w\-.+]+(,[\w\-.+]+\/[\w\-.+]+)*$/ });
    str(input, 'DeviceName', { max: 128, pattern: CHANNEL_NAME_RE });
    if (this.store.getStream(name)) throw inUse(`The stream ${name} already exists.`);
    const stream = this.store.createStream({ name, retentionHours: retention || 0, mediaType });
    return json(200, { StreamARN: stream.arn });
  }

  DescribeStream(input) {
    const name = streamName(input, 'StreamName', false);
    const arn = streamArn(input, 'StreamARN', false);
    if (name === undefined && arn === undefined) throw invalid('Either StreamName or StreamARN must be specified.');
    const stream = arn !== undefined ? this.store.getStreamByArn(arn) : this.store.getStream(name);
    if (!stream || (name !== undefined && stream.name !== name)) {
      throw new ApiError(404, 'ResourceNotFoundException', 'The requested stream is not found or not active.');
    }
    return json(200, { StreamInfo: this.store.streamInfo(stream) });
  }

  UpdateMediaStorageConfiguration(input) {
    const arn = channelArn(input, 'ChannelARN', true);
    const config = typed(input.MediaStorageConfiguration, 'MediaStorageConfiguration', 'object');
    if (config === undefined) throw invalid(validationMessage(null, 'mediaStorageConfiguration', 'Member must not be null'));
    const status = str(config, 'Status', { required: true, max: 16 });
    if (status !== 'ENABLED' && status !== 'DISABLED') {
      throw invalid(validationMessage(status, 'mediaStorageConfiguration.status', 'Member must satisfy enum value set: [ENABLED, DISABLED]'));
    }
    const sArn = streamArn(config, 'StreamARN', false);
    const channel = this.channelByArn(arn);
    if (channel.status !== 'ACTIVE') throw inUse(`The signaling channel is ${channel.status}, not ACTIVE.`);
    if (status === 'DISABLED') {
      channel.storage = { status: 'DISABLED', streamArn: null };
      this.onStorageChanged(channel);
      return json(200, {});
    }
    if (sArn === undefined) throw invalid('StreamARN is required when the media storage status is ENABLED.');
    const stream = this.store.getStreamByArn(sArn);
    if (!stream) throw new ApiError(404, 'ResourceNotFoundException', 'The requested stream is not found or not active.');
    if (stream.retentionHours === 0) {
      throw new ApiError(400, 'NoDataRetentionException', 'The Stream data retention in hours is equal to zero.');
    }
    const holder = this.store.channelRecordingInto(sArn);
    if (holder && holder !== channel) throw inUse('The stream is already mapped to another signaling channel.');
    if (channel.storage.status !== 'ENABLED' && this.store.storageChannelCount() >= MAX_STORAGE_CHANNELS) {
      throw new ApiError(400, 'ClientLimitExceededException',
        `At most ${MAX_STORAGE_CHANNELS} signaling channels per account may have media storage enabled.`);
    }
    channel.storage = { status: 'ENABLED', streamArn: sArn };
    this.onStorageChanged(channel);
    return json(200, {});
  }

  DescribeMediaStorageConfiguration(input) {
    const name = channelName(input, 'ChannelName', false);
    const arn = channelArn(input, 'ChannelARN', false);
    if (name === undefined && arn === undefined) throw invalid('Either ChannelName or ChannelARN must be specified.');
    const channel = arn !== undefined ? this.store.getByArn(arn) : this.store.getByName(name);
    if (!channel || (name !== undefined && channel.name !== name)) throw notFound();
    const out = { Status: channel.storage.status };
    if (channel.storage.streamArn) out.StreamARN = channel.storage.streamArn;
    return json(200, { MediaStorageConfiguration: out });
  }

  ListTagsForResource(input) {
    const arn = channelArn(input, 'ResourceARN', true);
    str(input, 'NextToken', { min: 0, max: 512, pattern: NEXT_TOKEN_RE });
    const channel = this.channelByArn(arn);
    return json(200, { Tags: Object.fromEntries(channel.tags) });
  }
}

module.exports = { ControlPlane, ApiError, OPERATIONS, CHANNEL_ARN_RE, CHANNEL_NAME_RE, parseBody, typed, str, invalid, validationMessage };
