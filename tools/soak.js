'use strict';
// The soak test (tools/soak.sh runs it; see docs/robustness.md): kvsgate and
// the local KVS emulator under mixed load for a long time while the emulator's
// fault profile changes every minute, sampling kvsgate's RSS and open file
// descriptors every 10 s into a CSV. Fails (exit 1) when, after the warm-up,
// RSS or the descriptors grow past a tolerance, when kvsgate dies, or when
// /healthz stops answering.
//
//   node tools/soak.js --minutes 30 --bin build/kvsgate --out soak.csv
//        [--concurrency 16] [--sample-s 10] [--warmup-min 5]
//        [--rss-tolerance-kb 16384] [--fd-tolerance 16]
const fs = require('node:fs');
const path = require('node:path');

process.env.KVSGATE_SOURCE_DIR = process.env.KVSGATE_SOURCE_DIR || path.resolve(__dirname, '..');
const { startEmulator } = require('../tests/lib/emulator');
const { startKvsgate } = require('../tests/lib/kvsgate');
const { mint } = require('../tests/lib/tokens');
const { exchange, request, procStats } = require('../tests/hostile/helpers');

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
const MINUTES = Number(arg('minutes', 30));
const BIN = path.resolve(arg('bin', 'build/kvsgate'));
const OUT = arg('out', 'soak.csv');
const CONCURRENCY = Number(arg('concurrency', 16));
const SAMPLE_S = Number(arg('sample-s', 10));
const WARMUP_MIN = Number(arg('warmup-min', Math.min(5, MINUTES / 5)));
const RSS_TOL_KB = Number(arg('rss-tolerance-kb', 16384));
const FD_TOL = Number(arg('fd-tolerance', 16));

// One profile per minute, in a cycle.
const PROFILES = [
  ['calm', {}],
  ['throttle-30%', { throttleRate: 0.3 }],
  ['5xx-30%+resets-20%', { errorRate: 0.3, resetRate: 0.2 }],
  ['latency-150ms', { latencyMs: 150 }],
  ['garbage-20%', { garbageRate: 0.2 }],
  ['truncate-20%', { truncateRate: 0.2 }],
  ['ice-stall', { stallMs: 10000, operations: ['GetIceServerConfig'] }],
  ['ice-ttl-35s', { iceTtl: 35 }],
  ['describe-down', { errorRate: 1, operations: ['DescribeSignalingChannel'] }],
];
const CLEAR = { throttleRate: 0, errorRate: 0, resetRate: 0, latencyMs: 0, garbageRate: 0, truncateRate: 0,
  stallMs: 0, operations: null, iceTtl: null };

const HOSTILE = [
  'GET /healthz HTTP/1.1\r\n\r\n',
  'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
  'PUT /v1/channels/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40000)}\r\n\r\n`,
  'GET /v1/channels/%2e%2e/viewer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a.b.c\r\n\r\n',
  'GET /v1/channels/cam-0%00/viewer HTTP/1.1\r\nHost: x\r\n\r\n',
  'GARBAGE\r\n\r\n',
  'PUT /v1/channels/x HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n',
];

async function main() {
  const emu = await startEmulator();
  const gate = await startKvsgate({
    bin: BIN,
    emulator: emu,
    env: { KVSGATE_LOG_LEVEL: 'info', KVSGATE_ACCESS_LOG: 'false', KVSGATE_CONNECTION_TIMEOUT_S: '5',
      KVSGATE_REQUEST_DEADLINE_MS: '2000', KVSGATE_AWS_CALL_TIMEOUT_MS: '800', KVSGATE_UPSTREAM_WORKERS: '16',
      KVSGATE_RATE_LIMIT_RPS: '50', KVSGATE_RATE_LIMIT_BURST: '100',
      // The soak sends forged and expired tokens on purpose, from one address.
      KVSGATE_AUTH_FAILURE_RPS: '0' },
  });
  const pid = gate.process.pid;
  const base = gate.url;
  const subjects = await Promise.all(Array.from({ length: 40 }, (_, i) =>
    mint({ sub: `soak-${i}`, kvs: { manage: ['cam-*'], master: ['cam-*'], viewer: ['cam-*'] } }, { ttl: MINUTES * 60 + 3600 })));
  const bad = [await mint({ sub: 'x' }, { ttl: -100 }), 'a.b.c', `${subjects[0]}x`];
  for (let i = 0; i < 50; i++) {
    const r = await fetch(`${base}/v1/channels/cam-${i}`, { method: 'PUT', headers: { authorization: `Bearer ${subjects[0]}` } });
    await r.text();
  }

  const counts = { total: 0, s2xx: 0, s4xx: 0, s429: 0, s5xx: 0, failed: 0 };
  const end = Date.now() + MINUTES * 60 * 1000;
  let stop = false;
  const pick = (a) => a[Math.floor(Math.random() * a.length)];

  async function one() {
    const tok = pick(subjects);
    const ch = `cam-${Math.floor(Math.random() * 60)}`; // some do not exist
    const x = Math.random();
    let method = 'GET', p, headers = { authorization: `Bearer ${tok}` }, body;
    if (x < 0.55) p = `/v1/channels/${ch}/viewer`;
    else if (x < 0.65) p = `/v1/channels/${ch}/master`;
    else if (x < 0.72) p = `/v1/channels/${ch}`;
    else if (x < 0.76) p = `/v1/channels?prefix=cam-1&limit=5`;
    else if (x < 0.80) { method = 'PUT'; p = `/v1/channels/cam-churn-${Math.floor(Math.random() * 40)}`; body = '{"messageTtlSeconds":30,"tags":{"k":"v"}}'; headers['content-type'] = 'application/json'; }
    else if (x < 0.84) { method = 'DELETE'; p = `/v1/channels/cam-churn-${Math.floor(Math.random() * 40)}`; }
    else if (x < 0.90) { p = `/v1/channels/${ch}/viewer`; headers = { authorization: `Bearer ${pick(bad)}` }; }
    else if (x < 0.94) p = Math.random() < 0.5 ? '/healthz' : '/readyz';
    else if (x < 0.95) p = '/metrics';
    else {
      const r = await exchange(gate.port, pick(HOSTILE), { timeoutMs: 10000 });
      counts.total++;
      if (r.res && r.res.status >= 500) counts.s5xx++;
      else if (r.res && r.res.status >= 400) counts.s4xx++;
      return;
    }
    try {
      const r = await fetch(base + p, { method, headers, body, signal: AbortSignal.timeout(10000) });
      await r.arrayBuffer();
      counts.total++;
      if (r.status < 300) counts.s2xx++;
      else if (r.status === 429) counts.s429++;
      else if (r.status < 500) counts.s4xx++;
      else counts.s5xx++;
    } catch {
      counts.failed++;
    }
  }

  async function worker() {
    while (!stop && Date.now() < end) await one();
  }

  const rows = [];
  const csv = fs.createWriteStream(OUT);
  csv.write('t_s,profile,rss_kb,fds,client_fds,worker_fds,requests,rps,s2xx,s4xx,s429,s5xx,failed\n');
  const t0 = Date.now();
  let profile = 'calm';
  let lastTotal = 0;
  let healthFailures = 0;
  const sampler = setInterval(async () => {
    if (gate.process.exitCode !== null) return;
    let s;
    try { s = procStats(pid, gate.port); } catch { return; }
    const t = Math.round((Date.now() - t0) / 1000);
    const rps = Math.round((counts.total - lastTotal) / SAMPLE_S);
    lastTotal = counts.total;
    const row = { t, profile, rss: s.rssKb, fds: s.fds, own: s.own, worker: s.worker, ...counts, rps };
    rows.push(row);
    csv.write(`${t},${profile},${s.rssKb},${s.fds},${s.own},${s.worker},${counts.total},${rps},${counts.s2xx},${counts.s4xx},${counts.s429},${counts.s5xx},${counts.failed}\n`);
    const h = await exchange(gate.port, request('GET', '/healthz'), { timeoutMs: 5000 });
    if (!h.res || h.res.status !== 200) healthFailures++;
    process.stdout.write(`soak t=${t}s ${profile} rss=${s.rssKb}kB fds=${s.fds} (client ${s.own}) rps=${rps} 5xx=${counts.s5xx}\n`);
  }, SAMPLE_S * 1000);
  let pi = 0;
  const toggler = setInterval(async () => {
    pi = (pi + 1) % PROFILES.length;
    const [name, knobs] = PROFILES[pi];
    try {
      await emu.setFaults({ ...CLEAR, ...knobs });
      profile = name;
    } catch (e) { process.stdout.write(`fault toggle failed: ${e.message}\n`); }
  }, 60 * 1000);

  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  stop = true;
  clearInterval(toggler);
  await emu.setFaults(CLEAR);
  // A quiet minute at the end: connections close, caches settle.
  profile = 'quiet';
  await new Promise((r) => setTimeout(r, Math.min(60, MINUTES * 6) * 1000));
  clearInterval(sampler);
  csv.end();
  const alive = gate.process.exitCode === null;
  const stopped = await gate.stop();
  await emu.stop();

  // Verdict: after the warm-up, the largest value vs the value at its end.
  const warm = rows.filter((r) => r.t >= WARMUP_MIN * 60);
  const w0 = warm[0] || rows[rows.length - 1];
  const maxRss = Math.max(...warm.map((r) => r.rss));
  const maxOwn = Math.max(...warm.map((r) => r.own));
  const maxFds = Math.max(...warm.map((r) => r.fds));
  const last = rows[rows.length - 1];
  // Least-squares slope of RSS after the warm-up, kB per hour.
  const n = warm.length;
  const mt = warm.reduce((a, r) => a + r.t, 0) / n, mr = warm.reduce((a, r) => a + r.rss, 0) / n;
  const slope = warm.reduce((a, r) => a + (r.t - mt) * (r.rss - mr), 0) / (warm.reduce((a, r) => a + (r.t - mt) ** 2, 0) || 1) * 3600;
  const summary = {
    minutes: MINUTES, requests: counts.total, ...counts,
    rss_kb: { start: rows[0].rss, after_warmup: w0.rss, max: Math.max(...rows.map((r) => r.rss)), max_after_warmup: maxRss, end: last.rss, slope_kb_per_hour: Math.round(slope) },
    fds: { start: rows[0].fds, after_warmup: w0.fds, max: Math.max(...rows.map((r) => r.fds)), max_after_warmup: maxFds, end: last.fds },
    client_fds: { after_warmup: w0.own, max_after_warmup: maxOwn, end: last.own },
    health_failures: healthFailures, exit: stopped,
  };
  const problems = [];
  if (!alive) problems.push('kvsgate died');
  if (healthFailures) problems.push(`${healthFailures} healthz samples failed`);
  if (maxRss - w0.rss > RSS_TOL_KB) problems.push(`RSS grew ${maxRss - w0.rss} kB after the warm-up (tolerance ${RSS_TOL_KB})`);
  if (last.own - w0.own > FD_TOL) problems.push(`client descriptors grew ${w0.own} -> ${last.own}`);
  if (maxFds - w0.fds > FD_TOL + 3 * 16) problems.push(`descriptors grew ${w0.fds} -> ${maxFds}`);
  if (stopped.code !== 0) problems.push(`kvsgate exited with ${stopped.code ?? stopped.signal}`);
  console.log(JSON.stringify(summary, null, 1));
  fs.writeFileSync(OUT.replace(/\.csv$/, '') + '.summary.json', JSON.stringify({ ...summary, problems }, null, 1));
  if (problems.length) {
    console.log(`soak: FAILED: ${problems.join('; ')}`);
    process.exit(1);
  }
  console.log(`soak: ok (${OUT})`);
}

main().catch((e) => { console.error(e); process.exit(1); });
