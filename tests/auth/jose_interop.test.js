'use strict';
// Interop of the C verifier with an independent JWT library (npm `jose`):
// tokens minted by jose for every supported algorithm (from PEM and from a
// JWKS with kids) verify through build/tests/jwt_check (the real jwtv_verify),
// the attack tokens are refused with the expected reason, and HS256 tokens
// travel both ways between `kvsgate token` and jose.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const env = require('../lib/env');

const checker = path.join(env.buildDir, 'tests', 'jwt_check');
const ISS = 'https://issuer.example';
const AUD = 'kvsgate';
const SECRET = 'interop-secret-interop-secret-interop-secret';

let jose;
let dir;
const keys = {}; // name -> { privatePem, publicPem, file }

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

function writeFile(name, text) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function makeKey(name, type, options) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync(type, options);
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' });
  keys[name] = {
    privateKey,
    publicKey,
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    publicPem,
    file: writeFile(`${name}.pem`, publicPem),
  };
}

// Runs the C verifier on one token; returns its JSON verdict.
function check(token, args = [], extraEnv = {}) {
  const r = spawnSync(checker, args, {
    input: token,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...extraEnv },
    timeout: 20000,
  });
  assert.ok(r.status === 0 || r.status === 1, `jwt_check exit ${r.status}: ${r.stderr}`);
  const verdict = JSON.parse(r.stdout);
  assert.equal(verdict.ok, r.status === 0);
  return verdict;
}

const pemArgs = () => ['--pem', keys.rsa.file, '--pem', keys.p256.file, '--pem', keys.p384.file,
  '--pem', keys.p521.file, '--pem', keys.ed25519.file];
const allArgs = () => [...pemArgs(), '--hs256-from-env', '--iss', ISS, '--aud', AUD];
const secretEnv = { KVSGATE_JWT_HS256_SECRET: SECRET };

const grants = { viewer: ['cam-*'], master: ['user-{sub}.*'], manage: ['lobby'] };

async function signingKey(alg) {
  if (alg === 'HS256') return new TextEncoder().encode(SECRET);
  const name = alg === 'EdDSA' ? 'ed25519' : alg.startsWith('ES512') ? 'p521'
    : alg.startsWith('ES384') ? 'p384' : alg.startsWith('ES') ? 'p256' : 'rsa';
  return jose.importPKCS8(keys[name].privatePem, alg);
}

async function mint(alg, { header = {}, claims = {}, sub = 'alice', exp = '10m' } = {}) {
  const jwt = new jose.SignJWT({ kvs: grants, ...claims })
    .setProtectedHeader({ alg, typ: 'JWT', ...header })
    .setSubject(sub)
    .setIssuer(ISS)
    .setAudience(AUD)
    .setIssuedAt();
  if (exp !== null) jwt.setExpirationTime(exp);
  return jwt.sign(await signingKey(alg));
}

// A compact JWS built by hand (for what jose refuses to produce).
function handSigned(headerObj, payloadObjOrText, signFn) {
  const h = b64url(JSON.stringify(headerObj));
  const p = b64url(typeof payloadObjOrText === 'string' ? payloadObjOrText : JSON.stringify(payloadObjOrText));
  const input = `${h}.${p}`;
  return `${input}.${b64url(signFn(input))}`;
}

const hmac = (key) => (input) => crypto.createHmac('sha256', key).update(input).digest();
const rsaSign = (input) => crypto.sign('sha256', Buffer.from(input), keys.rsa.privateKey);

function basePayload(extra = {}) {
  const now = Math.floor(Date.now() / 1000);
  return { sub: 'alice', iss: ISS, aud: AUD, iat: now, exp: now + 600, kvs: grants, ...extra };
}

before(async () => {
  jose = await import('jose');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsgate-jose-'));
  makeKey('rsa', 'rsa', { modulusLength: 2048 });
  makeKey('rsa2', 'rsa', { modulusLength: 3072 });
  makeKey('p256', 'ec', { namedCurve: 'P-256' });
  makeKey('p384', 'ec', { namedCurve: 'P-384' });
  makeKey('p521', 'ec', { namedCurve: 'P-521' });
  makeKey('ed25519', 'ed25519', {});
  makeKey('rsa1024', 'rsa', { modulusLength: 1024 });
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the jwt_check driver is built', () => assert.ok(fs.existsSync(checker), checker));

for (const alg of ['HS256', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']) {
  test(`a jose ${alg} token from PEM keys verifies with the right principal`, async () => {
    const token = await mint(alg);
    const v = check(token, [...allArgs(), '--channel', 'cam-1'], secretEnv);
    assert.equal(v.ok, true, v.reason);
    assert.equal(v.alg, alg);
    assert.equal(v.sub, 'alice');
    assert.equal(v.client_id, 'alice');
    assert.equal(v.kid, '');
    assert.deepEqual(v.grants, {
      master: ['user-alice.*'], viewer: ['cam-*'], manage: ['lobby'], anyClientId: false,
    });
    assert.deepEqual(v.allows, { master: false, viewer: true, manage: false, describe: true });
    assert.deepEqual(v.viewer, { ok: true, client_id: 'alice' });
  });
}

test('jose tokens verify through a JWKS by kid, with the JWK alg pinning the algorithm', async () => {
  const jwk = async (name, kid, alg) => {
    const j = await jose.exportJWK(keys[name].publicKey);
    return { ...j, kid, use: 'sig', ...(alg ? { alg } : {}) };
  };
  const jwks = { keys: [await jwk('rsa', 'rsa-1', 'RS256'), await jwk('rsa2', 'rsa-2'),
    await jwk('p256', 'ec-1', 'ES256'), await jwk('p384', 'ec-2'), await jwk('rsa1024', 'weak'),
    await jwk('p521', 'ec-3'), await jwk('ed25519', 'ed-1', 'EdDSA')] };
  const file = writeFile('jwks.json', JSON.stringify(jwks));
  const args = ['--jwks', file, '--iss', ISS, '--aud', AUD];
  const rsa2 = (alg) => jose.importPKCS8(keys.rsa2.privatePem, alg);
  const cases = [
    ['RS256', 'rsa-1', await signingKey('RS256'), true],
    ['RS512', 'rsa-2', await rsa2('RS512'), true],
    ['PS256', 'rsa-2', await rsa2('PS256'), true],
    ['ES256', 'ec-1', await signingKey('ES256'), true],
    ['ES384', 'ec-2', await signingKey('ES384'), true],
    ['ES512', 'ec-3', await signingKey('ES512'), true],
    ['EdDSA', 'ed-1', await signingKey('EdDSA'), true],
    ['PS512', 'rsa-2', await rsa2('PS512'), true],
    ['ES384', 'ec-3', await signingKey('ES384'), 'algorithm does not match key'],
    ['PS256', 'rsa-1', await signingKey('PS256'), 'algorithm does not match key'],
    ['RS256', 'rsa-2', await signingKey('RS256'), 'bad signature'],
    ['RS256', 'nobody', await signingKey('RS256'), 'unknown key id'],
  ];
  for (const [alg, kid, key, want] of cases) {
    const token = await new jose.SignJWT({ kvs: grants }).setProtectedHeader({ alg, kid })
      .setSubject('alice').setIssuer(ISS).setAudience(AUD).setExpirationTime('5m').sign(key);
    const v = check(token, args);
    if (want === true) {
      assert.equal(v.ok, true, `${alg}/${kid}: ${v.reason}`);
      assert.equal(v.kid, kid);
      assert.equal(v.alg, alg);
    } else {
      assert.equal(v.reason, want, `${alg}/${kid}`);
    }
  }
  // The 1024-bit JWK was skipped at load (jose will not sign with it; node:crypto will).
  const weak = handSigned({ alg: 'RS256', kid: 'weak' }, basePayload(), (input) =>
    crypto.sign('sha256', Buffer.from(input), keys.rsa1024.privateKey));
  assert.equal(check(weak, args).reason, 'unknown key id');
  // No kid at all: JWKS keys are chosen by kid only.
  const noKid = await new jose.SignJWT({ kvs: grants }).setProtectedHeader({ alg: 'RS256' })
    .setSubject('a').setIssuer(ISS).setAudience(AUD).setExpirationTime('5m').sign(await signingKey('RS256'));
  assert.equal(check(noKid, args).reason, 'missing key id');
  // HS256 naming a JWKS kid, HMAC'd with that key's PEM.
  const confused = handSigned({ alg: 'HS256', kid: 'rsa-1' }, basePayload(), hmac(keys.rsa.publicPem));
  assert.equal(check(confused, args).reason, 'algorithm does not match key');
});

test('attack tokens are refused with the reason that names them', async () => {
  const now = Math.floor(Date.now() / 1000);
  const unsecured = new jose.UnsecuredJWT(basePayload()).encode();
  const noneWithSig = `${unsecured}${b64url('sig')}`;
  const confusion = handSigned({ alg: 'HS256', typ: 'JWT' }, basePayload(), hmac(keys.rsa.publicPem));
  const lower = handSigned({ alg: 'hs256', typ: 'JWT' }, basePayload(), hmac(SECRET));
  const hs384 = await new jose.SignJWT(basePayload()).setProtectedHeader({ alg: 'HS384' })
    .sign(new TextEncoder().encode(SECRET));
  const es256OnP384 = handSigned({ alg: 'ES256' }, basePayload(), (input) =>
    crypto.sign('sha256', Buffer.from(input), { key: keys.p384.privateKey, dsaEncoding: 'ieee-p1363' }));
  const es256Der = handSigned({ alg: 'ES256' }, basePayload(), (input) =>
    crypto.sign('sha256', Buffer.from(input), keys.p256.privateKey)); // DER, not r||s
  const valid = await mint('RS256');
  const [h, , s] = valid.split('.');
  const otherPayload = b64url(JSON.stringify(basePayload({ sub: 'mallory', kvs: { manage: ['*'] } })));
  const big = await mint('HS256', { claims: { pad: 'x'.repeat(9000) } });
  let deep = '1';
  for (let i = 0; i < 100; i++) deep = `[${deep}]`;
  const deepPayload = JSON.stringify(basePayload()).replace(/}$/, `,"x":${deep}}`);
  const dupPayload = JSON.stringify(basePayload()).replace('{"sub":"alice"', '{"sub":"admin","sub":"alice"');

  const cases = [
    ['alg none, empty signature (jose UnsecuredJWT)', unsecured, 'malformed token'],
    ['alg none with a signature', noneWithSig, 'unsupported algorithm'],
    ['HS256 keyed with the RSA public PEM (secret configured too)', confusion, 'bad signature'],
    ['alg hs256 (lowercase)', lower, 'unsupported algorithm'],
    ['alg HS384', hs384, 'unsupported algorithm'],
    ['ES256 signed with the P-384 key', es256OnP384, 'bad signature'],
    ['ES256 signature in DER', es256Der, 'bad signature'],
    ['payload swapped under a valid signature', `${h}.${otherPayload}.${s}`, 'bad signature'],
    ['one segment', h, 'malformed token'],
    ['two segments', `${h}.${otherPayload}`, 'malformed token'],
    ['four segments', `${valid}.${s}`, 'malformed token'],
    ['junk in the signature', `${valid.slice(0, -5)}$$${valid.slice(-5)}`, 'malformed token'],
    ['padding', `${valid}=`, 'malformed token'],
    ['standard base64 alphabet', valid.replace(/-/g, '+').replace(/_/g, '/') + (/[-_]/.test(valid) ? '' : '+'), 'malformed token'],
    ['over 8 KiB', big, 'token too large'],
    ['nested 100 deep', handSigned({ alg: 'RS256' }, deepPayload, rsaSign), 'malformed token'],
    ['duplicate sub', handSigned({ alg: 'RS256' }, dupPayload, rsaSign), 'malformed token'],
    ['expired beyond leeway', await mint('RS256', { exp: now - 61 }), 'token expired'],
    ['nbf in the future', await mint('ES256', { claims: { nbf: now + 120 } }), 'token not yet valid'],
    ['iat in the future', handSigned({ alg: 'RS256' }, basePayload({ iat: now + 3600 }), rsaSign), 'token issued in the future'],
    ['exp a real number', handSigned({ alg: 'RS256' }, JSON.stringify(basePayload()).replace(/"exp":(\d+)/, '"exp":$1.5'), rsaSign), 'bad claim type'],
    ['exp a string', handSigned({ alg: 'RS256' }, basePayload({ exp: String(now + 600) }), rsaSign), 'bad claim type'],
    ['no exp', await mint('RS256', { exp: null }), 'missing exp'],
    ['aud a number', handSigned({ alg: 'RS256' }, basePayload({ aud: 7 }), rsaSign), 'bad claim type'],
    ['wrong issuer', handSigned({ alg: 'RS256' }, basePayload({ iss: 'https://evil.example' }), rsaSign), 'wrong issuer'],
    ['wrong audience', handSigned({ alg: 'RS256' }, basePayload({ aud: ['a', 'b'] }), rsaSign), 'wrong audience'],
    ['grants claim a string', handSigned({ alg: 'RS256' }, basePayload({ kvs: '{"manage":["*"]}' }), rsaSign), 'bad claim type'],
    ['no grants', handSigned({ alg: 'RS256' }, basePayload({ kvs: undefined }), rsaSign), 'no grants claim'],
    ['crit header', handSigned({ alg: 'RS256', crit: ['exp'] }, basePayload(), rsaSign), 'unsupported critical header'],
  ];
  for (const [name, token, reason] of cases) {
    const v = check(token, allArgs(), secretEnv);
    assert.equal(v.ok, false, `${name}: accepted`);
    assert.equal(v.reason, reason, name);
  }
  // The confusion forgery against a verifier that holds only the PEM.
  assert.equal(check(confusion, [...pemArgs(), '--iss', ISS, '--aud', AUD]).reason,
    'algorithm does not match key');
  // aud as an array containing ours is fine.
  assert.equal(check(handSigned({ alg: 'RS256' }, basePayload({ aud: ['x', AUD] }), rsaSign), allArgs(), secretEnv).ok, true);
});

test('viewer client ids: own namespace yes, someone else\'s seat no', async () => {
  const alice = await mint('ES256');
  const bob = await mint('ES256', { sub: 'bob' });
  const email = await mint('ES256', { sub: 'carol@example.com' });
  const crafted = await mint('ES256', { sub: 'AWS_x' });
  const v = (token, id) => check(token, [...allArgs(), '--client-id', id], secretEnv).viewer;
  assert.deepEqual(v(alice, 'alice.phone'), { ok: true, client_id: 'alice.phone' });
  assert.deepEqual(v(bob, 'alice'), { ok: false, code: 'forbidden' });
  assert.deepEqual(v(bob, 'alice.x'), { ok: false, code: 'forbidden' });
  assert.deepEqual(v(bob, 'AWS_x'), { ok: false, code: 'invalid_client_id' });
  const carolId = `_${crypto.createHash('sha256').update('carol@example.com').digest('hex').slice(0, 40)}`;
  assert.equal(check(email, allArgs(), secretEnv).client_id, carolId);
  assert.deepEqual(v(email, `${carolId}.tab`), { ok: true, client_id: `${carolId}.tab` });
  // A sub spelled like carol's hashed id is hashed again.
  const mallory = await mint('ES256', { sub: carolId });
  assert.notEqual(check(mallory, allArgs(), secretEnv).client_id, carolId);
  assert.deepEqual(v(mallory, carolId), { ok: false, code: 'forbidden' });
  assert.match(check(crafted, allArgs(), secretEnv).client_id, /^_[0-9a-f]{40}$/);
});

function kvsgateToken(args, extraEnv = secretEnv) {
  const r = spawnSync(env.bin, ['token', ...args], {
    encoding: 'utf8', env: { PATH: process.env.PATH, ...extraEnv }, timeout: 10000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
  return r.stdout.trim();
}

test('kvsgate token output verifies with jose (HS256), claims as asked', async () => {
  const token = kvsgateToken(['--sub', 'alice', '--master', 'cam-1,cam-2', '--viewer', 'user-{sub}.*',
    '--any-client-id', '--ttl', '120', '--iss', ISS, '--aud', AUD]);
  const { payload, protectedHeader } = await jose.jwtVerify(token, new TextEncoder().encode(SECRET),
    { issuer: ISS, audience: AUD, algorithms: ['HS256'] });
  assert.deepEqual(protectedHeader, { alg: 'HS256', typ: 'JWT' });
  assert.equal(payload.sub, 'alice');
  assert.deepEqual(payload.kvs, { master: ['cam-1', 'cam-2'], viewer: ['user-{sub}.*'], anyClientId: true });
  assert.equal(payload.exp - payload.iat, 120);
  assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 10);
  // jose with another secret refuses it.
  await assert.rejects(jose.jwtVerify(token, new TextEncoder().encode(`${SECRET}x`)));
  // And our verifier takes it too.
  const v = check(token, allArgs(), secretEnv);
  assert.equal(v.ok, true, v.reason);
  assert.deepEqual(v.grants.viewer, ['user-alice.*']);
  // A namespaced claim and the secret from a file.
  const file = writeFile('secret.txt', `${SECRET}\n`);
  const t2 = kvsgateToken(['--sub', 'bob', '--manage', '*', '--claim', 'https://example.com/kvs'],
    { KVSGATE_JWT_HS256_SECRET_FILE: file });
  const { payload: p2 } = await jose.jwtVerify(t2, new TextEncoder().encode(SECRET));
  assert.deepEqual(p2['https://example.com/kvs'], { manage: ['*'] });
  assert.equal(p2.exp - p2.iat, 3600);
});

test('a jose HS256 token verifies with the secret as kvsgate reads it', async () => {
  const token = await mint('HS256');
  const v = check(token, ['--hs256-from-env', '--iss', ISS, '--aud', AUD], secretEnv);
  assert.equal(v.ok, true, v.reason);
  // The same secret from a file with a trailing newline.
  const file = writeFile('secret2.txt', `${SECRET}\n`);
  assert.equal(check(token, ['--hs256-from-env'], { KVSGATE_JWT_HS256_SECRET_FILE: file }).ok, true);
  // A secret one byte off does not.
  assert.equal(check(token, ['--hs256-from-env'], { KVSGATE_JWT_HS256_SECRET: `${SECRET}!` }).reason,
    'bad signature');
});
