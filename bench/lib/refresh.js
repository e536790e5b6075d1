'use strict';
// The refresh-ahead run (bench/refresh.sh): kvsgate builds side by side
// against one local KVS emulator that adds BENCH_AWS_LATENCY_MS to every AWS
// call and hands out TURN credentials living BENCH_ICE_TTL_S. Every
// BENCH_CHANNELS channels are in use: each is asked for its viewer info once
// per BENCH_PERIOD_MS, alternately through each build (so both see the same
// load, the same machine and the same emulator). Reports, per build, after the
// warm-up: requests that waited for AWS (from kvsgate_aws_waits_total where the
// build has it, from the cache-miss counters otherwise, and from the client's
// clock: answers slower than the AWS latency), and the latency percentiles
// against those of the warm window (after the warm-up, before any TURN entry
// expires).
//
//   node bench/lib/refresh.js OUT.json LABEL=BINARY [LABEL=BINARY ...]
const fs = require('node:fs');
const http = require('node:http');
const { startEmulator } = require('../../tests/lib/emulator');
const { startKvsgate } = require('../../tests/lib/kvsgate');
const { mint } = require('../../tests/lib/tokens');

const num = (name, def) => Number(process.env[name] || def);
const DURATION_S = num('BENCH_REFRESH_S', 600);
const CHANNELS = num('BENCH_CHANNELS', 200);
const PERIOD_MS = num('BENCH_PERIOD_MS', 1000);
const LATENCY_MS = num('BENCH_AWS_LATENCY_MS', 50);
const ICE_TTL_S = num('BENCH_ICE_TTL_S', 300);
const WARMUP_S = num('BENCH_WARMUP_S', 30);
const WARM_WINDOW_S = num('BENCH_WARM_WINDOW_S', 120); // after the warm-up; TURN fresh for 270 s

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function get(base, path, token) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = http.get(base + path, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
    req.on('error', () => resolve({ status: 0, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
  });
}

async function metrics(base) {
  const text = await new Promise((resolve) => {
    http.get(base + '/metrics', { agent }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve(b));
    }).on('error', () => resolve(''));
  });
  const sum = (re) => text.split('\n').filter((l) => re.test(l))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return {
    waits: text.includes('kvsgate_aws_waits_total') ? sum(/^kvsgate_aws_waits_total\{/) : null,
    misses: sum(/^kvsgate_cache_requests_total\{.*result="(miss|joined|stale)"/),
    refreshes: sum(/^kvsgate_cache_refreshes_total\{.*outcome="ok"/),
  };
}

function pct(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summary(samples) {
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  const r = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
  return {
    requests: ms.length,
    p50_ms: r(pct(ms, 50)), p99_ms: r(pct(ms, 99)), p999_ms: r(pct(ms, 99.9)), max_ms: r(ms[ms.length - 1] ?? null),
    slower_than_aws: ms.filter((x) => x >= LATENCY_MS).length,
  };
}

async function main() {
  const [out, ...specs] = process.argv.slice(2);
  const builds = specs.map((s) => ({ label: s.slice(0, s.indexOf('=')), bin: s.slice(s.indexOf('=') + 1) }));
  const emu = await startEmulator({ iceTtl: ICE_TTL_S });
  const env = { KVSGATE_RATE_LIMIT_RPS: '0', KVSGATE_ACCESS_LOG: 'false', KVSGATE_LOG_LEVEL: 'info' };
  for (const b of builds) {
    b.gate = await startKvsgate({ emulator: emu, bin: b.bin, env });
    b.samples = [];
    b.errors = 0;
  }
  const token = await mint({ sub: 'bench', kvs: { manage: ['*'], viewer: ['*'] } }, { ttl: DURATION_S + 3600 });
  const names = Array.from({ length: CHANNELS }, (_, i) => `bench-refresh-${i}`);
  for (const n of names) {
    await new Promise((resolve) => {
      const req = http.request(builds[0].gate.url + `/v1/channels/${n}`, { method: 'PUT', agent, headers: { authorization: `Bearer ${token}` } }, (res) => { res.resume(); res.on('end', resolve); });
      req.end();
    });
  }
  await emu.setFaults({ latencyMs: LATENCY_MS });
  const start = Date.now();
  const marks = {};
  const mark = async (name) => {
    marks[name] = {};
    for (const b of builds) marks[name][b.label] = await metrics(b.gate.url);
  };
  let warmMarked = false, windowMarked = false;
  const gap = PERIOD_MS / CHANNELS;
  const pending = [];
  for (let i = 0; ; i++) {
    const t = (Date.now() - start) / 1000;
    if (t >= DURATION_S) break;
    if (!warmMarked && t >= WARMUP_S) { warmMarked = true; await mark('warm'); }
    if (!windowMarked && t >= WARMUP_S + WARM_WINDOW_S) { windowMarked = true; await mark('window'); }
    const b = builds[i % builds.length];
    const name = names[Math.floor(i / builds.length) % CHANNELS];
    pending.push(get(b.gate.url, `/v1/channels/${name}/viewer`, token).then((r) => {
      if (r.status !== 200) b.errors++;
      b.samples.push({ t, ms: r.ms });
    }));
    if (pending.length > 256) await Promise.all(pending.splice(0));
    const due = start + ((i + 1) * gap) / builds.length;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
  }
  await Promise.all(pending);
  await mark('end');
  const report = {
    settings: { DURATION_S, CHANNELS, PERIOD_MS, LATENCY_MS, ICE_TTL_S, WARMUP_S, WARM_WINDOW_S },
    builds: {},
  };
  for (const b of builds) {
    const after = b.samples.filter((s) => s.t >= WARMUP_S);
    const windowed = after.filter((s) => s.t < WARMUP_S + WARM_WINDOW_S);
    const w = marks.warm[b.label], e = marks.end[b.label];
    report.builds[b.label] = {
      bin: b.bin,
      errors: b.errors,
      waits_after_warmup: w.waits === null ? null : e.waits - w.waits,
      cache_misses_after_warmup: e.misses - w.misses,
      refreshes_after_warmup: e.refreshes - w.refreshes,
      after_warmup: summary(after),
      warm_window: summary(windowed),
    };
    await b.gate.stop();
  }
  await emu.stop();
  fs.writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  agent.destroy();
}

main().catch((e) => { console.error(e); process.exit(1); });
