#!/usr/bin/env node
'use strict';
// Turns OUT/raw.jsonl (written by bench/run.sh) into OUT/report.md, and the
// data files bench/plot.gp draws (OUT/throughput.dat, OUT/soak.dat).
//
//   node bench/lib/report.js OUT
const fs = require('node:fs');
const path = require('node:path');

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: report.js OUT\n');
  process.exit(2);
}
const recs = fs.readFileSync(path.join(out, 'raw.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const of = (kind) => recs.filter((r) => r.kind === kind);
const one = (kind) => of(kind)[0];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmtInt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
const ms = (us) => (Number.isFinite(us) ? (us / 1000).toFixed(us < 10000 ? 2 : 1) : '—');
const mb = (kb) => (Number.isFinite(kb) ? (kb / 1024).toFixed(1) : '—');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN);
const pct = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : '—');
const times = (x) => (Number.isFinite(x) ? `${x >= 100 ? Math.round(x) : x.toFixed(1)}×` : '—');
const loadRange = (rs) => {
  const ls = rs.flatMap((r) => [r.load_before, r.load_after]).filter(Boolean).map((l) => Number(String(l).split(' ')[0]));
  if (!ls.length) return '—';
  return `${Math.min(...ls).toFixed(2)}–${Math.max(...ls).toFixed(2)}`;
};

const machine = one('machine') || {};
const setup = one('setup') || {};
const wrk = of('wrk');
const conns = [...new Set(wrk.map((r) => r.conns))].sort((a, b) => a - b);
const algs = [...new Set(wrk.filter((r) => r.target === 'kvsgate').map((r) => r.alg))];

function point(target, alg, c) {
  const rs = wrk.filter((r) => r.target === target && (alg === '-' || r.alg === alg) && r.conns === c);
  if (!rs.length) return null;
  const rps = rs.map((r) => r.result.rps);
  return {
    runs: rs,
    rps: median(rps),
    rpsMin: Math.min(...rps),
    rpsMax: Math.max(...rps),
    p50: median(rs.map((r) => r.result.p50_us)),
    p99: median(rs.map((r) => r.result.p99_us)),
    p999: median(rs.map((r) => r.result.p999_us)),
    errors: rs.reduce((n, r) => n + r.result.errors_status + r.result.errors_connect + r.result.errors_read +
      r.result.errors_write + r.result.errors_timeout, 0),
    load: loadRange(rs),
  };
}

const L = [];
const line = (s = '') => L.push(s);
line(`# kvsgate benchmark — ${machine.started || ''}${machine.smoke ? ' (SMOKE RUN: numbers meaningless)' : ''}`);
line();
line('Produced by `make bench` (`bench/run.sh`); how to read it and the history are in `bench/README.md`. ' +
  'Every figure below comes from this run.');
line();
line('## Machine');
line();
line('| | |');
line('|---|---|');
line(`| cores (\`nproc\`) | ${machine.nproc} |`);
line(`| CPU | ${machine.cpu} |`);
line(`| memory | ${machine.memory} |`);
line(`| kernel, OS | ${machine.kernel}, ${machine.os} |`);
line(`| kvsgate revision | ${machine.revision} (Release build) |`);
line(`| tools | node ${machine.node}, wrk ${machine.wrk}, libmicrohttpd ${machine.mhd}, OpenSSL ${machine.openssl} |`);
line(`| load average (1, 5, 15 min) at start | ${machine.load_at_start} |`);
line();
line('The machine is shared and has 2 cores: wrk, the server under test, the KVS emulator (and for the ' +
  'baseline, Node.js) all run on them. Every throughput figure is the load of the whole setup on those cores, ' +
  'not of the server alone. The load average next to each figure is `/proc/loadavg` read just before and just ' +
  'after the runs it summarizes (it includes our own wrk and servers once they run).');
for (const n of of('note')) line(`\n**Note:** ${n.text}`);
line();

// ---- targets ----
const at = (t, a, c) => point(t, a, c);
const hs64 = at('kvsgate', 'HS256', 64), bare64 = at('bare', '-', 64), ex64 = at('express', '-', 64);
const memRec = of('rss').find((r) => r.phase === 'channels');
const soak = one('soak');
const soakSamples = of('soak_sample');
const soakKept = soak ? soakSamples.filter((s) => s.t_s >= soak.warmup_s) : [];
const soakFirst = soakKept.length ? soakKept[0].rss_kb : NaN;
const soakLast = soakKept.length ? soakKept[soakKept.length - 1].rss_kb : NaN;
const soakMax = soakKept.length ? Math.max(...soakKept.map((s) => s.rss_kb)) : NaN;
const worstP99 = algs.map((a) => at('kvsgate', a, 64)).filter(Boolean).reduce((m, p) => Math.max(m, p.p99), 0);
const exRatios = conns.map((c) => ratio(at('kvsgate', 'HS256', c)?.rps, at('express', '-', c)?.rps)).filter(Number.isFinite);
const bareRatios = conns.map((c) => ratio(at('kvsgate', 'HS256', c)?.rps, at('bare', '-', c)?.rps)).filter(Number.isFinite);
const met = (ok) => (ok ? '**met**' : '**not met**');

line('## Targets');
line();
line('| target | measured | |');
line('|---|---|---|');
if (hs64 && bare64) {
  const r = ratio(hs64.rps, bare64.rps);
  line(`| warm viewer-info throughput ≥ 70% of the bare libmicrohttpd server | HS256 at 64 connections: ${fmtInt(hs64.rps)} vs ${fmtInt(bare64.rps)} req/s = ${pct(r)} (all counts: ${bareRatios.map(pct).join(', ')}) | ${met(r >= 0.7)} |`);
}
if (hs64 && ex64) {
  const r = ratio(hs64.rps, ex64.rps);
  line(`| ≥ 20× the Node.js/Express baseline | HS256 at 64 connections: ${times(r)} (all counts: ${exRatios.map(times).join(', ')}) | ${met(Math.min(...exRatios) >= 20)} |`);
}
if (algs.length && at('kvsgate', algs[0], 64)) {
  line(`| p99 < 5 ms at 64 connections (wrk on the same 2 cores) | ${algs.map((a) => `${a} ${ms(at('kvsgate', a, 64)?.p99)} ms`).join(', ')} | ${met(worstP99 < 5000)} |`);
}
if (memRec) line(`| RSS < 64 MB with ${fmtInt(memRec.channels)} channels cached | ${mb(memRec.rss_kb)} MB | ${met(memRec.rss_kb < 64 * 1024)} |`);
if (soak) line(`| RSS does not grow in a ${soak.duration_s / 60}-minute soak | first ${mb(soakFirst)}, last ${mb(soakLast)}, max ${mb(soakMax)} MB (after ${soak.warmup_s} s) | ${met(soakLast <= soakFirst * 1.02 + 1024)} |`);
line();

// ---- warm path ----
line('## Warm path: viewer info, keep-alive');
line();
line(`\`GET /v1/channels/{bench-w-0..${(setup.warm_channels || 16) - 1}}/viewer\` with a bearer token; ` +
  `${setup.subjects} distinct subjects per algorithm (tokens rotate per request), ` +
  `${setup.warm_channels} channels, every cache warm (token cache included: a token is verified in full once a minute). ` +
  `${setup.duration_s} s per run, ${setup.repeat} runs per point interleaved (bare, kvsgate HS256/RS256/ES256, Express), ` +
  'medians shown (req/s: median and [min–max]). Latency: wrk\'s p50/p99 and p99.9 from a Lua `done()`; ' +
  'wrk measures from send to the last byte, closed loop. `errors` counts non-2xx answers, timeouts and socket errors.');
line();
line(`Bare server: \`bench_bare_mhd\`, libmicrohttpd with kvsgate\'s threading (epoll, a pool of ${setup.threads} threads, suspend/resume allowed) answering a fixed ${setup.body_bytes}-byte JSON body (the size of a viewer-info answer). ` +
  'Express: `bench/baseline-express/` (Describe + GetSignalingChannelEndpoint + GetIceServerConfig + the official signer on every request, no auth, one Node process) against the same emulator.');
line();
line('| connections | server | req/s | p50 ms | p99 ms | p99.9 ms | vs bare | vs Express | errors | load during |');
line('|---|---|---|---|---|---|---|---|---|---|');
for (const c of conns) {
  const bare = at('bare', '-', c), ex = at('express', '-', c);
  const rows = [['bare libmicrohttpd', bare], ...algs.map((a) => [`kvsgate ${a}`, at('kvsgate', a, c)]), ['Express baseline', ex]];
  for (const [name, p] of rows) {
    if (!p) continue;
    const isGate = name.startsWith('kvsgate');
    line(`| ${c} | ${name} | ${fmtInt(p.rps)} [${fmtInt(p.rpsMin)}–${fmtInt(p.rpsMax)}] | ${ms(p.p50)} | ${ms(p.p99)} | ${ms(p.p999)} | ` +
      `${isGate ? pct(ratio(p.rps, bare?.rps)) : ''} | ${isGate ? times(ratio(p.rps, ex?.rps)) : ''} | ${p.errors} | ${p.load} |`);
  }
}
line();
line('![throughput and soak](bench.png)');
line();

// ---- cold path ----
const cold = of('cold');
if (cold.length) {
  const c0 = cold[0];
  line('## Cold path: first requests for distinct channels');
  line();
  line(`${c0.channels} channels created beforehand, each asked for once (64 at a time) right after kvsgate started (empty caches), ` +
    `with the emulator delaying every AWS call by ${c0.latency_ms} ms (\`latencyMs\` fault knob). Upstream calls come from the emulator\'s counters. ` +
    '"kvsgate, again" asks for the same channels once more (all cached); the Express baseline has no cache.');
  line();
  line('| run | req/s | p50 ms | p99 ms | upstream calls per request | of which | statuses | load during |');
  line('|---|---|---|---|---|---|---|---|');
  for (const r of cold) {
    const ops = r.counters.operations || {};
    const total = Object.values(ops).reduce((n, o) => n + (o.total || 0), 0);
    const parts = Object.entries(ops).filter(([, o]) => o.total).map(([k, o]) => `${k} ${(o.total / r.channels).toFixed(2)}`).join(', ');
    const name = { kvsgate: 'kvsgate, first requests', 'kvsgate-again': 'kvsgate, again', express: 'Express baseline' }[r.target] || r.target;
    line(`| ${name} | ${fmtInt(r.result.rps)} | ${r.result.p50_ms.toFixed(1)} | ${r.result.p99_ms.toFixed(1)} | ${(total / r.channels).toFixed(2)} | ${parts || '—'} | ${JSON.stringify(r.result.statuses)} | ${r.load_before} → ${r.load_after} |`);
  }
  line();
}

// ---- memory ----
const rss = of('rss');
if (rss.length) {
  line('## Memory (kvsgate RSS)');
  line();
  line('| when | RSS MB | peak (VmHWM) MB | |');
  line('|---|---|---|---|');
  for (const r of rss) {
    if (r.phase === 'idle') line(`| just started, no request yet | ${mb(r.rss_kb)} | ${mb(r.hwm_kb)} | load ${r.load} |`);
    if (r.phase === 'channels') {
      const caches = Object.entries(r.caches || {}).map(([k, v]) => `${k} ${v}`).join(', ');
      line(`| ${fmtInt(r.channels)} channels cached (each channel's viewer info asked once; cache entries: ${caches}) | ${mb(r.rss_kb)} | ${mb(r.hwm_kb)} | load ${r.load} |`);
    }
    if (r.phase === 'load') line(`| under load (max of 1 s samples during the warm-path runs, ${fmtInt(memRec?.channels)} channels cached) | ${mb(r.rss_kb)} | | |`);
  }
  line();
}

// ---- soak ----
if (soak) {
  const kept = soakKept.map((s) => s.rss_kb);
  const n = soakKept.length;
  let slope = NaN;
  if (n >= 2) {
    const xs = soakKept.map((s) => s.t_s), mx = xs.reduce((a, b) => a + b) / n, my = kept.reduce((a, b) => a + b) / n;
    slope = xs.reduce((a, x, i) => a + (x - mx) * (kept[i] - my), 0) / xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  }
  line(`## Soak: ${soak.duration_s / 60} minutes at 64 connections`);
  line();
  line(`HS256, RS256 and ES256 tokens mixed (${3 * (setup.subjects || 0)} tokens), the warm channels, on the kvsgate process that also holds the ${fmtInt(memRec?.channels)} cached channels. RSS every ${soak.sample_s} s; the first ${soak.warmup_s} s are warm-up.`);
  line();
  line('| req/s | p50 ms | p99 ms | p99.9 ms | errors | RSS first / last / max (MB) | trend | load |');
  line('|---|---|---|---|---|---|---|---|');
  const sr = soak.result;
  line(`| ${fmtInt(sr.rps)} | ${ms(sr.p50_us)} | ${ms(sr.p99_us)} | ${ms(sr.p999_us)} | ${sr.errors_status + sr.errors_timeout + sr.errors_connect + sr.errors_read + sr.errors_write} | ${mb(soakFirst)} / ${mb(soakLast)} / ${mb(soakMax)} | ${Number.isFinite(slope) ? `${(slope * 60).toFixed(1)} KB/min` : '—'} | ${soak.load_before} → ${soak.load_after} |`);
  line();
}

// ---- callgrind ----
const cg = of('callgrind');
if (cg.length) {
  line('## Instructions per warm request (callgrind)');
  line();
  line('The whole kvsgate process under callgrind (MHD\'s epoll loop, kvsgate, the libraries, idle background threads), ' +
    'counters zeroed after a warm-up, then a fixed number of viewer-info requests one at a time on one keep-alive connection (`bench_drive`). ' +
    'Instruction counts do not depend on the machine\'s load. The bare server needs about 61,000 per request, ' +
    '48,800 of them MHD zeroing its 32 KiB connection pool (`bench/README.md`).');
  line();
  const before = cg.filter((r) => r.build === 'before'), after = cg.filter((r) => r.build === 'this');
  line(`| token | ${before.length ? `before (${before[0].revision}) | ` : ''}this build (${after[0]?.revision}) | ${before.length ? 'change |' : ''}`);
  line(`|---|${before.length ? '---|' : ''}---|${before.length ? '---|' : ''}`);
  for (const a of after) {
    const b = before.find((x) => x.alg === a.alg);
    line(`| ${a.alg} | ${b ? `${fmtInt(b.ir_per_request)} | ` : ''}${fmtInt(a.ir_per_request)} | ${b ? `${(100 * (a.ir_per_request / b.ir_per_request - 1)).toFixed(0)}% |` : ''}`);
  }
  line();
  line('Top functions per request: `callgrind/callgrind-<alg>.txt`.');
  line();
}

// ---- how ----
line('## How each figure was produced');
line();
line('- kvsgate: `build-release/kvsgate serve` with `KVSGATE_RATE_LIMIT_RPS=0` (the per-subject rate limit is off: a load test measures the service, not the limiter), ' +
  'HS256 secret and RS256 + ES256 PEM keys (`KVSGATE_JWT_PUBLIC_KEY_FILE`), the emulator as KVS and STS; everything else default: ' +
  `${setup.threads} HTTP threads, access log on (one JSON line and one write(2) per request, to a closed pipe), log level info, caches default.`);
line('- Tokens: minted with jose (`bench/lib/bench.js tokens`), 1 h+ TTL, subjects `bench-user-N`, grants `{"viewer":["bench-*"], ...}`; ' +
  `sizes ${Object.entries(setup.token_bytes || {}).map(([k, v]) => `${k} ${v.bytes} B`).join(', ')}.`);
const cmdOf = (t, a) => wrk.find((r) => r.target === t && (a === '-' || r.alg === a))?.cmd;
for (const [t, a] of [['kvsgate', 'HS256'], ['bare', '-'], ['express', '-']]) if (cmdOf(t, a)) line(`- ${t}: \`${cmdOf(t, a)}\``);
if (cold.length) line(`- cold path: \`${cold[0].cmd}\` after \`PUT /_emulator/faults {"latencyMs":${cold[0].latency_ms}}\`; counters from \`GET /_emulator/counters\``);
if (soak) line(`- soak: \`${soak.cmd}\`, RSS from \`/proc/PID/status\` (VmRSS)`);
line('- callgrind: `bench/callgrind.sh` (valgrind --tool=callgrind, `callgrind_control -z` after warm-up, `-d` after the measured requests)');
line('- raw records of every run: `raw.jsonl`');
fs.writeFileSync(path.join(out, 'report.md'), L.join('\n') + '\n');

// ---- plot data ----
const series = [['bare', '-'], ...algs.map((a) => ['kvsgate', a]), ['express', '-']];
const td = ['conns ' + series.map(([t, a]) => (a === '-' ? t : `${t}-${a}`)).join(' ')];
for (const c of conns) td.push([c, ...series.map(([t, a]) => { const p = at(t, a, c); return p ? p.rps.toFixed(1) : 'NaN'; })].join(' '));
fs.writeFileSync(path.join(out, 'throughput.dat'), td.join('\n') + '\n');
fs.writeFileSync(path.join(out, 'soak.dat'), ['t_s rss_mb', ...soakSamples.map((s) => `${s.t_s} ${(s.rss_kb / 1024).toFixed(2)}`)].join('\n') + '\n');
