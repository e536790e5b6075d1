'use strict';
// aws/credentials against the emulator: every source of the chain (env, web
// identity via STS, container with its token, IMDSv2, AssumeRole on top), a
// refresh before expiry with short-lived credentials, and a session token that
// reaches both a signed control-plane call and a presigned WebSocket URL.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const WebSocket = require('ws');
const { drive, baseEnv, startEmulator, emulatorMissing, STATIC_CREDS, tempFile, fakeJwt,
  uniqueName } = require('./lib');

const CONTAINER_TOKEN = 'container-token-for-tests';

// Opens a presigned URL; resolves the HTTP status of a refusal, or 101 on open.
function openWs(url) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('open', () => { ws.close(); resolve(101); });
    ws.on('unexpected-response', (req, res) => { resolve(res.statusCode); req.destroy(); });
    ws.on('error', () => resolve(0));
  });
}

describe('credential sources against the emulator', { skip: emulatorMissing }, () => {
  let emu;
  let channel;

  before(async () => {
    emu = await startEmulator({ containerToken: CONTAINER_TOKEN, externalId: 'ext-123' });
    channel = uniqueName('creds');
    const c = await drive(['create', channel], baseEnv(emu, STATIC_CREDS));
    assert.equal(c.code, 0, c.stdout + c.stderr);
  });
  after(async () => { if (emu) await emu.stop(); });

  const webIdentityEnv = () => baseEnv(emu, {
    AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/kvsgate-irsa',
    AWS_WEB_IDENTITY_TOKEN_FILE: tempFile(fakeJwt()),
    AWS_ROLE_SESSION_NAME: 'kvsgate-test',
    KVSGATE_STS_ENDPOINT: `${emu.url}/`,
  });

  test('environment: static keys sign control-plane calls', async () => {
    const c = await drive(['creds'], baseEnv(emu, STATIC_CREDS));
    assert.equal(c.last.source, 'environment');
    assert.equal(c.last.accessKeyId, 'AKIDLOCAL');
    assert.equal(c.last.hasToken, false);
    const d = await drive(['describe', channel], baseEnv(emu, STATIC_CREDS));
    assert.equal(d.code, 0, d.stdout);
  });

  test('web identity: STS AssumeRoleWithWebIdentity gives temporary keys the emulator accepts', async () => {
    await emu.resetCounters();
    const envs = webIdentityEnv();
    const c = await drive(['creds'], envs);
    assert.equal(c.code, 0, c.stdout + c.stderr);
    assert.equal(c.last.source, 'web_identity');
    assert.match(c.last.accessKeyId, /^ASIA/);
    assert.equal(c.last.hasToken, true);
    assert.ok(c.last.expiresAt > Date.now() / 1000);
    assert.equal(await emu.count('AssumeRoleWithWebIdentity', 'ok'), 1);
    // The session token travels as a signed x-amz-security-token: the call passes.
    const d = await drive(['describe', channel], envs);
    assert.equal(d.code, 0, d.stdout + d.stderr);
  });

  test('web identity: a rejected token fails the chain with upstream-refused', async () => {
    await emu.setFaults({ rejectWebIdentity: true });
    try {
      const c = await drive(['creds'], webIdentityEnv());
      assert.equal(c.last.ok, false, c.stdout);
      assert.match(c.stderr, /InvalidIdentityToken/);
    } finally {
      await emu.setFaults({ rejectWebIdentity: false });
    }
  });

  test('container: FULL_URI with the authorization token, from the variable or a file', async () => {
    await emu.resetCounters();
    const uri = `${emu.url}/container-credentials`;
    const fromVar = baseEnv(emu, { AWS_CONTAINER_CREDENTIALS_FULL_URI: uri,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: CONTAINER_TOKEN });
    const a = await drive(['creds'], fromVar);
    assert.equal(a.code, 0, a.stdout + a.stderr);
    assert.equal(a.last.source, 'container');
    assert.equal(a.last.hasToken, true);
    assert.equal((await drive(['describe', channel], fromVar)).code, 0);
    const fromFile = baseEnv(emu, { AWS_CONTAINER_CREDENTIALS_FULL_URI: uri,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: 'wrong-token-ignored',
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tempFile(`${CONTAINER_TOKEN}\n`) });
    const b = await drive(['creds'], fromFile);
    assert.equal(b.code, 0, b.stdout + b.stderr);
    assert.equal(await emu.count('ContainerCredentials', 'ok'), 3); // one per driver run
    const wrong = baseEnv(emu, { AWS_CONTAINER_CREDENTIALS_FULL_URI: uri,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: 'wrong-token' });
    const w = await drive(['creds'], wrong);
    assert.equal(w.last.ok, false, w.stdout);
    assert.ok(!w.stderr.includes('wrong-token'), 'the token is not logged');
  });

  test('IMDSv2: token, role, credentials from the metadata endpoint', async () => {
    await emu.resetCounters();
    const envs = baseEnv(emu, { AWS_EC2_METADATA_DISABLED: 'false',
      AWS_EC2_METADATA_SERVICE_ENDPOINT: emu.url });
    const c = await drive(['creds'], envs);
    assert.equal(c.code, 0, c.stdout + c.stderr);
    assert.equal(c.last.source, 'imds');
    assert.equal(c.last.hasToken, true);
    assert.equal(await emu.count('IMDSToken', 'ok'), 1);
    assert.equal(await emu.count('IMDSCredentials', 'ok') >= 1, true);
    assert.equal((await drive(['describe', channel], envs)).code, 0);
  });

  test('AssumeRole on top of the chain, signed with service sts, with the external id', async () => {
    await emu.resetCounters();
    const envs = baseEnv(emu, { ...STATIC_CREDS, KVSGATE_STS_ENDPOINT: `${emu.url}/`,
      KVSGATE_ASSUME_ROLE_ARN: 'arn:aws:iam::123456789012:role/kvsgate-channels',
      KVSGATE_ASSUME_ROLE_EXTERNAL_ID: 'ext-123' });
    const c = await drive(['creds'], envs);
    assert.equal(c.code, 0, c.stdout + c.stderr);
    assert.equal(c.last.source, 'environment+assume_role');
    assert.match(c.last.accessKeyId, /^ASIA/);
    assert.equal(await emu.count('AssumeRole', 'ok'), 1);
    assert.equal((await drive(['describe', channel], envs)).code, 0);
    // On top of web identity: two STS calls, the second signed by the first's keys.
    const stacked = { ...webIdentityEnv(), KVSGATE_ASSUME_ROLE_ARN: envs.KVSGATE_ASSUME_ROLE_ARN,
      KVSGATE_ASSUME_ROLE_EXTERNAL_ID: 'ext-123' };
    const s = await drive(['creds'], stacked);
    assert.equal(s.last.source, 'web_identity+assume_role', s.stdout + s.stderr);
    const bad = await drive(['creds'], { ...envs, KVSGATE_ASSUME_ROLE_EXTERNAL_ID: 'ext-wrong' });
    assert.equal(bad.last.ok, false, bad.stdout);
  });

  test('short-lived credentials are refreshed before they expire and calls keep working', async () => {
    await emu.setFaults({ credentialTtl: 8 });
    try {
      await emu.resetCounters();
      const envs = webIdentityEnv();
      const r = await drive(['--refresh-before-s', '3', 'watch', '12', channel], envs,
        { timeoutMs: 30000 });
      const creds = r.lines.filter((l) => l.event === 'creds');
      const done = r.lines.find((l) => l.event === 'done');
      assert.ok(done && done.ok, `calls failed: ${r.stdout}\n${r.stderr}`);
      assert.ok(creds.length >= 2, `expected a refresh: ${r.stdout}`);
      for (let i = 1; i < creds.length; i++) {
        // Each new set arrived before the previous one expired.
        assert.ok(creds[i].at < creds[i - 1].expiresAt, JSON.stringify(creds));
        assert.notEqual(creds[i].accessKeyId, creds[i - 1].accessKeyId);
      }
      assert.ok(await emu.count('AssumeRoleWithWebIdentity', 'ok') >= 2);
      assert.ok(await emu.count('DescribeSignalingChannel', 'ok') >= 30);
    } finally {
      await emu.setFaults({ credentialTtl: 3600 });
    }
  });

  test('the session token reaches a presigned URL: the emulator opens the WebSocket', async () => {
    const envs = webIdentityEnv();
    const viewer = await drive(['presign', channel, 'VIEWER', 'viewer-1'], envs);
    assert.equal(viewer.code, 0, viewer.stdout + viewer.stderr);
    assert.equal(viewer.last.hasToken, true);
    const url = new URL(viewer.last.url);
    assert.ok(url.searchParams.get('X-Amz-Security-Token'), 'token signed into the URL');
    assert.match(url.searchParams.get('X-Amz-Credential'), /^ASIA/);
    assert.equal(url.searchParams.get('X-Amz-ClientId'), 'viewer-1');
    assert.equal(await openWs(viewer.last.url), 101);
    const master = await drive(['presign', channel, 'MASTER'], envs);
    assert.equal(await openWs(master.last.url), 101);
    // Without the token the same URL is refused.
    url.searchParams.delete('X-Amz-Security-Token');
    assert.equal(await openWs(url.toString()), 403);
    // Static keys need no token.
    const plain = await drive(['presign', channel, 'MASTER'], baseEnv(emu, STATIC_CREDS));
    assert.equal(plain.last.hasToken, false);
    assert.equal(await openWs(plain.last.url), 101);
  });

  test('no secret reaches the driver logs', async () => {
    const envs = webIdentityEnv();
    const token = fs.readFileSync(envs.AWS_WEB_IDENTITY_TOKEN_FILE, 'utf8');
    const r = await drive(['--log-level', 'debug', 'presign', channel, 'VIEWER', 'v-2'], envs);
    const url = new URL(r.last.url);
    for (const secret of [token, url.searchParams.get('X-Amz-Security-Token'),
      url.searchParams.get('X-Amz-Signature'), 'SECRETLOCAL']) {
      assert.ok(!r.stderr.includes(secret), `a secret is in the log: ${secret.slice(0, 8)}...`);
    }
  });
});
