'use strict';
// Keys and policies change under a running service, while it serves: the
// policy file, its secret and PEM files are replaced the way Kubernetes
// replaces a mounted Secret (a new file renamed over the old), and a load of
// requests with a token both generations accept runs throughout. Not one of
// those requests fails; a new key verifies within a second of the swap
// (KVSGATE_AUTH_WATCH_MS=100 here); tokens of a removed key stop at once,
// cached or not; a broken file is refused and reported (log, metric) while
// the previous generation serves on; SIGHUP reloads at once; without a policy
// file the KVSGATE_JWT_* files reload the same way.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate } = require('../lib/kvsgate');
const { client } = require('../lib/client');
const { mint, keyPair, exportSPKI } = require('../lib/tokens');
const sanitizers = require('../lib/sanitizers');

const ISS_A = 'https://a.example';
const ISS_B = 'https://b.example';
const CH = 'cam-reload-1';
let emu, dir;

// Writes like kubelet: a new file, then a rename over the old one.
function replace(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

const secret = () => crypto.randomBytes(32).toString('hex');
const hsToken = (s, iss, sub = 'alice') => mint({ sub, iss, aud: 'kvsgate', kvs: { manage: ['cam-reload-*'], viewer: ['cam-reload-*'] } }, { key: new TextEncoder().encode(s) });

function policyText({ secretFile, pemFile, withB, broken }) {
  let t = `version: 1
issuers:
  - name: a
    issuer: ${ISS_A}
    hs256SecretFile: ${secretFile}
    audience: {aud: kvsgate}
`;
  if (withB) t += `  - name: b
    issuer: ${ISS_B}
    publicKeyFiles: [${pemFile}]
    audience: {aud: kvsgate}
`;
  if (broken) t += '    audiance: oops\n';
  return t;
}

async function eventually(what, fn, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs * sanitizers.slow();
  for (;;) {
    if (await fn()) return Date.now();
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Requests in a loop with token() until stopped; every answer recorded.
function load(api, token) {
  const statuses = [];
  let stop = false;
  const runner = (async () => {
    while (!stop) {
      const r = await api.get(`/v1/channels/${CH}`, { token: await token(), contract: false });
      statuses.push(r.status);
    }
  })();
  return { statuses, stop: async () => { stop = true; await runner; } };
}

const metric = async (api, name) => {
  const text = (await api.get('/metrics', { contract: false })).text;
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').pop()) : undefined;
};

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsgate-reload-'));
  emu = await startEmulator();
});

after(async () => {
  if (emu) await emu.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('policy, secret and key files change under load: no request fails, new keys verify within 1 s', async () => {
  const secretFile = path.join(dir, 'a.secret');
  const pemFile = path.join(dir, 'b.pem');
  const policyFile = path.join(dir, 'policy.yaml');
  let sA = secret();
  const rsa = await keyPair('RS256');
  fs.writeFileSync(secretFile, `${sA}\n`);
  fs.writeFileSync(pemFile, await exportSPKI(rsa.publicKey));
  fs.writeFileSync(policyFile, policyText({ secretFile, pemFile }));
  const gate = await startKvsgate({
    emulator: emu,
    env: {
      KVSGATE_JWT_HS256_SECRET: undefined,
      KVSGATE_POLICY_FILE: policyFile,
      KVSGATE_AUTH_WATCH_MS: '100',
      KVSGATE_RATE_LIMIT_RPS: '0',
      // the waits below send refused tokens on purpose; with the budget on,
      // this address would be over it, and a reload (which makes every token
      // new to the cache) would turn the load's requests into 429s
      KVSGATE_AUTH_FAILURE_RPS: '0',
    },
  });
  try {
    const api = client(gate.url);
    assert.equal((await api.put(`/v1/channels/${CH}`, { token: await hsToken(sA, ISS_A) })).status, 201);
    assert.equal(await metric(api, 'kvsgate_auth_policy_generation'), 1);

    // 1. A second issuer appears: the load (issuer a, unchanged) never fails.
    const tokB = await mint({ sub: 'bob', iss: ISS_B, aud: 'kvsgate', kvs: { viewer: ['cam-reload-*'] } }, { alg: 'RS256', key: rsa.privateKey });
    assert.equal((await api.get(`/v1/channels/${CH}`, { token: tokB })).status, 401);
    const steady = await hsToken(sA, ISS_A);
    let l = load(api, async () => steady);
    const t0 = Date.now();
    replace(policyFile, policyText({ secretFile, pemFile, withB: true }));
    const t1 = await eventually('issuer b accepted', async () => (await api.get(`/v1/channels/${CH}`, { token: tokB })).status === 200);
    assert.ok(t1 - t0 < 1000 * sanitizers.slow(), `the new issuer took ${t1 - t0} ms`);
    await new Promise((r) => setTimeout(r, 300));
    await l.stop();
    assert.ok(l.statuses.length > 10);
    assert.deepEqual([...new Set(l.statuses)], [200], 'no request failed during the reload');
    await gate.waitForLog((x) => x.event === 'auth_reloaded' && x.generation === 2 && x.trigger === 'file' && x.issuers === 2);

    // 2. The secret rotates: old-secret tokens (also cached ones) stop, new ones verify.
    const old = await hsToken(sA, ISS_A, 'carol');
    assert.equal((await api.get(`/v1/channels/${CH}`, { token: old })).status, 200); // now cached
    const sA2 = secret();
    const fresh = await hsToken(sA2, ISS_A, 'carol');
    l = load(api, async () => tokB);
    const t2 = Date.now();
    replace(secretFile, `${sA2}\n`);
    const t3 = await eventually('the new secret accepted', async () => (await api.get(`/v1/channels/${CH}`, { token: fresh })).status === 200);
    assert.ok(t3 - t2 < 1000 * sanitizers.slow(), `the new secret took ${t3 - t2} ms`);
    assert.equal((await api.get(`/v1/channels/${CH}`, { token: old })).status, 401, 'the cached verdict went with the old secret');
    await l.stop();
    assert.deepEqual([...new Set(l.statuses)], [200]);
    sA = sA2;

    // 3. A broken policy: refused, reported, and the running generation serves on.
    const refusedBefore = (await metric(api, 'kvsgate_auth_reloads_total{outcome="refused"}')) || 0;
    replace(policyFile, policyText({ secretFile, pemFile, withB: true, broken: true }));
    const bad = await gate.waitForLog((x) => x.event === 'auth_reload_refused', 3000 * sanitizers.slow());
    assert.equal(bad.why, `${policyFile}: issuers[1]: unknown member "audiance"`);
    assert.equal(bad.level, 'error');
    assert.equal(await metric(api, 'kvsgate_auth_reloads_total{outcome="refused"}'), refusedBefore + 1);
    assert.equal((await api.get(`/v1/channels/${CH}`, { token: fresh })).status, 200);
    assert.equal((await api.get(`/v1/channels/${CH}`, { token: tokB })).status, 200);
    assert.equal((await api.get('/readyz', { contract: false })).status, 200);
    // a broken file is reported once, not at every check
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(gate.logs.filter((x) => x.event === 'auth_reload_refused').length, 1);

    // 4. A PEM file that is not a key: refused, named.
    replace(policyFile, policyText({ secretFile, pemFile, withB: true }));
    await gate.waitForLog((x) => x.event === 'auth_reloaded' && x.generation === 3);
    replace(pemFile, 'not a key\n');
    const badPem = await gate.waitForLog((x) => x.event === 'auth_reload_refused' && x.why.includes(pemFile));
    assert.doesNotMatch(badPem.why, /not a key\n/);
    assert.equal((await api.get(`/v1/channels/${CH}`, { token: tokB })).status, 200, 'the old key serves on');

    // 5. SIGHUP reloads at once (the key is back).
    fs.writeFileSync(pemFile, await exportSPKI(rsa.publicKey));
    gate.process.kill('SIGHUP');
    await gate.waitForLog((x) => x.event === 'auth_reloaded' && x.trigger === 'signal');
    assert.equal(await metric(api, 'kvsgate_auth_policy_generation'), Math.max(...gate.logs.filter((x) => x.event === 'auth_reloaded').map((x) => x.generation)));

    // 6. Issuer b removed: its tokens stop.
    replace(policyFile, policyText({ secretFile, pemFile }));
    await eventually('issuer b refused', async () => (await api.get(`/v1/channels/${CH}`, { token: tokB })).status === 401);
    assert.equal((await api.get(`/v1/channels/${CH}`, { token: fresh })).status, 200);
    for (const line of gate.logs) assert.doesNotMatch(JSON.stringify(line), new RegExp(`${sA}|${sA2}`), 'no secret in any log line');
  } finally {
    const r = await gate.stop();
    assert.equal(r.code, 0);
  }
});

test('without a policy file, KVSGATE_JWT_HS256_SECRET_FILE and KVSGATE_JWT_PUBLIC_KEY_FILE reload too', async () => {
  const secretFile = path.join(dir, 'env.secret');
  const pemFile = path.join(dir, 'env.pem');
  const s1 = secret();
  const k1 = await keyPair('ES256'), k2 = await keyPair('ES256');
  fs.writeFileSync(secretFile, s1);
  fs.writeFileSync(pemFile, await exportSPKI(k1.publicKey));
  const gate = await startKvsgate({
    emulator: emu,
    env: {
      KVSGATE_JWT_HS256_SECRET: undefined,
      KVSGATE_JWT_HS256_SECRET_FILE: secretFile,
      KVSGATE_JWT_PUBLIC_KEY_FILE: pemFile,
      KVSGATE_JWT_ISSUER: ISS_A,
      KVSGATE_JWT_AUDIENCE: 'kvsgate',
      KVSGATE_AUTH_WATCH_MS: '100',
      KVSGATE_AUTH_FAILURE_RPS: '0',
    },
  });
  try {
    const api = client(gate.url);
    const es = (k) => mint({ sub: 'dave', iss: ISS_A, aud: 'kvsgate', kvs: { manage: ['cam-reload-*'] } }, { alg: 'ES256', key: k.privateKey });
    assert.equal((await api.get(`/v1/channels/${CH}`, { token: await es(k1) })).status, 200);
    assert.equal((await api.get(`/v1/channels/${CH}`, { token: await es(k2) })).status, 401);
    replace(pemFile, await exportSPKI(k2.publicKey));
    await eventually('the new PEM key accepted', async () => (await api.get(`/v1/channels/${CH}`, { token: await es(k2) })).status === 200);
    assert.equal((await api.get(`/v1/channels/${CH}`, { token: await es(k1) })).status, 401);
    const s2 = secret();
    replace(secretFile, s2);
    await eventually('the new secret accepted', async () => (await api.get(`/v1/channels/${CH}`, { token: await hsToken(s2, ISS_A) })).status === 200);
    assert.equal((await api.get(`/v1/channels/${CH}`, { token: await hsToken(s1, ISS_A) })).status, 401);
    // too short a secret: refused, the current one stays
    replace(secretFile, 'short');
    const bad = await gate.waitForLog((x) => x.event === 'auth_reload_refused');
    assert.match(bad.why, /KVSGATE_JWT_HS256_SECRET: must be at least 32 bytes/);
    assert.doesNotMatch(bad.why, /short/);
    assert.equal((await api.get(`/v1/channels/${CH}`, { token: await hsToken(s2, ISS_A) })).status, 200);
  } finally {
    await gate.stop();
  }
});
