'use strict';
// Shared by the emulator tests: clients built from independent AWS signers
// (the AWS SDK for JavaScript v3, @smithy/signature-v4, the KVS WebRTC SDK's
// SigV4RequestSigner), raw HTTP, and WebSocket helpers.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const http = require('node:http');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const kv = require('@aws-sdk/client-kinesis-video');
const kvsig = require('@aws-sdk/client-kinesis-video-signaling');
const { SignatureV4 } = require('@smithy/signature-v4');
const { Sha256 } = require('@aws-crypto/sha256-js');
const { SigV4RequestSigner } = require('amazon-kinesis-video-streams-webrtc');

const REGION = 'us-west-2';
// The emulator's default static keys. The SDK writes into the credentials
// object it is given, so clients get a copy.
const CREDS = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'SECRETLOCAL' };

// The AWS SDK v3 KVS client pointed at the emulator; one attempt unless told.
function kvsClient(emu, credentials = CREDS, options = {}) {
  return new kv.KinesisVideoClient({ region: REGION, endpoint: emu.url, credentials: { ...credentials }, maxAttempts: 1, ...options });
}

function signalingClient(httpsEndpoint, credentials = CREDS, options = {}) {
  return new kvsig.KinesisVideoSignalingClient({ region: REGION, endpoint: httpsEndpoint, credentials: { ...credentials }, maxAttempts: 1, ...options });
}

async function createChannel(client, name, extra = {}) {
  const out = await client.send(new kv.CreateSignalingChannelCommand({ ChannelName: name, ...extra }));
  return out.ChannelARN;
}

// {WSS, HTTPS} endpoints of a channel for a role.
async function endpoints(client, arn, role) {
  const out = await client.send(new kv.GetSignalingChannelEndpointCommand({
    ChannelARN: arn,
    SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS'], Role: role },
  }));
  return Object.fromEntries(out.ResourceEndpointList.map((e) => [e.Protocol, e.ResourceEndpoint]));
}

// Presigns a signaling URL with the official KVS WebRTC SDK signer. It only
// accepts wss://, and signs host and path, so the ws:// endpoint is signed as
// wss:// and the answer turned back into ws://.
async function presignWithKvsSdk(wsEndpoint, arn, clientId, credentials = CREDS, date = new Date()) {
  const signer = new SigV4RequestSigner(REGION, credentials);
  const params = { 'X-Amz-ChannelARN': arn };
  if (clientId !== undefined && clientId !== null) params['X-Amz-ClientId'] = clientId;
  const url = await signer.getSignedURL(wsEndpoint.replace(/^ws:\/\//, 'wss://'), params, date);
  return url.replace(/^wss:\/\//, 'ws://');
}

function smithySigner(service, credentials = CREDS, region = REGION) {
  return new SignatureV4({ service, region, credentials, sha256: Sha256 });
}

// RFC 3986 encoding for query strings built by hand.
function rfc3986(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

// Presigns GET url (ws:// or http://) with @smithy/signature-v4.
async function presignWithSmithy(url, { query = {}, credentials = CREDS, service = 'kinesisvideo', region = REGION,
  expiresIn = 299, signingDate = new Date() } = {}) {
  const u = new URL(url);
  const request = {
    method: 'GET',
    protocol: 'https:',
    hostname: u.hostname,
    port: Number(u.port),
    path: u.pathname,
    query: { ...query },
    headers: { host: u.host },
  };
  const signed = await smithySigner(service, credentials, region).presign(request, { expiresIn, signingDate });
  const qs = Object.entries(signed.query).map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`).join('&');
  return `${u.protocol}//${u.host}${u.pathname}?${qs}`;
}

// One HTTP request exactly as given; resolves {status, headers, body (string), raw (Buffer)}.
function rawRequest(url, { method = 'GET', headers = {}, body } = {}) {
  const u = new URL(url);
  if (body !== undefined && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-length')) {
    headers = { ...headers, 'content-length': Buffer.byteLength(body) };
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ method, hostname: u.hostname, port: u.port, path: u.pathname + u.search, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: raw.toString('utf8'), raw });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// Signs a request with @smithy/signature-v4 (header auth) and sends it.
async function signedRequest(url, { method = 'POST', headers = {}, body = '', service = 'kinesisvideo',
  credentials = CREDS, region = REGION, signingDate } = {}) {
  const u = new URL(url);
  const request = {
    method,
    protocol: 'http:',
    hostname: u.hostname,
    port: Number(u.port),
    path: u.pathname,
    query: Object.fromEntries(u.searchParams),
    headers: { host: u.host, ...headers },
    body,
  };
  const signed = await smithySigner(service, credentials, region).sign(request, signingDate ? { signingDate } : {});
  return rawRequest(url, { method, headers: signed.headers, body });
}

// Opens a WebSocket; resolves a wrapper with a message queue, or rejects with
// an Error carrying .status and .body when the server refuses the upgrade.
function connect(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const wrapper = makeWrapper(ws);
    ws.once('open', () => resolve(wrapper));
    ws.once('unexpected-response', (req, res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const err = new Error(`upgrade refused: ${res.statusCode}`);
        err.status = res.statusCode;
        err.body = Buffer.concat(chunks).toString('utf8');
        reject(err);
      });
    });
    ws.once('error', (err) => reject(err));
  });
}

function makeWrapper(ws) {
  const queue = [];
  const waiters = [];
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => {});
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString('utf8'));
    const i = waiters.findIndex((w) => w.match(msg));
    if (i >= 0) waiters.splice(i, 1)[0].resolve(msg);
    else queue.push(msg);
  });
  return {
    ws,
    closed,
    send: (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)),
    // The next message matching `match` (default any), within timeoutMs.
    next(match = () => true, timeoutMs = 2000) {
      const i = queue.findIndex(match);
      if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
      return new Promise((resolve, reject) => {
        const w = { match, resolve };
        waiters.push(w);
        setTimeout(() => {
          const k = waiters.indexOf(w);
          if (k >= 0) {
            waiters.splice(k, 1);
            reject(new Error('no message in time'));
          }
        }, timeoutMs).unref();
      });
    },
    pending: () => queue.slice(),
    close: () => ws.close(),
  };
}

// Asserts that opening `url` is refused before the upgrade with `status`.
async function assertRefused(url, status) {
  await assert.rejects(connect(url), (err) => {
    assert.equal(err.status, status, `expected ${status}, got ${err.status}: ${err.body || err.message}`);
    return true;
  });
}

const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Compact YYYYMMDDTHHMMSSZ of a Date.
function amzDate(d) {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

// Replaces one query parameter's value in a URL without re-encoding the rest.
function withParam(url, name, value) {
  const [base, query] = url.split('?');
  const parts = query.split('&').map((p) => (p.startsWith(name + '=') ? `${name}=${value}` : p));
  return `${base}?${parts.join('&')}`;
}

function withoutParam(url, name) {
  const [base, query] = url.split('?');
  return `${base}?${query.split('&').filter((p) => !p.startsWith(name + '=')).join('&')}`;
}

function paramOf(url, name) {
  const p = url.split('?')[1].split('&').find((x) => x.startsWith(name + '='));
  return p === undefined ? undefined : p.slice(name.length + 1);
}

// Flips the last hex digit of a signature.
function tamper(sig) {
  const last = sig[sig.length - 1];
  return sig.slice(0, -1) + (last === '0' ? '1' : '0');
}

// Minimal XML field reader for STS answers.
function xmlField(xml, name) {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return m ? m[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&') : undefined;
}

module.exports = {
  REGION,
  CREDS,
  kv,
  kvsig,
  kvsClient,
  signalingClient,
  createChannel,
  endpoints,
  presignWithKvsSdk,
  presignWithSmithy,
  smithySigner,
  rawRequest,
  signedRequest,
  connect,
  assertRefused,
  b64,
  sleep,
  amzDate,
  withParam,
  withoutParam,
  paramOf,
  tamper,
  xmlField,
  rfc3986,
};
