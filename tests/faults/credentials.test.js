'use strict';
// Credential sources failing and recovering under the real binary, one daemon
// per source, all against one emulator whose credentials live 14 s:
//   container  AWS_CONTAINER_CREDENTIALS_FULL_URI (+ authorization token)
//   web identity  AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, STS at the emulator
//   imds       EC2 IMDSv2 at the emulator
// The emulator then fails every call of those operations (5xx, resets,
// garbage, truncated bodies, throttling). While the credentials held still
// live, refreshes fail but the service answers and stays ready; once they
// lapse, readiness is 503 and requests get a 503 problem with Retry-After;
// when the faults stop, each daemon recovers by itself (its refresh thread
// retries with backoff), with no restart.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const hostile = require('../hostile/helpers');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate } = require('../lib/kvsgate');
const { mint } = require('../lib/tokens');
const sanitizers = require('../lib/sanitizers');

const { request, exchange } = hostile;
const TTL_S = 14;
let emu, dir, gates = {}, admin;

const OPS = ['ContainerCredentials', 'AssumeRoleWithWebIdentity', 'IMDSToken', 'IMDSCredentials'];

function fakeJwt() {
  const b = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b({ alg: 'RS256', kid: 'k1' })}.${b({ sub: 'system:serviceaccount:kvs:gate', aud: 'sts.amazonaws.com' })}.c2ln`;
}

before(async () => {
  emu = await startEmulator({ credentialTtl: TTL_S });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsgate-faults-'));
  const tokenFile = path.join(dir, 'web-identity-token');
  fs.writeFileSync(tokenFile, fakeJwt());
  const common = {
    AWS_ACCESS_KEY_ID: undefined,
    AWS_SECRET_ACCESS_KEY: undefined,
    KVSGATE_RATE_LIMIT_RPS: '0',
    KVSGATE_REQUEST_DEADLINE_MS: '2000',
    KVSGATE_AWS_CALL_TIMEOUT_MS: '800',
  };
  const sources = {
    container: { AWS_CONTAINER_CREDENTIALS_FULL_URI: `${emu.url}/container-credentials`,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: 'local-container-token' },
    webIdentity: { AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/kvsgate', AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
      AWS_ROLE_SESSION_NAME: 'faults' },
    imds: { AWS_EC2_METADATA_DISABLED: undefined, AWS_EC2_METADATA_SERVICE_ENDPOINT: emu.url },
  };
  admin = await mint({ sub: 'admin', kvs: { manage: ['*'], master: ['*'], viewer: ['*'] } }, { ttl: 3600 });
  for (const [name, env] of Object.entries(sources))
    gates[name] = await startKvsgate({ emulator: emu, env: { ...common, ...env } });
  for (const [name, g] of Object.entries(gates)) {
    const put = await exchange(g.port, request('PUT', `/v1/channels/cam-${name}`, { Authorization: `Bearer ${admin}` }));
    assert.ok([200, 201].includes(put.res.status), `${name}: ${put.res.text}`);
    const ready = await exchange(g.port, request('GET', '/readyz'));
    assert.equal(ready.res.status, 200, `${name}: ${ready.res.text}`);
    const loaded = g.logs.find((l) => l.event === 'creds_published' || l.source);
    assert.ok(loaded, `${name}: no credentials were published`);
  }
});

after(async () => {
  for (const g of Object.values(gates)) await g.stop();
  if (emu) await emu.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const ready = async (g) => (await exchange(g.port, request('GET', '/readyz'))).res;
const viewer = async (g, name) => exchange(g.port, request('GET', `/v1/channels/cam-${name}/viewer`, { Authorization: `Bearer ${admin}` }));
const describe = async (g, name) => exchange(g.port, request('GET', `/v1/channels/cam-${name}`, { Authorization: `Bearer ${admin}` }));

async function waitFor(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs * sanitizers.slow();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('refreshes fail, the old credentials serve until they lapse, then 503, then recovery', async () => {
  // Every credential call fails, one of several ways.
  await emu.setFaults({ operations: OPS, resetRate: 0.25, errorRate: 0.34, throttleRate: 0.2, garbageRate: 0.5, truncateRate: 1 });
  const failed = {};
  try {
    // A refresh is due at half the lifetime: it fails; the service stays ready.
    for (const [name, g] of Object.entries(gates)) {
      await g.waitForLog((l) => l.event === 'creds_refresh_failed', TTL_S * 1000);
      const r = await ready(g);
      // Ready while the held credentials live (they may be lapsing right now).
      if (r.status === 200) {
        const v = await viewer(g, name);
        assert.equal(v.res.status, 200, `${name} while refreshes fail: ${v.res.text}`);
      }
    }
    // They lapse: readiness is 503 and requests get a 503 problem.
    for (const [name, g] of Object.entries(gates)) {
      const r = await waitFor(`${name} not ready`, async () => {
        const x = await ready(g);
        return x.status === 503 ? x : null;
      }, (TTL_S + 5) * 1000);
      assert.equal(JSON.parse(r.text).credentials, false);
      assert.ok(Number(r.headers['retry-after']) >= 1);
      for (const res of [await describe(g, name), await viewer(g, name),
        await exchange(g.port, request('PUT', `/v1/channels/cam-${name}-new`, { Authorization: `Bearer ${admin}` }))]) {
        assert.equal(res.res.status, 503, `${name} after lapse: ${res.res.text}`);
        assert.match(res.res.headers['content-type'], /problem\+json/);
        const body = JSON.parse(res.res.text);
        assert.equal(body.code, 'service_unavailable', res.res.text);
        assert.ok(Number(res.res.headers['retry-after']) >= 1);
      }
      failed[name] = true;
      // Liveness is unaffected.
      assert.equal((await exchange(g.port, request('GET', '/healthz'))).res.status, 200);
    }
  } finally {
    await emu.setFaults({ operations: null, resetRate: 0, errorRate: 0, throttleRate: 0, garbageRate: 0, truncateRate: 0 });
  }
  // Recovery without a restart (the refresh thread retries, backoff <= 16 s here).
  for (const [name, g] of Object.entries(gates)) {
    await waitFor(`${name} ready again`, async () => (await ready(g)).status === 200, 40000);
    const v = await viewer(g, name);
    assert.equal(v.res.status, 200, `${name} after recovery: ${v.res.text}`);
    assert.equal(g.process.exitCode, null);
  }
  assert.deepEqual(Object.keys(failed).sort(), ['container', 'imds', 'webIdentity']);
});

test('a refused web identity (InvalidIdentityToken) is logged and retried, never a crash', async () => {
  const g = gates.webIdentity;
  const seen = g.logs.length;
  await emu.setFaults({ rejectWebIdentity: true });
  try {
    const failure = await waitFor('a refused refresh', async () =>
      g.logs.slice(seen).find((l) => l.event === 'creds_refresh_failed'), (TTL_S + 5) * 1000);
    assert.equal(failure.error, 'KG_ERR_UPSTREAM_REFUSED');
    assert.equal((await exchange(g.port, request('GET', '/healthz'))).res.status, 200);
  } finally {
    await emu.setFaults({ rejectWebIdentity: false });
  }
  await waitFor('web identity ready again', async () => (await ready(g)).status === 200, 40000);
  assert.equal((await viewer(g, 'webIdentity')).res.status, 200);
});

test('no secret from any source reached a log line', () => {
  for (const [name, g] of Object.entries(gates)) {
    const text = g.stderr();
    assert.doesNotMatch(text, /local-container-token/, name);
    assert.doesNotMatch(text, /"(SecretAccessKey|Token|SessionToken)"\s*:/, name);
    assert.doesNotMatch(text, /<SecretAccessKey>|<SessionToken>/, name);
  }
});
