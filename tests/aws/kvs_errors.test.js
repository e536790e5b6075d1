'use strict';
// aws/kvs error mapping and retries against the emulator's fault knobs:
// throttling, 5xx, resets, latency and stalls, garbage and truncated bodies,
// signature failures; then calls that succeed through 30 % injected faults.
const { describe, test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { drive, baseEnv, startEmulator, emulatorMissing, STATIC_CREDS, uniqueName } = require('./lib');

const NO_FAULTS = { throttleRate: 0, errorRate: 0, resetRate: 0, latencyMs: 0, stallMs: 0,
  garbageRate: 0, truncateRate: 0, clockSkewS: 0 };

describe('KVS errors and retries against the emulator', { skip: emulatorMissing }, () => {
  let emu;
  let envs;
  let name;
  const describeWith = (opts, extraEnv) => drive([...opts, 'describe', name],
    extraEnv ? { ...envs, ...extraEnv } : envs);
  const faults = (f) => emu.setFaults({ ...f, operations: ['DescribeSignalingChannel'] });

  before(async () => {
    emu = await startEmulator();
    envs = baseEnv(emu, STATIC_CREDS);
    name = uniqueName('err');
    const c = await drive(['create', name], envs);
    assert.equal(c.code, 0, c.stdout + c.stderr);
  });
  afterEach(async () => { await emu.setFaults(NO_FAULTS); await emu.resetCounters(); });
  after(async () => { if (emu) await emu.stop(); });

  test('throttling (ClientLimitExceeded) is retried, then mapped to upstream-throttled', async () => {
    await faults({ throttleRate: 1 });
    const r = await describeWith(['--attempts', '3']);
    assert.equal(r.last.err, 'KG_ERR_UPSTREAM_THROTTLED', r.stdout);
    assert.equal(r.last.errorType, 'ClientLimitExceededException');
    assert.equal(r.last.upstreamCalls, 3);
    assert.equal(r.last.retries, 2);
    assert.ok(r.last.retryAfter >= 1);
    assert.equal(await emu.count('DescribeSignalingChannel', 'throttled'), 3);
  });

  test('5xx answers are retried, then mapped to upstream-unavailable', async () => {
    await faults({ errorRate: 1 });
    const r = await describeWith(['--attempts', '3']);
    assert.equal(r.last.err, 'KG_ERR_UPSTREAM_UNAVAILABLE', r.stdout);
    assert.match(r.last.errorType, /^(InternalFailure|ServiceUnavailable)$/);
    assert.equal(r.last.upstreamCalls, 3);
    assert.equal(await emu.count('DescribeSignalingChannel'), 3);
  });

  test('a reset connection is retried, then mapped to upstream-unavailable', async () => {
    await faults({ resetRate: 1 });
    const r = await describeWith(['--attempts', '3']);
    assert.equal(r.last.err, 'KG_ERR_UPSTREAM_UNAVAILABLE', r.stdout);
    assert.equal(r.last.errorType, 'kvsgate.ConnectionFailed');
    assert.equal(r.last.upstreamCalls, 3);
    // The first attempt opens a connection; libcurl itself re-sends at most
    // once per later attempt that died on a reused connection.
    const seen = await emu.count('DescribeSignalingChannel', 'reset');
    assert.ok(seen >= 3 && seen <= 6, `emulator saw ${seen} resets`);
  });

  test('a stalled answer times out at the deadline', async () => {
    await faults({ stallMs: 60000 });
    const t0 = Date.now();
    const r = await describeWith(['--attempts', '5', '--call-timeout-ms', '400', '--deadline-ms', '1000']);
    const elapsed = Date.now() - t0;
    assert.equal(r.last.err, 'KG_ERR_UPSTREAM_TIMEOUT', r.stdout);
    assert.equal(r.last.errorType, 'kvsgate.Timeout');
    assert.ok(r.last.upstreamCalls >= 2 && r.last.upstreamCalls <= 3, `${r.last.upstreamCalls} calls`);
    assert.ok(elapsed < 2500, `took ${elapsed} ms for a 1000 ms deadline`);
  });

  test('latency past the attempt timeout times out; latency within it succeeds', async () => {
    await faults({ latencyMs: 700 });
    const slow = await describeWith(['--attempts', '2', '--call-timeout-ms', '300']);
    assert.equal(slow.last.err, 'KG_ERR_UPSTREAM_TIMEOUT', slow.stdout);
    assert.equal(slow.last.upstreamCalls, 2);
    const fine = await describeWith(['--attempts', '1', '--call-timeout-ms', '3000']);
    assert.equal(fine.last.err, 'KG_OK', fine.stdout);
  });

  test('a garbage 200 body is refused and not retried', async () => {
    await faults({ garbageRate: 1 });
    const r = await describeWith(['--attempts', '3']);
    assert.equal(r.last.err, 'KG_ERR_UPSTREAM_REFUSED', r.stdout);
    assert.equal(r.last.errorType, 'kvsgate.UnreadableResponse');
    assert.equal(r.last.upstreamCalls, 1);
  });

  test('a truncated body is a broken connection: retried, then upstream-unavailable', async () => {
    await faults({ truncateRate: 1 });
    const r = await describeWith(['--attempts', '3']);
    assert.equal(r.last.err, 'KG_ERR_UPSTREAM_UNAVAILABLE', r.stdout);
    assert.equal(r.last.upstreamCalls, 3);
  });

  test('a wrong secret is refused as InvalidSignatureException, not retried', async () => {
    const r = await describeWith(['--attempts', '3'], { AWS_SECRET_ACCESS_KEY: 'WRONGSECRET' });
    assert.equal(r.last.err, 'KG_ERR_UPSTREAM_REFUSED', r.stdout);
    assert.equal(r.last.errorType, 'InvalidSignatureException');
    assert.equal(r.last.upstreamCalls, 1);
  });

  test('an unknown access key is refused as UnrecognizedClientException', async () => {
    const r = await describeWith([], { AWS_ACCESS_KEY_ID: 'AKIDUNKNOWN' });
    assert.equal(r.last.err, 'KG_ERR_UPSTREAM_REFUSED', r.stdout);
    assert.equal(r.last.errorType, 'UnrecognizedClientException');
  });

  test('a clock 10 minutes off: AWS refuses the signature, the client learns AWS\'s time from its Date and the same call succeeds signed again', async () => {
    await emu.setFaults({ clockSkewS: 600 });
    const r = await describeWith(['--attempts', '3']);
    assert.equal(r.last.err, 'KG_OK', r.stdout);
    assert.equal(r.last.upstreamCalls, 2);
    assert.equal(await emu.count('DescribeSignalingChannel', 'error'), 1);
    assert.equal(await emu.count('DescribeSignalingChannel', 'ok'), 1);
  });

  test('retries make 40 calls succeed through 30 % throttling, 5xx and resets', async () => {
    await faults({ throttleRate: 0.1, errorRate: 0.1, resetRate: 0.1 });
    const r = await drive(['--attempts', '8', 'repeat', '40', 'describe', name], envs);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.last.succeeded, 40);
    assert.ok(r.last.retries > 0, 'some calls were retried');
    assert.equal(await emu.count('DescribeSignalingChannel', 'ok'), 40);
    // libcurl re-sends once by itself when a reused keep-alive connection dies
    // before any answer byte (it cannot tell a reset from a stale connection),
    // so the emulator may see more calls than the client made, never more than
    // the resets it caused.
    const seen = await emu.count('DescribeSignalingChannel');
    const resets = await emu.count('DescribeSignalingChannel', 'reset');
    assert.ok(seen >= r.last.upstreamCalls && seen - r.last.upstreamCalls <= resets,
      `emulator saw ${seen}, client made ${r.last.upstreamCalls}, resets ${resets}`);
  });
});
