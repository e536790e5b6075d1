'use strict';
// A channel's signaling endpoint: ConnectAsMaster / ConnectAsViewer over a
// WebSocket, checked before the upgrade like KVS (presigned SigV4 query, then
// parameters, channel, limits), then a relay with the KVS message shapes:
//   in:  {"action", "messagePayload", "recipientClientId"?, "correlationId"?}
//   out: {"messageType", "messagePayload", "senderClientId"}
// One master per channel (the newest wins), at most ten viewers, a viewer id
// connecting again replaces its older connection. On a channel that records
// (media storage ENABLED) peers do not reach each other: a viewer's messages,
// and the master's without recipientClientId, go to the storage peer
// (media-server.js), whose messages carry no senderClientId.

const http = require('node:http');
const { WebSocketServer } = require('ws');
const sigv4 = require('./sigv4');
const { requestId, sleep, GARBAGE } = require('./http-util');
const { CHANNEL_ARN_RE } = require('./control-plane');
const { LIMITED_TYPE, LIMITED_MESSAGE } = require('./quotas');

const PATH_RE = /^\/channels\/([0-9]{1,20})\/wss\/(master|viewer)$/;
const CLIENT_ID_RE = /^[a-zA-Z0-9_.-]{1,256}$/;
const CORRELATION_ID_RE = /^[a-zA-Z0-9_.-]{1,256}$/;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const ACTIONS = ['SDP_OFFER', 'SDP_ANSWER', 'ICE_CANDIDATE'];
const MAX_VIEWERS = 10;
const MAX_PAYLOAD_CHARS = 10 * 1024;
const MAX_PRESIGN_EXPIRES_S = 300;

class SignalingService {
  // options: {store, credentials, faults, counters, quotas?, nowMs, region, log}
  constructor(options) {
    Object.assign(this, options);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 256 * 1024, clientTracking: false });
    this.sockets = new Set(); // every accepted WebSocket
    this.pending = new Set(); // raw sockets held by a stall or waiting on latency
  }

  // Entry point from the HTTP server's 'upgrade' event.
  upgrade(req, socket, head) {
    socket.on('error', () => {});
    this.pending.add(socket);
    socket.once('close', () => this.pending.delete(socket));
    this.handleUpgrade(req, socket, head).catch((err) => {
      this.log.error('upgrade failed', { error: err.message });
      socket.destroy();
    });
  }

  refuse(socket, status, type, message) {
    if (socket.destroyed) return;
    const body = JSON.stringify({ __type: type, message });
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n` +
      `Date: ${new Date(this.nowMs()).toUTCString()}\r\n` +
      `x-amzn-RequestId: ${requestId()}\r\nx-amzn-ErrorType: ${type}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  async handleUpgrade(req, socket, head) {
    const started = Date.now();
    const q = req.url.indexOf('?');
    const path = q < 0 ? req.url : req.url.slice(0, q);
    const query = q < 0 ? '' : req.url.slice(q + 1);
    const m = PATH_RE.exec(path);
    if (!m) {
      this.refuse(socket, 404, 'UnknownOperationException', `No signaling endpoint at ${path.slice(0, 200)}`);
      return;
    }
    const [, channelId, role] = m;
    const operation = role === 'master' ? 'ConnectAsMaster' : 'ConnectAsViewer';
    const done = (outcome, status, detail) => {
      this.counters.record(operation, outcome);
      this.log.request({ op: operation, method: 'GET', path, status, outcome, ms: Date.now() - started, ...detail });
    };

    const fault = this.faults.decide(operation);
    if (fault.latencyMs > 0) await sleep(fault.latencyMs);
    switch (fault.action) {
      case 'reset':
        done('reset', 0);
        socket.destroy();
        return;
      case 'stall':
        done('stalled', 0);
        setTimeout(() => socket.destroy(), fault.stallMs).unref();
        return;
      case 'throttle':
        done('throttled', 400);
        this.refuse(socket, 400, 'ClientLimitExceededException', 'Your request has been throttled because you have exceeded the limit of allowed client calls. Try making the call later.');
        return;
      case 'error':
        done('error', fault.errorStatus);
        this.refuse(socket, fault.errorStatus, fault.errorStatus === 500 ? 'InternalFailure' : 'ServiceUnavailable',
          fault.errorStatus === 500 ? 'The request processing has failed because of an unknown error.' : 'The service is unavailable. Please try again later.');
        return;
      case 'garbage':
        done('garbage', 200);
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n' +
          `Content-Length: ${GARBAGE.length}\r\nConnection: close\r\n\r\n`);
        socket.end(GARBAGE);
        return;
      case 'truncate':
        done('truncated', 101);
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: webso', () => socket.destroy());
        return;
      default:
        break;
    }
    if (socket.destroyed) {
      done('error', 0, { reason: 'client went away' });
      return;
    }

    const auth = sigv4.verifyQueryAuth(
      { method: req.method, path, query, headers: sigv4.pairHeaders(req.rawHeaders) },
      {
        service: 'kinesisvideo',
        region: this.region,
        lookup: (id) => this.credentials.lookup(id),
        nowMs: this.nowMs(),
        maxExpiresS: MAX_PRESIGN_EXPIRES_S,
      });
    if (!auth.ok) {
      done('error', 403, { auth: auth.code });
      this.refuse(socket, 403, 'AccessDeniedException', auth.message);
      return;
    }
    const params = sigv4.queryParams(query);
    const arn = params.get('X-Amz-ChannelARN');
    const clientId = params.get('X-Amz-ClientId');
    // Quotas (when on) after authentication, before anything else is checked.
    if (this.quotas && !this.quotas.allow(operation, { ChannelARN: arn })) {
      done('limited', 400, { accessKeyId: auth.accessKeyId });
      this.refuse(socket, 400, LIMITED_TYPE, LIMITED_MESSAGE);
      return;
    }
    const bad = (message) => {
      done('error', 400, { accessKeyId: auth.accessKeyId });
      this.refuse(socket, 400, 'InvalidArgumentException', message);
    };
    if (!arn) return bad('X-Amz-ChannelARN is required.');
    if (arn.length > 1024 || !CHANNEL_ARN_RE.test(arn)) return bad('X-Amz-ChannelARN is not a valid channel ARN.');
    if (role === 'master' && clientId !== undefined) {
      return bad('X-Amz-ClientId must not be given when connecting as master.');
    }
    if (role === 'viewer') {
      if (!clientId) return bad('X-Amz-ClientId is required when connecting as viewer.');
      if (!CLIENT_ID_RE.test(clientId) || /^aws_/i.test(clientId)) {
        return bad('X-Amz-ClientId must match [a-zA-Z0-9_.-]{1,256} and must not start with AWS_.');
      }
    }
    const channel = this.store.getByArn(arn);
    if (!channel || channel.status !== 'ACTIVE') {
      done('error', 404, { accessKeyId: auth.accessKeyId });
      this.refuse(socket, 404, 'ResourceNotFoundException', 'The requested channel is not found or not active.');
      return;
    }
    if (channel.id !== channelId) return bad('X-Amz-ChannelARN does not belong to this endpoint.');
    if (role === 'viewer' && !channel.viewers.has(clientId) && channel.viewers.size >= MAX_VIEWERS) {
      done('error', 400, { accessKeyId: auth.accessKeyId });
      this.refuse(socket, 400, 'ClientLimitExceededException',
        `The channel already has ${MAX_VIEWERS} viewers connected.`);
      return;
    }
    if (socket.destroyed) {
      done('error', 0, { reason: 'client went away' });
      return;
    }
    // What ws itself would refuse, refused (and counted) here.
    const key = req.headers['sec-websocket-key'];
    if (req.method !== 'GET' || String(req.headers.upgrade).toLowerCase() !== 'websocket' ||
        !key || !/^[+/0-9A-Za-z]{22}==$/.test(key) || req.headers['sec-websocket-version'] !== '13') {
      done('error', 400, { reason: 'not a WebSocket handshake' });
      this.refuse(socket, 400, 'InvalidArgumentException', 'Not a valid WebSocket (version 13) handshake.');
      return;
    }
    this.pending.delete(socket);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(channel, role, clientId, ws));
    done('ok', 101, { accessKeyId: auth.accessKeyId });
  }

  attach(channel, role, clientId, ws) {
    const conn = { ws, role, clientId: role === 'viewer' ? clientId : '', channel };
    this.sockets.add(ws);
    let old = null;
    if (role === 'master') {
      old = channel.master;
      channel.master = conn;
    } else {
      old = channel.viewers.get(clientId) || null;
      channel.viewers.set(clientId, conn);
    }
    if (old) old.ws.close(1000, 'replaced by a newer connection');
    ws.on('message', (data, isBinary) => this.onMessage(conn, data, isBinary));
    ws.on('error', () => {});
    ws.on('close', () => {
      this.sockets.delete(ws);
      if (channel.master === conn) channel.master = null;
      if (role === 'viewer' && channel.viewers.get(clientId) === conn) channel.viewers.delete(clientId);
      if (this.media) this.media.leave(channel, role, clientId);
    });
  }

  status(conn, correlationId, errorType, description) {
    const statusResponse = {};
    if (correlationId !== undefined) statusResponse.correlationId = correlationId;
    Object.assign(statusResponse, { success: false, errorType, statusCode: '400', description });
    this.send(conn, { messageType: 'STATUS_RESPONSE', statusResponse });
  }

  send(conn, message) {
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(JSON.stringify(message));
  }

  onMessage(conn, data, isBinary) {
    const invalid = (correlationId, description) => {
      this.log.warn('signaling message refused', { channel: conn.channel.name, role: conn.role, reason: description });
      this.status(conn, correlationId, 'InvalidArgumentException', description);
    };
    if (isBinary) return invalid(undefined, 'Binary messages are not supported; send JSON text.');
    let msg;
    try {
      msg = JSON.parse(data.toString('utf8'));
    } catch (e) {
      return invalid(undefined, 'The message is not valid JSON.');
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
      return invalid(undefined, 'The message must be a JSON object.');
    }
    let correlationId;
    if (msg.correlationId !== undefined) {
      if (typeof msg.correlationId !== 'string' || !CORRELATION_ID_RE.test(msg.correlationId)) {
        return invalid(undefined, 'correlationId must match [a-zA-Z0-9_.-]{1,256}.');
      }
      correlationId = msg.correlationId;
    }
    if (!ACTIONS.includes(msg.action)) {
      return invalid(correlationId, `action must be one of ${ACTIONS.join(', ')}.`);
    }
    const payload = msg.messagePayload;
    if (typeof payload !== 'string' || payload.length < 1 || !BASE64_RE.test(payload)) {
      return invalid(correlationId, 'messagePayload must be a non-empty base64 string.');
    }
    if (payload.length > MAX_PAYLOAD_CHARS) {
      return invalid(correlationId, `messagePayload is longer than ${MAX_PAYLOAD_CHARS} characters.`);
    }
    const channel = conn.channel;
    if (channel.storage.status === 'ENABLED' && this.media &&
        (conn.role === 'viewer' || msg.recipientClientId === undefined)) {
      if (!this.media.onMessage(channel, conn.role, conn.clientId, msg.action, payload) && correlationId !== undefined) {
        this.status(conn, correlationId, 'InvalidArgumentException',
          'The channel records to a stream: join the storage session (JoinStorageSession) and answer its offer.');
      }
      return;
    }
    let target;
    if (conn.role === 'viewer') {
      target = channel.master; // a viewer's recipientClientId is ignored
    } else {
      const recipient = msg.recipientClientId;
      if (typeof recipient !== 'string' || !CLIENT_ID_RE.test(recipient)) {
        return invalid(correlationId, 'recipientClientId is required when the master sends a message.');
      }
      target = channel.viewers.get(recipient);
    }
    if (!target) {
      if (correlationId !== undefined) {
        this.status(conn, correlationId, 'InvalidArgumentException',
          conn.role === 'viewer' ? 'The master is not connected.' : `The viewer ${msg.recipientClientId} is not connected.`);
      }
      return;
    }
    this.send(target, { messageType: msg.action, messagePayload: payload, senderClientId: conn.clientId });
  }

  // Closes every connection of a channel (deleted, or the emulator reset).
  closeChannel(channel, reason = 'channel deleted') {
    const conns = [];
    if (channel.master) conns.push(channel.master);
    conns.push(...channel.viewers.values());
    channel.master = null;
    channel.viewers.clear();
    for (const c of conns) c.ws.close(1001, reason);
  }

  connections(channel) {
    return { master: Boolean(channel.master), viewers: [...channel.viewers.keys()] };
  }

  // Ends every connection; used on shutdown and reset.
  closeAll(reason) {
    for (const ws of this.sockets) {
      ws.close(1001, reason);
      setTimeout(() => ws.terminate(), 1000).unref();
    }
    for (const socket of this.pending) socket.destroy();
    this.pending.clear();
  }
}

module.exports = { SignalingService, MAX_VIEWERS };
