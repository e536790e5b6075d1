'use strict';
// `kvsgate token` as a process: the token alone on stdout, and every bad input
// exits 2 with one line on stderr naming the flag or the variable at fault.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const env = require('../lib/env');

const SECRET = '0123456789abcdef0123456789abcdef';

function run(args, extraEnv = { KVSGATE_JWT_HS256_SECRET: SECRET }) {
  return spawnSync(env.bin, ['token', ...args], {
    env: { PATH: process.env.PATH, ...extraEnv }, encoding: 'utf8', timeout: 10000,
  });
}

function payloadOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

test('token prints one compact JWT and nothing else', () => {
  const r = run(['--sub', 'alice', '--viewer', 'cam-*']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}\n$/);
  const p = payloadOf(r.stdout.trim());
  assert.equal(p.sub, 'alice');
  assert.deepEqual(p.kvs, { viewer: ['cam-*'] });
  assert.equal(p.exp - p.iat, 3600);
  assert.equal(p.iss, undefined);
  assert.equal(p.aud, undefined);
});

test('token accepts --flag=value, the 30-day maximum ttl and --help', () => {
  const r = run(['--sub=bob', '--ttl=2592000', '--manage=a,b-*,u-{sub}.*', '--any-client-id', '--manage-any']);
  assert.equal(r.status, 0, r.stderr);
  const p = payloadOf(r.stdout.trim());
  assert.equal(p.exp - p.iat, 2592000);
  assert.deepEqual(p.kvs, { manage: ['a', 'b-*', 'u-{sub}.*'], anyClientId: true, manageAny: true });
  const h = run(['--help'], {});
  assert.equal(h.status, 0);
  assert.match(h.stdout, /--any-client-id/);
  assert.match(h.stdout, /KVSGATE_JWT_HS256_SECRET_FILE/);
  const top = spawnSync(env.bin, ['--help'], { encoding: 'utf8' });
  assert.match(top.stdout, /kvsgate token --sub ID/);
});

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsgate-token-'));
const shortFile = path.join(dir, 'short');
fs.writeFileSync(shortFile, 'short\n');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const bad = [
  ['no --sub', [], undefined, /--sub: required/],
  ['empty --sub', ['--sub', ''], undefined, /--sub: must be 1\.\.1024 bytes/],
  ['a --sub with a control character', ['--sub', 'a\u0001b'], undefined, /--sub: must be 1\.\.1024 bytes without control characters/],
  ['a --sub past 1024 bytes', ['--sub', 'x'.repeat(1025)], undefined, /--sub: must be 1\.\.1024 bytes/],
  ['an unclosed {sub} before a star', ['--sub', 'a', '--manage', 'user-{sub}-*'], undefined, /--manage: each pattern/],
  ['a value for --manage-any', ['--sub', 'a', '--manage-any=yes'], undefined, /--manage-any: takes no value/],
  ['a bad pattern', ['--sub', 'a', '--viewer', 'cam 1'], undefined, /--viewer: each pattern/],
  ['an empty pattern', ['--sub', 'a', '--master', 'a,,b'], undefined, /--master: each pattern/],
  ['a star inside', ['--sub', 'a', '--manage', 'a*b'], undefined, /--manage: each pattern/],
  ['ttl 0', ['--sub', 'a', '--ttl', '0'], undefined, /--ttl: must be an integer from 1 to 2592000/],
  ['ttl over 30 days', ['--sub', 'a', '--ttl', '2592001'], undefined, /--ttl/],
  ['ttl not a number', ['--sub', 'a', '--ttl', '1h'], undefined, /--ttl/],
  ['an unknown flag', ['--sub', 'a', '--scope', 'x'], undefined, /--scope: unknown flag/],
  ['a repeated flag', ['--sub', 'a', '--sub', 'b'], undefined, /--sub: given more than once/],
  ['a value for --any-client-id', ['--sub', 'a', '--any-client-id=no'], undefined, /--any-client-id: takes no value/],
  ['an empty --claim', ['--sub', 'a', '--claim', ''], undefined, /--claim/],
  ['no secret', ['--sub', 'a'], {}, /KVSGATE_JWT_HS256_SECRET: not set/],
  ['a short secret', ['--sub', 'a'], { KVSGATE_JWT_HS256_SECRET: 'x'.repeat(31) },
    /KVSGATE_JWT_HS256_SECRET: must be at least 32 bytes/],
  ['a short secret file', ['--sub', 'a'], { KVSGATE_JWT_HS256_SECRET_FILE: shortFile },
    /KVSGATE_JWT_HS256_SECRET_FILE: must be at least 32 bytes/],
  ['a missing secret file', ['--sub', 'a'], { KVSGATE_JWT_HS256_SECRET_FILE: path.join(dir, 'nope') },
    /KVSGATE_JWT_HS256_SECRET_FILE: .*nope: No such file/],
  ['both secret variables', ['--sub', 'a'], { KVSGATE_JWT_HS256_SECRET: SECRET, KVSGATE_JWT_HS256_SECRET_FILE: shortFile },
    /set only one/],
];

for (const [name, args, extraEnv, want] of bad) {
  test(`token with ${name} exits 2 with one line naming it`, () => {
    const r = run(args, extraEnv);
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^kvsgate token: [^\n]+\n$/);
    assert.match(r.stderr, want);
    assert.ok(!r.stderr.includes(SECRET), 'the secret leaked into stderr');
  });
}
