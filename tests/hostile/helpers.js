'use strict';
// Shared by tests/hostile/*.test.js: the real kvsgate and the emulator, a raw
// HTTP/1.1 client on plain sockets (fetch would normalize the very bytes these
// tests are about), the checks every answer must pass, and the bookkeeping that
// proves the service survived: healthz after each group, RSS and open file
// descriptors from /proc before and after, and no secret in any answer or log.
//
//   const h = await hostile.start({ env: {...} });   // emulator + kvsgate
//   const res = await h.send('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
//   h.problem(res, 400, 'bad_request');             // the problem+json contract
//   await h.healthy();                               // still up
//   await h.finish();                                // flat memory, no secrets, stop
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const Ajv2020 = require('ajv/dist/2020');
const addFormats = require('ajv-formats');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate, DEV_SECRET } = require('../lib/kvsgate');
const { mint } = require('../lib/tokens');
const openapi = require('../lib/openapi');
const env = require('../lib/env');
const sanitizers = require('../lib/sanitizers');

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: 'openapi.yaml', components: openapi.spec.components });
const validateProblem = ajv.compile({ $ref: 'openapi.yaml#/components/schemas/Problem' });

const STATIC_SECRET = 'SECRETLOCAL';

// Parses one HTTP/1.1 response from buf. Returns null while incomplete.
function parseResponse(buf, { head = false } = {}) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0]);
  if (!m) return { status: 0, statusLine: lines[0], headers: {}, body: buf.subarray(end + 4), text: '' };
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  const len = headers['content-length'] !== undefined ? Number(headers['content-length']) : null;
  const body = buf.subarray(end + 4);
  if (!head && len !== null && body.length < len) return null;
  const b = len === null || head ? body : body.subarray(0, len);
  return { status: Number(m[1]), statusLine: lines[0], headers, body: b, text: b.toString('utf8') };
}

// Writes the parts (strings are latin1 bytes, Buffers as they are) with gapMs
// between them, then reads one response. Resolves {res (null when the server
// closed without an answer), closed, raw, error}. Never rejects: a reset or a
// timeout is a result the test judges.
function exchange(port, parts, { gapMs = 0, timeoutMs = 8000, head = false, waitClose = false } = {}) {
  return new Promise((resolve) => {
    const chunks = [];
    let done = false;
    let res = null;
    const sock = net.connect(port, '127.0.0.1');
    const finish = (extra) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const raw = Buffer.concat(chunks);
      resolve({ res: res || parseResponse(raw, { head }), raw, ...extra });
    };
    const timer = setTimeout(() => finish({ closed: false, timedOut: true }), timeoutMs * sanitizers.slow());
    sock.on('data', (d) => {
      chunks.push(d);
      res = parseResponse(Buffer.concat(chunks), { head });
      if (res && !waitClose) finish({ closed: false });
    });
    sock.on('end', () => finish({ closed: true }));
    sock.on('close', () => finish({ closed: true }));
    sock.on('error', (e) => finish({ closed: true, error: e.code || String(e) }));
    sock.once('connect', async () => {
      const list = Array.isArray(parts) ? parts : [parts];
      for (let i = 0; i < list.length && !done; i++) {
        if (i && gapMs) await new Promise((r) => setTimeout(r, gapMs));
        if (done || sock.destroyed) break;
        const p = list[i];
        sock.write(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
      }
    });
  });
}

// A request from parts: method, target (raw bytes, sent as they are), headers
// ({name: value} or [[name, value]]), body. Host and Connection: close are added
// unless given (pass null to leave one out).
function request(method, target, headers = {}, body = null) {
  const list = Array.isArray(headers) ? headers : Object.entries(headers);
  const names = list.map(([k]) => k.toLowerCase());
  const all = [...list];
  if (!names.includes('host')) all.unshift(['Host', '127.0.0.1']);
  if (!names.includes('connection')) all.push(['Connection', 'close']);
  if (body !== null && !names.includes('content-length') && !names.includes('transfer-encoding'))
    all.push(['Content-Length', String(Buffer.byteLength(body))]);
  let head = `${method} ${target} HTTP/1.1\r\n`;
  for (const [k, v] of all) if (v !== null) head += `${k}: ${v}\r\n`;
  head += '\r\n';
  const h = Buffer.from(head, 'latin1');
  return body === null ? h : Buffer.concat([h, Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')]);
}

// RSS and open descriptors of a process, split in two:
//   own     descriptors that serve clients: files, pipes, the listening socket
//           and accepted connections (TCP sockets whose local port is
//           listenPort). These must come back to the baseline.
//   worker  everything else: each AWS worker thread keeps a libcurl handle with
//           its wakeup socketpair and a pooled connection to AWS (here the
//           emulator). Bounded by the worker count, never a leak by itself.
function procStats(pid, listenPort) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  const links = [];
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try { links.push(fs.readlinkSync(`/proc/${pid}/fd/${fd}`)); } catch { /* closed meanwhile */ }
  }
  const localPort = new Map();
  for (const f of ['tcp', 'tcp6']) {
    let text = '';
    try { text = fs.readFileSync(`/proc/${pid}/net/${f}`, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      localPort.set(cols[9], parseInt(cols[1].split(':')[1], 16));
    }
  }
  let own = 0;
  for (const l of links) {
    const m = /^socket:\[(\d+)\]$/.exec(l);
    if (!m || localPort.get(m[1]) === listenPort) own++;
  }
  return { rssKb, fds: links.length, own, worker: links.length - own };
}

const counts = {};

async function start({ env: extraEnv = {}, emulator = true, emuOptions = {} } = {}) {
  const emu = emulator ? await startEmulator(emuOptions) : null;
  const gate = await startKvsgate({
    emulator: emu,
    env: {
      KVSGATE_RATE_LIMIT_RPS: '0',
      // The suites send hundreds of forged tokens from one address to test the
      // verifier; the failure budget has its own test (integration/trust).
      KVSGATE_AUTH_FAILURE_RPS: '0',
      KVSGATE_LOG_LEVEL: 'info',
      KVSGATE_CONNECTION_TIMEOUT_S: '2',
      KVSGATE_UPSTREAM_WORKERS: '8',
      ...extraEnv,
    },
  });
  const sentTokens = new Set();
  let baseline = null;
  const admin = await mint({ sub: 'admin', kvs: { manage: ['*'], master: ['*'], viewer: ['*'] } }, { ttl: 3600 });
  sentTokens.add(admin);

  const h = {
    emu,
    gate,
    admin,
    port: gate.port,
    pid: gate.process.pid,
    sentTokens,
    // Raw exchange with the gate.
    send: (parts, opts) => exchange(gate.port, parts, opts),
    request,
    // Counts a hostile request under a category (the suite's report).
    count(category, n = 1) { counts[category] = (counts[category] || 0) + n; },
    // The answer is a problem+json document with this status (and code).
    problem(r, status, code) {
      const res = r && r.res !== undefined ? r.res : r;
      assert.ok(res, `no HTTP answer (closed=${r && r.closed}, error=${r && r.error})`);
      assert.equal(res.status, status, `${res.statusLine}\n${res.text.slice(0, 400)}`);
      assert.match(res.headers['content-type'] || '', /^application\/problem\+json/, res.text.slice(0, 200));
      const body = JSON.parse(res.text);
      assert.ok(validateProblem(body), ajv.errorsText(validateProblem.errors) + '\n' + res.text);
      assert.equal(body.status, status);
      if (code) assert.equal(body.code, code, res.text);
      assert.ok(res.headers['x-request-id'], 'X-Request-Id');
      assert.equal(body.requestId, res.headers['x-request-id']);
      h.noSecrets(res.text + JSON.stringify(res.headers));
      return body;
    },
    // Any HTTP answer that is an error is problem+json; a success is JSON.
    wellFormed(r) {
      const res = r.res;
      assert.ok(res && res.status >= 200, `no HTTP answer (closed=${r.closed}, error=${r.error})`);
      if (res.status >= 400) return h.problem(res, res.status);
      h.noSecrets(res.text);
      return res.text ? JSON.parse(res.text) : null;
    },
    // No secret and no token we sent (the long ones: a 3-byte "token" is not
    // a secret and occurs anywhere) in text.
    noSecrets(text) {
      for (const s of [DEV_SECRET, STATIC_SECRET, ...sentTokens]) {
        if (s.length < 24) continue;
        assert.ok(!text.includes(s), `a secret reached an answer or a log line: ${s.slice(0, 12)}...`);
      }
    },
    async healthy() {
      const r = await exchange(gate.port, request('GET', '/healthz'));
      assert.ok(r.res, `healthz: no answer (${r.error || 'closed'})`);
      assert.equal(r.res.status, 200, r.res.text);
      assert.equal(gate.process.exitCode, null, 'kvsgate exited');
    },
    // Takes the memory baseline (call after a warm-up group).
    baseline() {
      baseline = h.stats();
      return baseline;
    },
    stats: () => procStats(h.pid, gate.port),
    async waitIdle(timeoutMs = 8000) {
      // Connections the tests opened are closed by now or by the sweeper soon.
      const deadline = Date.now() + timeoutMs * sanitizers.slow();
      while (Date.now() < deadline && baseline && h.stats().own > baseline.own)
        await new Promise((r) => setTimeout(r, 200));
    },
    // Flat memory (unless a sanitizer's quarantine or valgrind owns the heap),
    // file descriptors back to the baseline, no secret logged; stops everything.
    async finish({ rssSlackKb = 12 * 1024 } = {}) {
      try {
        await h.healthy();
        if (baseline) {
          await h.waitIdle();
          const now = h.stats();
          assert.ok(now.own <= baseline.own + 2, `file descriptors grew: ${JSON.stringify(baseline)} -> ${JSON.stringify(now)}`);
          // libcurl state and pooled connections: a few per AWS worker thread.
          const workers = Number(gate.env.KVSGATE_UPSTREAM_WORKERS || 32);
          assert.ok(now.worker <= 4 * workers, `worker sockets: ${now.worker}`);
          const sanitized = process.env.ASAN_OPTIONS || process.env.TSAN_OPTIONS || sanitizers.slow() > 1;
          if (!sanitized)
            assert.ok(now.rssKb <= baseline.rssKb + rssSlackKb, `RSS grew: ${baseline.rssKb} -> ${now.rssKb} kB`);
          h.memory = { before: baseline, after: now };
        }
        h.noSecrets(gate.stderr());
      } finally {
        await gate.stop();
        if (emu) await emu.stop();
        report();
      }
    },
  };
  return h;
}

// Prints the per-category counts and leaves them in the build folder (for
// docs/robustness.md's numbers).
function report() {
  const file = path.basename(require.main ? require.main.filename : 'hostile', '.test.js');
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  console.log(`hostile requests (${file}): ${total} ${JSON.stringify(counts)}`);
  try {
    const dir = path.join(env.buildDir, 'hostile-report');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${file}.json`), JSON.stringify({ total, counts }, null, 1));
  } catch { /* the report is a convenience */ }
}

module.exports = { start, request, exchange, parseResponse, procStats, counts, mint };
