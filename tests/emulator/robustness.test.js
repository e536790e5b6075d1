'use strict';
// The emulator as a process: the ready line and flags, clean AWS-style errors
// for malformed JSON, huge bodies, bad paths and bad HTTP (never a crash),
// graceful SIGTERM, and logs with no secrets in them.
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const http = require('node:http');
const { spawn, spawnSync } = require('node:child_process');
const readline = require('node:readline');
const { startEmulator, serverPath } = require('../lib/emulator');
const h = require('./helpers');

const { kv } = h;

// Starts server.js without --quiet; resolves {child, ready, stdoutLines, stderr()}.
function spawnServer(args = []) {
  const child = spawn(process.execPath, [serverPath, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const err = [];
  const stdoutLines = [];
  child.stderr.on('data', (d) => err.push(d));
  const lines = readline.createInterface({ input: child.stdout });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no ready line')), 10000);
    lines.on('line', (line) => {
      stdoutLines.push(line);
      if (stdoutLines.length === 1) {
        clearTimeout(timer);
        resolve({ child, ready: JSON.parse(line), stdoutLines, stderr: () => Buffer.concat(err).toString('utf8') });
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${Buffer.concat(err)}`)));
  });
}

function waitExit(child, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode });
    const timer = setTimeout(() => reject(new Error('did not exit in time')), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

describe('bad input gets clean AWS-style errors', () => {
  let emu;
  before(async () => {
    emu = await startEmulator();
  });
  after(() => emu.stop());

  const post = (path, body, headers = { 'content-type': 'application/json' }) =>
    h.signedRequest(`${emu.url}${path}`, { headers, body });

  test('malformed JSON, a non-object body and wrong member types are 400 SerializationException', async () => {
    for (const body of ['{not json', '[1,2]', '"string"', 'null', '{"ChannelName": 5}', '{"ChannelName": "a", "Tags": {"k": "v"}}']) {
      const r = await post('/createSignalingChannel', body);
      assert.equal(r.status, 400, body);
      assert.equal(JSON.parse(r.body).__type, 'SerializationException', body);
      assert.match(r.headers['x-amzn-errortype'], /^SerializationException:/);
    }
    const ice = await post('/channels/1/https/v1/get-ice-server-config', '{{');
    assert.equal(ice.status, 400);
  });

  test('an empty body is an empty input', async () => {
    const r = await post('/listSignalingChannels', '');
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { ChannelInfoList: [] });
  });

  test('a body over 1 MiB is 413 (declared or chunked), and the emulator carries on', async () => {
    const big = 'x'.repeat(1024 * 1024 + 1);
    const r1 = await h.rawRequest(`${emu.url}/createSignalingChannel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    assert.equal(r1.status, 413);
    assert.equal(JSON.parse(r1.body).__type, 'RequestEntityTooLargeException');
    const r2 = await new Promise((resolve, reject) => {
      const u = new URL(emu.url);
      const req = http.request({ method: 'POST', hostname: u.hostname, port: u.port, path: '/', headers: { 'transfer-encoding': 'chunked' }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', (e) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? resolve('closed') : reject(e)));
      for (let i = 0; i < 40; i++) req.write(Buffer.alloc(64 * 1024, 0x41));
      req.end();
    });
    assert.ok(r2 === 413 || r2 === 'closed', String(r2));
    assert.equal((await h.rawRequest(`${emu.url}/_emulator/health`)).status, 200);
  });

  test('unknown paths and methods are 404 UnknownOperationException', async () => {
    for (const [method, path] of [['GET', '/'], ['POST', '/nope'], ['GET', '/describeSignalingChannel'], ['PUT', '/createSignalingChannel'],
      ['POST', '/channels/abc/https/v1/get-ice-server-config'], ['POST', '/v1/get-ice-server-config'], ['DELETE', '/latest/api/token']]) {
      const r = await h.rawRequest(`${emu.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.equal(JSON.parse(r.body).__type, 'UnknownOperationException');
    }
  });

  test('a WebSocket upgrade on another path is refused with 404', async () => {
    await h.assertRefused(`ws://127.0.0.1:${emu.port}/channels/1/wss/admin`, 404);
    await h.assertRefused(`ws://127.0.0.1:${emu.port}/describeSignalingChannel`, 404);
  });

  test('bytes that are not HTTP get a 400 and the connection is closed; the emulator carries on', async () => {
    const answer = await new Promise((resolve) => {
      const s = net.connect(emu.port, '127.0.0.1', () => s.write('HELLO THERE\r\n\r\n\u0000\u0001'));
      const chunks = [];
      s.on('data', (d) => chunks.push(d));
      s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      s.on('error', () => {});
    });
    assert.match(answer, /^HTTP\/1\.1 400/);
    assert.equal((await h.rawRequest(`${emu.url}/_emulator/health`)).status, 200);
  });

  test('a binary WebSocket message answers STATUS_RESPONSE and the relay carries on', async () => {
    const client = h.kvsClient(emu);
    const arn = await h.createChannel(client, 'robust-ws');
    const ep = await h.endpoints(client, arn, 'VIEWER');
    const mep = await h.endpoints(client, arn, 'MASTER');
    const m = await h.connect(await h.presignWithKvsSdk(mep.WSS, arn, null));
    const v = await h.connect(await h.presignWithKvsSdk(ep.WSS, arn, 'v'));
    v.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    const r = await v.next();
    assert.equal(r.messageType, 'STATUS_RESPONSE');
    v.send({ action: 'SDP_OFFER', messagePayload: h.b64('ok') });
    assert.equal((await m.next()).messagePayload, h.b64('ok'));
    m.close();
    v.close();
  });

  test('a signed upgrade with a broken WebSocket handshake is 400 and counted as an error', async () => {
    const client = h.kvsClient(emu);
    const arn = await h.createChannel(client, 'robust-handshake');
    const ep = await h.endpoints(client, arn, 'MASTER');
    const url = new URL(await h.presignWithKvsSdk(ep.WSS, arn, null));
    await emu.resetCounters();
    const answer = await new Promise((resolve) => {
      const s = net.connect(emu.port, '127.0.0.1', () => s.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n` +
        'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n'));
      const chunks = [];
      s.on('data', (d) => chunks.push(d));
      s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      s.on('error', () => {});
    });
    assert.match(answer, /^HTTP\/1\.1 400/);
    assert.equal(await emu.count('ConnectAsMaster', 'error'), 1);
    assert.equal(await emu.count('ConnectAsMaster'), 1);
  });

  test('a Host header that is not a host falls back to the emulator address in endpoints', async () => {
    const client = h.kvsClient(emu);
    const arn = await h.createChannel(client, 'robust-host');
    const body = JSON.stringify({ ChannelARN: arn, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS'], Role: 'MASTER' } });
    const signed = await h.smithySigner('kinesisvideo').sign({
      method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port: emu.port, path: '/getSignalingChannelEndpoint',
      headers: { host: 'evil/host?x', 'content-type': 'application/json' }, body,
    });
    const r = await h.rawRequest(`${emu.url}/getSignalingChannelEndpoint`, { method: 'POST', headers: signed.headers, body });
    assert.equal(r.status, 200, r.body);
    assert.match(JSON.parse(r.body).ResourceEndpointList[0].ResourceEndpoint, new RegExp(`^ws://127\\.0\\.0\\.1:${emu.port}/channels/`));
  });
});

describe('the process', () => {
  test('prints exactly one JSON ready line on stdout', async () => {
    const s = await spawnServer(['--region', 'eu-west-1']);
    try {
      assert.deepEqual(Object.keys(s.ready), ['event', 'port', 'url', 'region']);
      assert.equal(s.ready.event, 'ready');
      assert.equal(s.ready.region, 'eu-west-1');
      assert.equal(s.ready.url, `http://127.0.0.1:${s.ready.port}`);
      assert.equal((await h.rawRequest(`${s.ready.url}/_emulator/health`)).status, 200);
    } finally {
      s.child.kill('SIGTERM');
      await waitExit(s.child);
    }
    assert.equal(s.stdoutLines.length, 1);
  });

  test('bad flags are refused by the flag parser; the process exits 2 with a message, --help exits 0', () => {
    const { parseArgs } = require(serverPath);
    for (const args of [['--bogus'], ['--port', 'x'], ['--port', '70000'], ['--region', 'Mars'], ['--access-key-id', 'A'],
      ['--faults', '{'], ['--credential-ttl', '0'], ['--account', '12'], ['--host']]) {
      assert.throws(() => parseArgs(args), (e) => e.message.length > 0, args.join(' '));
    }
    const ok = parseArgs(['--port=0', '--region', 'cn-north-1', '--access-key-id', 'A1', '--secret-access-key', 'S1',
      '--access-key-id', 'A2', '--secret-access-key', 'S2', '--quiet']);
    assert.deepEqual([ok.port, ok.region, ok.accessKeyIds, ok.quiet], [0, 'cn-north-1', ['A1', 'A2'], true]);
    const r = spawnSync(process.execPath, [serverPath, '--bogus'], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^kvs-local: unknown argument "--bogus"/);
    assert.equal(r.stdout, '');
    const help = spawnSync(process.execPath, [serverPath, '--help'], { encoding: 'utf8', timeout: 10000 });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /usage/);
  });

  test('SIGTERM closes WebSockets with 1001 and exits 0 promptly', async () => {
    const s = await spawnServer(['--quiet']);
    const emu = { url: s.ready.url, port: s.ready.port };
    const client = h.kvsClient(emu);
    const arn = await h.createChannel(client, 'term');
    const ep = await h.endpoints(client, arn, 'MASTER');
    const m = await h.connect(await h.presignWithKvsSdk(ep.WSS, arn, null));
    const t0 = Date.now();
    s.child.kill('SIGTERM');
    const closed = await m.closed;
    assert.equal(closed.code, 1001);
    const exit = await waitExit(s.child);
    assert.equal(exit.code, 0);
    assert.ok(Date.now() - t0 < 3000);
  });

  test('logs are JSON lines and hold no secret key, session token, signature, TURN password or metadata token', async () => {
    const s = await spawnServer(['--access-key-id', 'AKIDLOGTEST', '--secret-access-key', 'SuperSecretValue123', '--container-token', 'ContainerTokenXYZ']);
    const emu = { url: s.ready.url, port: s.ready.port };
    const creds = { accessKeyId: 'AKIDLOGTEST', secretAccessKey: 'SuperSecretValue123' };
    const secrets = ['SuperSecretValue123', 'ContainerTokenXYZ'];
    try {
      const client = h.kvsClient(emu, creds);
      const arn = await h.createChannel(client, 'logs');
      const ep = await h.endpoints(client, arn, 'VIEWER');
      const cr = JSON.parse((await h.rawRequest(`${emu.url}/container-credentials`, { headers: { authorization: 'ContainerTokenXYZ' } })).body);
      const temp = { accessKeyId: cr.AccessKeyId, secretAccessKey: cr.SecretAccessKey, sessionToken: cr.Token };
      secrets.push(cr.SecretAccessKey, cr.Token, h.rfc3986(cr.Token));
      const ice = await h.signalingClient(ep.HTTPS, temp).send(new h.kvsig.GetIceServerConfigCommand({ ChannelARN: arn }));
      for (const srv of ice.IceServerList) secrets.push(srv.Password);
      const url = await h.presignWithKvsSdk(ep.WSS, arn, 'log-viewer', temp);
      secrets.push(h.paramOf(url, 'X-Amz-Signature'));
      (await h.connect(url)).close();
      await h.assertRefused(h.withParam(url, 'X-Amz-Signature', h.tamper(h.paramOf(url, 'X-Amz-Signature'))), 403);
      await assert.rejects(h.kvsClient(emu, { ...temp, secretAccessKey: 'WrongSecretForLogs' }).send(new kv.ListSignalingChannelsCommand({})));
      secrets.push('WrongSecretForLogs');
      const tok = await h.rawRequest(`${emu.url}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } });
      secrets.push(tok.body);
      const imds = JSON.parse((await h.rawRequest(`${emu.url}/latest/meta-data/iam/security-credentials/kvs-local-role`, { headers: { 'x-aws-ec2-metadata-token': tok.body } })).body);
      secrets.push(imds.SecretAccessKey, imds.Token);
      const stsBody = 'Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=logs';
      const sts = await h.signedRequest(`${emu.url}/`, { service: 'sts', credentials: temp, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: stsBody });
      secrets.push(h.xmlField(sts.body, 'SecretAccessKey'), h.xmlField(sts.body, 'SessionToken'));
    } finally {
      s.child.kill('SIGTERM');
      await waitExit(s.child);
    }
    const log = s.stderr();
    const lines = log.trim().split('\n');
    assert.ok(lines.length >= 10, log);
    for (const line of lines) {
      const entry = JSON.parse(line);
      assert.ok(entry.time && entry.level && entry.msg, line);
    }
    assert.ok(lines.some((l) => JSON.parse(l).op === 'ConnectAsViewer'));
    for (const secret of secrets) {
      assert.ok(secret && secret.length >= 8);
      assert.equal(log.includes(secret), false, `a secret (${secret.slice(0, 4)}...) is in the log`);
    }
    assert.equal(log.includes('X-Amz-Signature'), false);
  });
});
