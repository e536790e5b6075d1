'use strict';
// Starts the real kvsgate binary for a test and collects its JSON log lines.
//
//   const gate = await startKvsgate({ emulator: emu, env: { KVSGATE_CORS_ORIGINS: '...' } });
//   gate.url, gate.logs (parsed lines), gate.stderr(), await gate.stop()
//
// Under a sanitizer or valgrind (tests/lib/sanitizers.js) the child gets the
// sanitizer options, runs behind KVSGATE_TEST_WRAPPER, and stop() fails the
// test file (exit code 1, the report on stderr) when its stderr holds a
// sanitizer or valgrind report (a leak at exit included), so every test that
// starts kvsgate is also a memory-error check.
const { spawn } = require('node:child_process');
const readline = require('node:readline');
const env = require('./env');
const sanitizers = require('./sanitizers');

const DEV_SECRET = 'kvsgate-test-secret-0123456789abcdef-0123456789';

function baseEnv(emulator) {
  const e = {
    PATH: process.env.PATH,
    AWS_REGION: emulator ? emulator.region : 'us-west-2',
    KVSGATE_LISTEN: '127.0.0.1:0',
    KVSGATE_JWT_HS256_SECRET: DEV_SECRET,
    KVSGATE_LOG_LEVEL: 'debug',
    // Tests read log lines right after the answers they follow; the gathered
    // output of the default (100 ms) has its own test (integration.metrics).
    KVSGATE_LOG_FLUSH_MS: '0',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...sanitizers.passEnv(),
  };
  if (emulator) {
    e.KVSGATE_KVS_ENDPOINT = emulator.url;
    e.KVSGATE_STS_ENDPOINT = emulator.url;
    e.AWS_ACCESS_KEY_ID = 'AKIDLOCAL';
    e.AWS_SECRET_ACCESS_KEY = 'SECRETLOCAL';
  }
  return e;
}

async function startKvsgate(options = {}) {
  const childEnv = { ...baseEnv(options.emulator), ...(options.env || {}) };
  for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
  const [cmd, cmdArgs] = sanitizers.wrap(options.bin || env.bin, options.args || ['serve']);
  const child = spawn(cmd, cmdArgs, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs = [];
  const raw = [];
  const stdout = [];
  child.stdout.on('data', (d) => stdout.push(d));
  const lines = readline.createInterface({ input: child.stderr });
  let onLine = null;
  lines.on('line', (line) => {
    raw.push(line);
    let parsed = null;
    try { parsed = JSON.parse(line); } catch { parsed = { unparsed: line }; }
    logs.push(parsed);
    if (onLine) onLine(parsed);
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  // A report fails the test file; at stop() it does so without throwing, so
  // that the caller's teardown (the emulator's stop) still runs.
  const checkReport = ({ throwIt = true } = {}) => {
    const report = sanitizers.findReport(raw.join('\n'));
    if (!report) return;
    const msg = `kvsgate reported a memory or threading error:\n${report}`;
    if (throwIt) throw new Error(msg);
    console.error(msg);
    process.exitCode = 1;
  };

  if (options.expectExit) {
    const result = await exited;
    await new Promise((r) => (lines.closed ? r() : lines.once('close', r)));
    checkReport();
    return { ...result, logs, stderr: () => raw.join('\n'), stdout: () => Buffer.concat(stdout).toString() };
  }

  const startMs = 10000 * sanitizers.slow();
  const listening = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kvsgate did not start in ${startMs / 1000} s:\n` + raw.join('\n'))), startMs);
    onLine = (l) => {
      if (l.event === 'listening') {
        clearTimeout(timer);
        resolve(l);
      }
    };
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`kvsgate exited (${code ?? signal}) before listening:\n${raw.join('\n')}`));
    });
  });
  onLine = null;
  const url = `http://127.0.0.1:${listening.port}`;
  return {
    url,
    port: listening.port,
    process: child,
    logs,
    env: childEnv,
    stderr: () => raw.join('\n'),
    exited,
    // Waits until a log line matches (or throws after timeoutMs).
    waitForLog: (pred, timeoutMs = 5000) => new Promise((resolve, reject) => {
      const hit = logs.find(pred);
      if (hit) return resolve(hit);
      const timer = setTimeout(() => reject(new Error('no matching log line')), timeoutMs);
      onLine = (l) => { if (pred(l)) { clearTimeout(timer); onLine = null; resolve(l); } };
    }),
    stop: async (signal = 'SIGTERM', timeoutMs = 10000) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        const r = await exited;
        await new Promise((res) => (lines.closed ? res() : lines.once('close', res)));
        checkReport({ throwIt: false });
        return r;
      }
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs * sanitizers.slow());
      const r = await exited;
      clearTimeout(t);
      await new Promise((res) => (lines.closed ? res() : lines.once('close', res)));
      checkReport({ throwIt: false });
      return r;
    },
  };
}

module.exports = { startKvsgate, DEV_SECRET, baseEnv };
