'use strict';
// The settings the chart renders are settings the real binary accepts: the
// ConfigMap and env of `helm template` (default values, and values-all.yaml
// with every setting changed) start `kvsgate serve`, which answers /healthz
// and exits 0 on SIGTERM; with the default values the stop follows the chart's
// contract (unready at once, serving through KVSGATE_SHUTDOWN_DELAY_S, gone
// before terminationGracePeriodSeconds). Skipped when the binary is not built. Only what cannot exist outside a pod is remapped:
// the mounted files (to real temporary ones: secret, PEM keys, CA bundle, TLS
// certificate, Redis password and value key), the listen address (a free
// loopback port), the AWS endpoints and the Redis URL (to a closed loopback
// port: no network in tests).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const YAML = require('yaml');
const env = require('../lib/env');
const { startKvsgate } = require('../lib/kvsgate');

const chartDir = path.join(env.sourceDir, 'helm', 'kvsgate');
const helmBin = process.env.KVSGATE_HELM || path.join(env.sourceDir, '.tools', 'bin', 'helm');
const haveBinary = fs.existsSync(env.bin);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsgate-chart-bin-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function rendered(args) {
  const r = spawnSync(helmBin, ['template', 'kg', chartDir, ...args], {
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: '/dev/null', HELM_CACHE_HOME: path.join(tmp, 'h'), HELM_CONFIG_HOME: path.join(tmp, 'h'), HELM_DATA_HOME: path.join(tmp, 'h') },
  });
  assert.equal(r.status, 0, r.stderr);
  const docs = YAML.parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean);
  const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'kg-kvsgate');
  const container = docs.find((d) => d.kind === 'Deployment').spec.template.spec.containers[0];
  const vars = { ...cm.data };
  for (const e of container.env || []) vars[e.name] = e.value;
  const graceS = docs.find((d) => d.kind === 'Deployment').spec.template.spec.terminationGracePeriodSeconds;
  return { vars, graceS };
}

// Files the pod would have mounted, made real.
const files = {};
before(() => {
  if (!haveBinary) return;
  files.secret = path.join(tmp, 'jwt-hs256-secret');
  fs.writeFileSync(files.secret, crypto.randomBytes(24).toString('hex') + '\n');
  files.externalId = path.join(tmp, 'external-id');
  fs.writeFileSync(files.externalId, 'external-id-for-tests');
  files.pems = [0, 1].map((i) => {
    const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const f = path.join(tmp, `key${i}.pem`);
    fs.writeFileSync(f, publicKey.export({ type: 'spki', format: 'pem' }));
    return f;
  });
  files.cert = path.join(tmp, 'tls.crt');
  files.key = path.join(tmp, 'tls.key');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', files.key, '-out', files.cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  files.ca = files.cert; // any PEM bundle will do
  files.redisPassword = path.join(tmp, 'redis-password');
  fs.writeFileSync(files.redisPassword, 'redis-password-for-tests\n');
  files.redisKey = path.join(tmp, 'redis-key');
  fs.writeFileSync(files.redisKey, crypto.randomBytes(48).toString('base64') + '\n');
});

function remap(vars) {
  const out = { ...vars, KVSGATE_LISTEN: '127.0.0.1:0' };
  const map = {
    KVSGATE_JWT_HS256_SECRET_FILE: files.secret,
    KVSGATE_ASSUME_ROLE_EXTERNAL_ID_FILE: files.externalId,
    KVSGATE_TLS_CERT_FILE: files.cert,
    KVSGATE_TLS_KEY_FILE: files.key,
    KVSGATE_AWS_CA_FILE: files.ca,
    KVSGATE_REDIS_PASSWORD_FILE: files.redisPassword,
    KVSGATE_REDIS_KEY_FILE: files.redisKey,
  };
  for (const [k, v] of Object.entries(map)) if (out[k]) out[k] = v;
  if (out.KVSGATE_JWT_PUBLIC_KEY_FILE) {
    const n = out.KVSGATE_JWT_PUBLIC_KEY_FILE.split(',').length;
    out.KVSGATE_JWT_PUBLIC_KEY_FILE = files.pems.slice(0, n).join(',');
  }
  for (const k of ['KVSGATE_KVS_ENDPOINT', 'KVSGATE_STS_ENDPOINT', 'KVSGATE_JWKS_URL']) {
    if (out[k]) out[k] = 'http://127.0.0.1:9/unreachable';
  }
  if (out.KVSGATE_REDIS_URL) out.KVSGATE_REDIS_URL = 'redis://127.0.0.1:9/2'; // kvsgate goes on without Redis
  return out;
}

function get(url) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
  });
}

// Starts kvsgate with `vars`; checks /healthz (and /readyz when `ready`); then
// SIGTERM: with `graceS`, checks the chart's stop contract: unready at once,
// still serving during the shutdown delay, exit 0 before the grace period ends.
async function startAndStop(vars, { tls, ready, graceS }) {
  const gate = await startKvsgate({
    env: {
      ...vars,
      KVSGATE_JWT_HS256_SECRET: undefined, // the chart passes it as a file
      AWS_ACCESS_KEY_ID: 'AKIDLOCAL',
      AWS_SECRET_ACCESS_KEY: 'SECRETLOCAL',
      AWS_EC2_METADATA_DISABLED: 'true',
    },
  });
  const base = `${tls ? 'https' : 'http'}://127.0.0.1:${gate.port}`;
  const status = async (p) => (tls ? get(`${base}${p}`) : (await fetch(`${base}${p}`)).status);
  let stopped;
  try {
    assert.equal(await status('/healthz'), 200);
    if (ready) {
      let s = 0;
      for (let i = 0; i < 50 && s !== 200; i++) {
        s = await status('/readyz');
        if (s !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(s, 200, gate.stderr());
    }
  } finally {
    stopped = Date.now();
    gate.process.kill('SIGTERM');
  }
  if (graceS) {
    const delayS = Number(vars.KVSGATE_SHUTDOWN_DELAY_S);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await status('/readyz'), 503, 'ready after SIGTERM');
    assert.equal(await status('/healthz'), 200, 'not serving during the shutdown delay');
    const { code } = await gate.exited;
    const tookS = (Date.now() - stopped) / 1000;
    assert.equal(code, 0, gate.stderr());
    assert.ok(tookS >= delayS - 0.5, `stopped after ${tookS} s, before the ${delayS} s delay`);
    assert.ok(tookS < graceS, `stopped after ${tookS} s, past terminationGracePeriodSeconds ${graceS}`);
    return;
  }
  const { code, signal } = await gate.exited;
  assert.equal(signal, null, gate.stderr());
  assert.equal(code, 0, gate.stderr());
}

test('default values (+ an HS256 secret and a region) start kvsgate; SIGTERM: unready, serving through the delay, exit 0 within the grace period',
  { skip: !haveBinary && `no kvsgate binary at ${env.bin}` }, async () => {
    const { vars, graceS } = rendered(['--set', `jwtHs256Secret.value=${'s'.repeat(32)}`, '--set', 'config.AWS_REGION=us-west-2']);
    assert.equal(vars.KVSGATE_SHUTDOWN_DELAY_S, '10');
    await startAndStop(remap(vars), { tls: false, ready: true, graceS });
  });

test('values-all.yaml (every setting changed) starts kvsgate over TLS: healthy, clean stop',
  { skip: !haveBinary && `no kvsgate binary at ${env.bin}` }, async () => {
    const { vars } = rendered(['-f', path.join(__dirname, 'values-all.yaml')]);
    assert.ok(vars.KVSGATE_TLS_CERT_FILE && vars.KVSGATE_JWT_PUBLIC_KEY_FILE && vars.KVSGATE_AWS_CA_FILE);
    assert.ok(vars.KVSGATE_REDIS_URL && vars.KVSGATE_REDIS_KEY_FILE && vars.KVSGATE_REDIS_PASSWORD_FILE);
    // its 15 s shutdown delay is parsed at start; the stop is timed by the test above
    await startAndStop({ ...remap(vars), KVSGATE_SHUTDOWN_DELAY_S: '0' }, { tls: true, ready: false });
  });

test('a value the schema would refuse is refused by the binary too (the two agree)',
  { skip: !haveBinary && `no kvsgate binary at ${env.bin}` }, (t) => {
    const vars = remap(rendered(['--set', `jwtHs256Secret.value=${'s'.repeat(32)}`, '--set', 'config.AWS_REGION=us-west-2']).vars);
    const cases = [['KVSGATE_PRESIGN_EXPIRES_S', '300'], ['KVSGATE_MAX_HEADER_BYTES', '8191'], ['KVSGATE_LOG_LEVEL', 'verbose'],
      ['KVSGATE_ACCESS_LOG', 'maybe'], ['KVSGATE_JWKS_URL', 'ftp://x'], ['AWS_REGION', 'US_WEST_2'],
      ['KVSGATE_CORS_ORIGINS', 'https://a.example/path']];
    // The Redis settings, once the binary has them (a build older than
    // service/config.c ignores them: then they are left out, and said so).
    const help = spawnSync(env.bin, ['--help'], { encoding: 'utf8', timeout: 10000 });
    if (/KVSGATE_REDIS_URL/.test(help.stdout + help.stderr)) {
      cases.push(['KVSGATE_REDIS_PREFIX', 'a b'], ['KVSGATE_REDIS_TIMEOUT_MS', '5'], ['KVSGATE_RATE_LIMIT_SYNC_MS', '10001'],
        ['KVSGATE_REDIS_URL', 'rediss://r:6379']);
    } else {
      t.diagnostic(`${env.bin} predates the Redis settings (no KVSGATE_REDIS_URL in --help): Redis cases skipped; rebuild to run them`);
    }
    for (const [name, bad] of cases) {
      const r = spawnSync(env.bin, ['serve'], { encoding: 'utf8', timeout: 10000, env: { PATH: process.env.PATH, ...vars, [name]: bad } });
      assert.equal(r.status, 2, `${name}=${bad}: exit ${r.status} ${r.signal || ''}\n${r.stderr}`);
      assert.match(r.stderr, new RegExp(name));
    }
  });
