#!/usr/bin/env node
'use strict';
// kvs-local: the local KVS emulator (docs/emulator.md). One HTTP server on one
// port serves the KVS control plane, the channels' HTTPS, WebSocket and
// WEBRTC (storage session) endpoints with the storage peer behind them, STS,
// container credentials, EC2 IMDSv2 and the /_emulator test API. This file parses the flags, wires the modules together and runs the
// request pipeline every AWS operation goes through:
//   read the body (1 MiB cap) -> name the operation -> faults (latency, reset,
//   stall, throttle, 5xx) -> authenticate -> quotas (when on) -> handle ->
//   faults on the answer (garbage, truncate) -> count -> answer.

const http = require('node:http');
const sigv4 = require('./sigv4');
const { Counters } = require('./counters');
const { Faults } = require('./faults');
const { Quotas, limitedResponse } = require('./quotas');
const { CredentialStore } = require('./credentials');
const { ChannelStore } = require('./channels');
const { ControlPlane, OPERATIONS } = require('./control-plane');
const { IceService } = require('./ice');
const { SignalingService } = require('./signaling');
const { StorageService } = require('./storage');
const { MediaServer } = require('./media-server');
const { StsService, stsAuthError, xmlError, parseForm, operationOf } = require('./sts');
const { MetadataService } = require('./metadata');
const { createLogger } = require('./log');
const util = require('./http-util');

const ALL_OPERATIONS = [...Object.values(OPERATIONS), 'GetIceServerConfig', 'ConnectAsMaster', 'ConnectAsViewer',
  'JoinStorageSession', 'JoinStorageSessionAsViewer', 'AssumeRoleWithWebIdentity', 'AssumeRole', 'ContainerCredentials', 'IMDSToken', 'IMDSCredentials'];
const ICE_PATH_RE = /^\/channels\/([0-9]{1,20})\/https\/v1\/get-ice-server-config$/;
const WSS_PATH_RE = /^\/channels\/[0-9]{1,20}\/wss\/(master|viewer)$/;
const CONNECTIONS_RE = /^\/_emulator\/channels\/([^/]+)\/(connections|storage)$/;
const HOST_HEADER_RE = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

const USAGE = `usage: node tools/kvs-local/server.js [--port 4566] [--host 127.0.0.1] [--region us-west-2]
    [--account 123456789012] [--access-key-id AKIDLOCAL --secret-access-key SECRETLOCAL]...
    [--container-token TOKEN] [--credential-ttl 3600] [--ice-ttl 300] [--max-channels 10000]
    [--external-id ID] [--storage-session-s 3600] [--faults JSON] [--quotas] [--quiet]
See docs/emulator.md.`;

class UsageError extends Error {
  constructor(message, { help = false } = {}) {
    super(message);
    this.help = help;
  }
}

function parseArgs(argv) {
  const opts = {
    port: 4566,
    host: '127.0.0.1',
    region: 'us-west-2',
    account: '123456789012',
    accessKeyIds: [],
    secretAccessKeys: [],
    containerToken: 'local-container-token',
    credentialTtl: 3600,
    iceTtl: 300,
    maxChannels: 10000,
    externalId: null,
    storageSessionS: 3600,
    faults: null,
    quotas: false,
    quiet: false,
  };
  const int = (name, value, min, max) => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new UsageError(`${name} must be an integer in ${min}..${max}, not ${JSON.stringify(value)}`);
    }
    return Number(value);
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const next = () => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case '--port': opts.port = int(arg, next(), 0, 65535); break;
      case '--host': opts.host = next(); break;
      case '--region':
        opts.region = next();
        if (!/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(opts.region)) throw new UsageError(`--region ${JSON.stringify(opts.region)} is not a region name`);
        break;
      case '--account':
        opts.account = next();
        if (!/^\d{12}$/.test(opts.account)) throw new UsageError('--account must be 12 digits');
        break;
      case '--access-key-id': opts.accessKeyIds.push(next()); break;
      case '--secret-access-key': opts.secretAccessKeys.push(next()); break;
      case '--container-token': opts.containerToken = next(); break;
      case '--credential-ttl': opts.credentialTtl = int(arg, next(), 1, 129600); break;
      case '--ice-ttl': opts.iceTtl = int(arg, next(), 1, 86400); break;
      case '--max-channels': opts.maxChannels = int(arg, next(), 1, 1000000); break;
      case '--external-id': opts.externalId = next(); break;
      case '--storage-session-s': opts.storageSessionS = int(arg, next(), 1, 86400); break;
      case '--faults':
        try {
          opts.faults = JSON.parse(next());
        } catch (e) {
          throw new UsageError(`--faults is not JSON: ${e.message}`);
        }
        break;
      case '--quotas': opts.quotas = true; break;
      case '--quiet': opts.quiet = true; break;
      case '--help': case '-h': throw new UsageError('', { help: true });
      default: throw new UsageError(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  if (opts.accessKeyIds.length !== opts.secretAccessKeys.length) {
    throw new UsageError('--access-key-id and --secret-access-key must come in pairs');
  }
  if (opts.accessKeyIds.length === 0) {
    opts.accessKeyIds.push('AKIDLOCAL');
    opts.secretAccessKeys.push('SECRETLOCAL');
  }
  for (const id of opts.accessKeyIds) {
    if (!/^[A-Za-z0-9]{1,128}$/.test(id)) throw new UsageError('--access-key-id must be 1..128 letters or digits');
  }
  if (!opts.containerToken) throw new UsageError('--container-token must not be empty');
  return opts;
}

// host:port as a URL authority.
function authority(host, port) {
  const h = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`;
}

function createEmulator(opts) {
  const log = createLogger({ quiet: opts.quiet });
  const faults = new Faults({ iceTtl: opts.iceTtl, credentialTtl: opts.credentialTtl, quotas: opts.quotas }, ALL_OPERATIONS);
  if (opts.faults) faults.merge(opts.faults);
  // opts.quotaNowMs (not a flag): the quota buckets' clock, for in-process tests.
  const quotas = new Quotas({ faults, nowMs: opts.quotaNowMs });
  const nowMs = () => Date.now() + faults.clockSkewMs();
  const counters = new Counters();
  const credentials = new CredentialStore(
    opts.accessKeyIds.map((id, i) => ({ accessKeyId: id, secretAccessKey: opts.secretAccessKeys[i] })), nowMs);
  let signaling = null;
  const media = new MediaServer({ log, sessionMaxMs: opts.storageSessionS * 1000,
    send: (conn, message) => signaling.send(conn, message) });
  const store = new ChannelStore({
    region: opts.region,
    account: opts.account,
    nowMs,
    maxChannels: opts.maxChannels,
    onRemoved: (channel) => {
      media.closeChannel(channel, 'channel deleted');
      if (signaling) signaling.closeChannel(channel);
    },
  });
  const controlPlane = new ControlPlane({
    store,
    faults,
    onStorageChanged: (channel) => media.closeChannel(channel, 'media storage configuration changed'),
  });
  const storage = new StorageService({ store, media, nowMs });
  const turnHost = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' :
    opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const ice = new IceService({ store, faults, nowMs, turnHost });
  signaling = new SignalingService({ store, credentials, faults, counters, quotas, nowMs, region: opts.region, log, media });
  const sts = new StsService({ credentials, faults, nowMs, externalId: opts.externalId });
  const metadata = new MetadataService({ credentials, faults, nowMs, containerToken: opts.containerToken });
  const held = new Set(); // sockets held open by the stall fault
  let defaultHost = authority(opts.host, opts.port);

  function hostOf(req) {
    const h = req.headers.host;
    return h && HOST_HEADER_RE.test(h) ? h : defaultHost;
  }

  function send(res, response) {
    if (res.destroyed || res.writableEnded) return;
    const body = Buffer.isBuffer(response.body) ? response.body : Buffer.from(response.body || '', 'utf8');
    const headers = {
      'x-amzn-requestid': util.requestId(),
      ...response.headers,
      date: new Date(nowMs()).toUTCString(),
      'content-length': body.length,
    };
    if (response.close) headers.connection = 'close';
    res.writeHead(response.status, headers);
    res.end(body);
  }

  // The error answers injected by faults, in each protocol's own form.
  function injected(protocol, kind, status) {
    if (kind === 'throttle') {
      if (protocol === 'sts') return xmlError(400, 'Sender', 'Throttling', 'Rate exceeded');
      if (protocol === 'metadata') return util.text(429, 'Too Many Requests\n');
      return util.jsonError(400, 'ClientLimitExceededException',
        'Your request has been throttled because you have exceeded the limit of allowed client calls. Try making the call later.');
    }
    const type = status === 500 ? 'InternalFailure' : 'ServiceUnavailable';
    const message = status === 500 ? 'The request processing has failed because of an unknown error, exception or failure.'
      : 'The service is unavailable. Please try again later.';
    if (protocol === 'sts') return xmlError(status, 'Receiver', type, message);
    if (protocol === 'metadata') return util.text(status, `${type}\n`);
    return util.jsonError(status, type, message);
  }

  function authPolicy(service) {
    return { service, region: opts.region, lookup: (id) => credentials.lookup(id), nowMs: nowMs() };
  }

  function authRequest(req, path, query, body) {
    return { method: req.method, path, query, headers: sigv4.pairHeaders(req.rawHeaders), body };
  }

  // The handler of one AWS operation; returns a response descriptor.
  function handler(route, req, path, query, body) {
    switch (route.protocol) {
      case 'json': {
        const auth = sigv4.verifyHeaderAuth(authRequest(req, path, query, body), authPolicy('kinesisvideo'));
        if (!auth.ok) return Object.assign(util.kvsAuthError(auth), { authCode: auth.code });
        // Quotas are met after authentication and before the operation, so
        // a refused call changes nothing.
        if (!quotas.allow(route.operation, body)) {
          return Object.assign(limitedResponse(), { accessKeyId: auth.accessKeyId, limited: true });
        }
        const r = route.operation === 'GetIceServerConfig' ? ice.handle(route.channelId, body)
          : route.storage ? storage.handle(route.operation, route.channelId, body)
            : controlPlane.handle(route.operation, body, { host: hostOf(req) });
        return Object.assign(r, { accessKeyId: auth.accessKeyId });
      }
      case 'sts': {
        if (route.operation === 'AssumeRoleWithWebIdentity') return sts.AssumeRoleWithWebIdentity(route.form);
        const auth = sigv4.verifyHeaderAuth(authRequest(req, path, query, body), authPolicy('sts'));
        if (!auth.ok) return Object.assign(stsAuthError(auth), { authCode: auth.code });
        return Object.assign(sts.AssumeRole(route.form), { accessKeyId: auth.accessKeyId });
      }
      case 'metadata':
        if (route.operation === 'IMDSCredentials') return metadata.IMDSCredentials(req, path);
        return metadata[route.operation](req);
      default:
        throw new Error(`no protocol ${route.protocol}`);
    }
  }

  async function handleOperation(req, res, route, path, query, body) {
    const started = Date.now();
    const op = route.operation;
    const done = (outcome, status, extra = {}) => {
      counters.record(op, outcome);
      log.request({ op, method: req.method, path, status, outcome, ms: Date.now() - started, ...extra });
    };
    const fault = faults.decide(op);
    if (fault.latencyMs > 0) await util.sleep(fault.latencyMs);
    switch (fault.action) {
      case 'reset':
        done('reset', 0);
        req.socket.destroy();
        return;
      case 'stall': {
        done('stalled', 0);
        const socket = req.socket;
        held.add(socket);
        socket.once('close', () => held.delete(socket));
        setTimeout(() => socket.destroy(), fault.stallMs).unref();
        return;
      }
      case 'throttle':
        done('throttled', 400);
        send(res, injected(route.protocol, 'throttle'));
        return;
      case 'error':
        done('error', fault.errorStatus);
        send(res, injected(route.protocol, 'error', fault.errorStatus));
        return;
      default:
        break;
    }
    const response = handler(route, req, path, query, body);
    const extra = {};
    if (response.accessKeyId) extra.accessKeyId = response.accessKeyId;
    if (response.errorType) extra.errorType = response.errorType;
    if (response.authCode) extra.auth = response.authCode;
    if (fault.action === 'garbage') {
      done('garbage', 200, extra);
      send(res, { status: 200, headers: { 'content-type': response.headers['content-type'] || 'application/json' }, body: util.GARBAGE });
      return;
    }
    if (fault.action === 'truncate') {
      done('truncated', 200, extra);
      truncate(res, response);
      return;
    }
    done(response.limited ? 'limited' : response.status < 300 ? 'ok' : 'error', response.status, extra);
    send(res, response);
  }

  // Answers 200 with a Content-Length larger than the part of the body sent,
  // then drops the connection.
  function truncate(res, response) {
    const body = Buffer.isBuffer(response.body) ? response.body : Buffer.from(response.body || '', 'utf8');
    const declared = Math.max(body.length, 64);
    const part = body.subarray(0, Math.floor(body.length / 2));
    res.writeHead(200, {
      'content-type': response.headers['content-type'] || 'application/json',
      'content-length': declared,
      date: new Date(nowMs()).toUTCString(),
    });
    res.write(part, () => setTimeout(() => res.socket && res.socket.destroy(), 20));
  }

  // Names the AWS operation a request is; null when it is none.
  function route(method, path, body) {
    if (method === 'POST') {
      const op = ControlPlane.operationFor(path);
      if (op) return { operation: op, protocol: 'json' };
      const ice = ICE_PATH_RE.exec(path);
      if (ice) return { operation: 'GetIceServerConfig', protocol: 'json', channelId: ice[1] };
      const join = StorageService.route(path);
      if (join) return { ...join, protocol: 'json', storage: true };
      if (path === '/') {
        const form = parseForm(body);
        const stsOp = operationOf(form);
        if (!stsOp) return { unknown: StsService.unknownAction(form) };
        return { operation: stsOp, protocol: 'sts', form };
      }
    }
    const meta = MetadataService.operationFor(method, path);
    if (meta) return { operation: meta, protocol: 'metadata' };
    return null;
  }

  function staticOperation(method, path) {
    if (method === 'POST') {
      const op = ControlPlane.operationFor(path);
      if (op) return op;
      if (ICE_PATH_RE.test(path)) return 'GetIceServerConfig';
      const join = StorageService.route(path);
      if (join) return join.operation;
    }
    return MetadataService.operationFor(method, path);
  }

  async function testApi(req, res, path) {
    const ok = (value) => send(res, util.json(200, value));
    const bad = (status, message) => send(res, util.json(status, { message }));
    const m = req.method;
    if (path === '/_emulator/health' && m === 'GET') return ok({ status: 'ok' });
    if (path === '/_emulator/counters' && m === 'GET') return ok(counters.toJSON());
    if (path === '/_emulator/counters/reset' && m === 'POST') {
      counters.reset();
      return ok({});
    }
    if (path === '/_emulator/faults' && m === 'GET') return ok(faults.get());
    if (path === '/_emulator/faults' && m === 'PUT') {
      const read = await util.readBody(req);
      if (read.tooLarge) return bad(413, 'body too large');
      let patch;
      try {
        patch = JSON.parse(read.body.toString('utf8') || '{}');
      } catch (e) {
        return bad(400, 'fault knobs must be JSON');
      }
      try {
        faults.merge(patch);
      } catch (e) {
        return bad(400, e.message);
      }
      log.info('faults changed', { faults: faults.get() });
      return ok(faults.get());
    }
    if (path === '/_emulator/reset' && m === 'POST') {
      reset();
      return ok({});
    }
    const c = CONNECTIONS_RE.exec(path);
    if (c && m === 'GET') {
      let name;
      try {
        name = decodeURIComponent(c[1]);
      } catch (e) {
        return bad(400, 'bad channel name');
      }
      const channel = store.getByName(name);
      if (!channel) return bad(404, `no channel ${name}`);
      return ok(c[2] === 'storage' ? media.stats(channel) : signaling.connections(channel));
    }
    return bad(404, `no test API at ${m} ${path}`);
  }

  function reset() {
    store.reset();
    media.closeAll();
    storage.reset();
    signaling.closeAll('emulator reset');
    for (const socket of held) socket.destroy();
    held.clear();
    credentials.reset();
    metadata.reset();
    counters.reset();
    faults.reset();
    quotas.reset();
    log.info('reset');
  }

  async function onRequest(req, res) {
    const q = req.url.indexOf('?');
    const path = q < 0 ? req.url : req.url.slice(0, q);
    const query = q < 0 ? '' : req.url.slice(q + 1);
    if (!path.startsWith('/')) {
      send(res, util.jsonError(400, 'InvalidArgumentException', 'The request target must be a path.'));
      return;
    }
    if (path.startsWith('/_emulator/')) {
      await testApi(req, res, path);
      return;
    }
    if (req.method === 'GET' && WSS_PATH_RE.test(path)) {
      send(res, util.jsonError(426, 'UpgradeRequired', 'This is a signaling endpoint; connect with a WebSocket.'));
      return;
    }
    const read = await util.readBody(req);
    if (read.tooLarge) {
      const op = staticOperation(req.method, path);
      if (op) counters.record(op, 'error');
      log.request({ op: op || undefined, method: req.method, path, status: 413, outcome: 'error' });
      send(res, Object.assign(util.jsonError(413, 'RequestEntityTooLargeException',
        `The request body is larger than ${util.MAX_BODY_BYTES} bytes.`), { close: true }));
      return;
    }
    const r = route(req.method, path, read.body);
    if (!r) {
      send(res, util.jsonError(404, 'UnknownOperationException', `No operation at ${req.method} ${path.slice(0, 200)}`));
      return;
    }
    if (r.unknown) {
      send(res, r.unknown);
      return;
    }
    await handleOperation(req, res, r, path, query, read.body);
  }

  const server = http.createServer((req, res) => {
    onRequest(req, res).catch((err) => {
      if (err.clientGone) {
        res.destroy();
        return;
      }
      log.error('request failed', { error: err.message, stack: err.stack });
      if (!res.headersSent) send(res, util.jsonError(500, 'InternalFailure', 'The emulator failed on this request.'));
      else res.destroy();
    });
  });
  server.on('upgrade', (req, socket, head) => signaling.upgrade(req, socket, head));
  server.on('clientError', (err, socket) => {
    if (socket.writable && !socket.destroyed) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    } else {
      socket.destroy();
    }
  });

  function listen() {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        const port = server.address().port;
        defaultHost = authority(opts.host, port);
        resolve(port);
      });
    });
  }

  let closing = null;
  // Stops accepting, closes WebSockets and idle connections, lets answers in
  // flight finish, and resolves when everything is closed (at most ~2 s).
  function close() {
    if (closing) return closing;
    closing = new Promise((resolve) => {
      server.close(() => resolve());
      signaling.closeAll('server shutting down');
      media.closeAll();
      store.reset();
      for (const socket of held) socket.destroy();
      server.closeIdleConnections();
      setTimeout(() => {
        server.closeAllConnections();
        resolve();
      }, 2000).unref();
    });
    return closing;
  }

  return { listen, close, log, server };
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    if (e.help) {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    }
    process.stderr.write(`kvs-local: ${e.message}\n${USAGE}\n`);
    process.exit(2);
  }
  let emulator;
  try {
    emulator = createEmulator(opts);
  } catch (e) {
    process.stderr.write(`kvs-local: --faults: ${e.message}\n`);
    process.exit(2);
  }
  let port;
  try {
    port = await emulator.listen();
  } catch (e) {
    process.stderr.write(`kvs-local: cannot listen on ${opts.host}:${opts.port}: ${e.message}\n`);
    process.exit(1);
  }
  const url = `http://${authority(opts.host, port)}`;
  process.stdout.write(JSON.stringify({ event: 'ready', port, url, region: opts.region }) + '\n');
  emulator.log.info('listening', { url, region: opts.region, account: opts.account });
  const stop = (signal) => {
    emulator.log.info('stopping', { signal });
    emulator.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`kvs-local: ${e.stack || e.message}\n`);
    process.exit(1);
  });
}

module.exports = { createEmulator, parseArgs, ALL_OPERATIONS };
