'use strict';
// `kvsgate presign` as a process: for every case of kvs-presign.json the URL on
// stdout equals the vector's URL byte for byte, and bad input exits 2 with one
// line on stderr naming the flag.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const env = require('../lib/env');

const vectors = JSON.parse(fs.readFileSync(path.join(env.vectorsDir, 'kvs-presign.json'), 'utf8'));

function run(args, extraEnv = {}) {
  const cleanEnv = { PATH: process.env.PATH, ...extraEnv };
  return spawnSync(env.bin, args, { env: cleanEnv, encoding: 'utf8', timeout: 10000 });
}

function argsFor(c) {
  const i = c.inputs;
  const args = ['presign', '--endpoint', `wss://${i.host}${i.path}`, '--region', i.region,
    '--expires', String(i.expires), '--date', i.datetime];
  for (const [name, value] of i.queryParams) {
    if (name === 'X-Amz-ChannelARN') args.push('--channel-arn', value);
    else if (name === 'X-Amz-ClientId') args.push('--client-id', value);
    else throw new Error(`unexpected param ${name}`);
  }
  return args;
}

function credsFor(c) {
  const e = { AWS_ACCESS_KEY_ID: c.inputs.accessKeyId, AWS_SECRET_ACCESS_KEY: c.inputs.secretAccessKey };
  if (c.inputs.sessionToken !== null) e.AWS_SESSION_TOKEN = c.inputs.sessionToken;
  return e;
}

test('the vector file has cases', () => assert.ok(vectors.cases.length >= 15));

for (const c of vectors.cases) {
  test(`presign prints exactly the expected URL for ${c.id}`, () => {
    const r = run(argsFor(c), credsFor(c));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, c.expected.url + '\n');
  });
}

const base = vectors.cases.find((c) => c.id === 'p02-usw2-viewer');

test('presign defaults --expires to 299 and --date to now', () => {
  const args = argsFor(base).filter((a, k, all) => !['--expires', '--date'].includes(a) &&
    !['--expires', '--date'].includes(all[k - 1]));
  const r = run(args, credsFor(base));
  assert.equal(r.status, 0, r.stderr);
  const url = new URL(r.stdout.trim());
  assert.equal(url.searchParams.get('X-Amz-Expires'), '299');
  const date = url.searchParams.get('X-Amz-Date');
  const now = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  assert.ok(Math.abs(Date.parse(date.replace(/(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z/, '$1-$2-$3T$4:$5:$6Z')) -
    Date.parse(now.replace(/(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z/, '$1-$2-$3T$4:$5:$6Z'))) < 5000);
});

test('presign takes the region from AWS_REGION when --region is absent', () => {
  const args = argsFor(base).filter((a, k, all) => a !== '--region' && all[k - 1] !== '--region');
  const r = run(args, { ...credsFor(base), AWS_REGION: base.inputs.region });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, base.expected.url + '\n');
});

test('presign with no --client-id makes a MASTER URL (no X-Amz-ClientId)', () => {
  const master = vectors.cases.find((c) => c.role === 'MASTER');
  const r = run(argsFor(master), credsFor(master));
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!r.stdout.includes('X-Amz-ClientId'));
});

const badInputs = [
  ['missing --endpoint', (a) => dropFlag(a, '--endpoint'), /--endpoint/],
  ['an https endpoint', (a) => setFlag(a, '--endpoint', 'https://v-1.example.com/'), /--endpoint/],
  ['an endpoint with a query', (a) => setFlag(a, '--endpoint', 'wss://v-1.example.com/?a=b'), /--endpoint/],
  ['an endpoint with no host', (a) => setFlag(a, '--endpoint', 'wss:///'), /--endpoint/],
  ['missing --channel-arn', (a) => dropFlag(a, '--channel-arn'), /--channel-arn/],
  ['an empty --client-id', (a) => setFlag(a, '--client-id', ''), /--client-id/],
  ['a malformed --date', (a) => setFlag(a, '--date', '2015-08-30T12:36:00Z'), /--date/],
  ['an impossible --date', (a) => setFlag(a, '--date', '20150230T123600Z'), /--date/],
  ['--expires 0', (a) => setFlag(a, '--expires', '0'), /--expires/],
  ['--expires past 7 days', (a) => setFlag(a, '--expires', '604801'), /--expires/],
  ['--expires not a number', (a) => setFlag(a, '--expires', '12s'), /--expires/],
  ['a bad --region', (a) => setFlag(a, '--region', 'US West'), /--region/],
  ['an unknown flag', (a) => [...a, '--bogus', '1'], /--bogus/],
  ['a repeated flag', (a) => [...a, '--region', 'us-east-1'], /--region/],
  ['a flag with no value', (a) => [...dropFlag(a, '--expires'), '--expires'], /--expires/],
];

function dropFlag(args, flag) {
  const k = args.indexOf(flag);
  return args.filter((_, j) => j !== k && j !== k + 1);
}
function setFlag(args, flag, value) {
  const k = args.indexOf(flag);
  const out = [...args];
  out[k + 1] = value;
  return out;
}

for (const [what, mutate, pattern] of badInputs) {
  test(`presign refuses ${what} with exit 2 and one line naming the flag`, () => {
    const r = run(mutate(argsFor(base)), credsFor(base));
    assert.equal(r.status, 2, `stdout: ${r.stdout}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
}

test('presign refuses to run without AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY', () => {
  for (const drop of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
    const e = credsFor(base);
    delete e[drop];
    const r = run(argsFor(base), e);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(drop));
  }
});

test('presign never echoes the secret key on an error', () => {
  const r = run(setFlag(argsFor(base), '--date', 'bad'), credsFor(base));
  assert.ok(!r.stderr.includes(base.inputs.secretAccessKey));
});

test('kvsgate --version prints the version, --help the usage', () => {
  const v = run(['--version']);
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^kvsgate \d+\.\d+\.\d+/);
  const h = run(['--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /presign/);
  const ph = run(['presign', '--help']);
  assert.equal(ph.status, 0);
  assert.match(ph.stdout, /--channel-arn/);
});
