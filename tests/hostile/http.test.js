'use strict';
// Malformed HTTP against the real binary, on raw sockets: request lines,
// versions, Host, Content-Length / Transfer-Encoding conflicts, chunk sizes,
// NUL and control bytes, obs-fold, huge heads and bodies, slow clients.
//
// Where kvsgate sees the request it answers problem+json with a stable code
// and closes the connection when a body may follow. A few malformed requests
// are refused by libmicrohttpd before kvsgate sees them; those residual cases
// are pinned here exactly as they behave (docs/robustness.md lists them), so a
// library upgrade that changes them is noticed.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const hostile = require('./helpers');

const { request } = hostile;
let h;

before(async () => {
  h = await hostile.start({ env: { KVSGATE_CONNECTION_TIMEOUT_S: '2', KVSGATE_MAX_BODY_BYTES: '16384' } });
  // Warm-up, then the memory baseline.
  for (let i = 0; i < 20; i++) await h.healthy();
  h.baseline();
});

after(async () => { if (h) await h.finish(); });

// Sends raw bytes; expects a problem+json answer with status and code.
async function refused(bytes, status, code, category) {
  const r = await h.send(bytes);
  h.count(category);
  return h.problem(r, status, code);
}

const statusLines = (raw) => (raw.toString('latin1').match(/(^|\r\n)HTTP\/1\.1 \d{3} /g) || []).length;

// libmicrohttpd answers by itself (HTML) or closes without an answer.
async function residual(bytes, expect, category) {
  const r = await h.send(bytes, { timeoutMs: 4000 });
  h.count(category);
  if (expect === 'closed') {
    assert.equal(r.res, null, `expected no answer, got ${r.res && r.res.statusLine}`);
    assert.ok(r.closed, 'the connection is closed');
  } else {
    assert.ok(r.res, `expected libmicrohttpd's ${expect}, got no answer`);
    assert.equal(r.res.status, expect, r.res.statusLine);
    assert.match(r.res.headers['content-type'] || 'text/html', /html|^$/);
  }
  return r;
}

test('bad request lines', async () => {
  // kvsgate sees these and answers problem+json.
  await refused('ABCDEFGHIJKLMNOPQRSTUVWXYZ /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'bad_request', 'request line');
  await refused('G\x01T /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'bad_request', 'request line');
  await refused('G(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'bad_request', 'request line');
  await refused('get /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 405, 'method_not_allowed', 'request line');
  await refused('BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 405, 'method_not_allowed', 'request line');
  await refused('GET healthz HTTP/1.1\r\nHost: x\r\n\r\n', 404, 'not_found', 'request line');
  await refused('OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n', 404, 'not_found', 'request line');
  await refused('CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: x\r\n\r\n', 404, 'not_found', 'request line');
  await refused('GET http://evil.example/healthz HTTP/1.1\r\nHost: x\r\n\r\n', 404, 'not_found', 'request line');
  await refused(`GET /v1/channels/${'a'.repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 400, 'bad_request', 'request line');
  await refused(`GET /${'a'.repeat(40000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431, 'headers_too_large', 'request line');
  await refused('GET /heal\rthz HTTP/1.1\r\nHost: x\r\n\r\n', 404, 'not_found', 'request line');
  await refused('GE\x00T /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 405, 'method_not_allowed', 'NUL bytes');
  await refused('GET /heal\x00thz HTTP/1.1\r\nHost: x\r\n\r\n', 404, 'not_found', 'NUL bytes');
  // Residual: libmicrohttpd refuses or drops these before kvsgate runs.
  await residual('GET /healthz\r\n\r\n', 400, 'request line');
  await residual('GET\t/healthz\tHTTP/1.1\r\nHost: x\r\n\r\n', 'closed', 'request line');
  await residual('GARBAGE\r\n\r\n', 'closed', 'request line');
  await residual(Buffer.from(Array.from({ length: 256 }, (_, i) => i).concat([13, 10, 13, 10])), 400, 'request line');
  await residual(Buffer.from('16030100a5010000a10303' + '00'.repeat(40), 'hex'), 'closed', 'request line');
  await residual('GET /healthz HTTP/1.1\x00\r\nHost: x\r\n\r\n', 400, 'NUL bytes');
  await h.healthy();
});

test('HTTP versions', async () => {
  await residual('GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n', 505, 'version');
  await residual('GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n', 505, 'version');
  await residual('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 505, 'version');
  await residual('GET /healthz http/1.1\r\nHost: x\r\n\r\n', 400, 'version');
  await residual('GET /healthz HTTP/1.1x\r\nHost: x\r\n\r\n', 400, 'version');
  // HTTP/1.0 needs no Host and gets Connection: close.
  const ten = await h.send('GET /healthz HTTP/1.0\r\n\r\n');
  h.count('version');
  assert.equal(ten.res.status, 200);
  assert.equal(ten.res.headers.connection, 'close');
  await refused('GET /v1/channels HTTP/1.0\r\n\r\n', 401, 'unauthenticated', 'version');
  await h.healthy();
});

test('Host: missing, repeated, malformed', async () => {
  await refused('GET /healthz HTTP/1.1\r\n\r\n', 400, 'bad_request', 'host');
  await refused('GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400, 'bad_request', 'host');
  await refused('GET /healthz HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n', 400, 'bad_request', 'host');
  await refused('GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n', 400, 'bad_request', 'host');
  await refused('GET /healthz HTTP/1.1\r\nHost: user@evil\r\n\r\n', 400, 'bad_request', 'host');
  await refused('GET /healthz HTTP/1.1\r\nHost: a/b\r\n\r\n', 400, 'bad_request', 'host');
  const v6 = await h.send('GET /healthz HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n');
  h.count('host');
  assert.equal(v6.res.status, 200);
  await h.healthy();
});

test('Content-Length and Transfer-Encoding conflicts (smuggling shapes) close the connection', async () => {
  const put = 'PUT /v1/channels/cam-x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n';
  // CL + TE: refused, and the connection closes (the second request is never read).
  const smuggle = `${put}Content-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`;
  const r = await h.send(smuggle, { waitClose: true });
  h.count('content-length/transfer-encoding');
  h.problem(r, 400, 'bad_request');
  assert.equal(r.res.headers.connection, 'close');
  assert.ok(r.closed);
  assert.equal(statusLines(r.raw), 1, 'one answer only');
  await refused(`${put}Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n0\r\n\r\n`, 400, 'bad_request', 'content-length/transfer-encoding');
  await refused(`${put}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello`, 400, 'bad_request', 'content-length/transfer-encoding');
  await refused(`${put}Transfer-Encoding: gzip\r\n\r\n`, 400, 'bad_request', 'content-length/transfer-encoding');
  await refused(`${put}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, 400, 'bad_request', 'content-length/transfer-encoding');
  await refused(`${put}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400, 'bad_request', 'content-length/transfer-encoding');
  await refused(`${put}Transfer-Encoding: identity\r\n\r\n`, 400, 'bad_request', 'content-length/transfer-encoding');
  await refused(`${put}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, 400, 'bad_request', 'content-length/transfer-encoding');
  // Equal duplicates are one length (RFC 9112 6.3); this one then needs a token.
  await refused(`${put}Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}`, 401, 'unauthenticated', 'content-length/transfer-encoding');
  // A pipelined keep-alive request after a refused one is not served.
  const two = await h.send('GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n', { waitClose: true });
  h.count('content-length/transfer-encoding');
  assert.equal(statusLines(two.raw), 1);
  // Residual: libmicrohttpd checks Content-Length syntax itself (400, its
  // head sent twice by 0.9.75) and sizes past 2^64 (413).
  for (const v of ['-1', '+2', '0x2', '2, 2', '2 2'])
    await residual(`${put}Content-Length: ${v}\r\n\r\n{}`, 400, 'content-length/transfer-encoding');
  await residual(`${put}Content-Length: 99999999999999999999\r\n\r\n`, 413, 'content-length/transfer-encoding');
  await h.healthy();
});

test('chunked bodies: bad sizes, extensions, trailers, over the limit', async () => {
  const put = 'PUT /v1/channels/cam-x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
  // Well-formed chunking reaches kvsgate (then needs a token).
  await refused(`${put}2;ext=1\r\n{}\r\n0\r\n\r\n`, 401, 'unauthenticated', 'chunked');
  await refused(`${put}2\r\n{}\r\n0\r\nX-Trailer: 1\r\n\r\n`, 401, 'unauthenticated', 'chunked');
  await refused(`${put.replace('chunked', 'CHUNKED')}2\r\n{}\r\n0\r\n\r\n`, 401, 'unauthenticated', 'chunked');
  // Past the body limit without a Content-Length: drained, then 413.
  await refused(`${put}4000\r\n${' '.repeat(0x4000)}\r\n10\r\n${' '.repeat(16)}\r\n0\r\n\r\n`, 413, 'payload_too_large', 'chunked');
  // Residual: libmicrohttpd's own answers to broken chunking.
  await residual(`${put}zz\r\nhello\r\n0\r\n\r\n`, 400, 'chunked');
  await residual(`${put}-2\r\n{}\r\n0\r\n\r\n`, 400, 'chunked');
  await residual(`${put}5\r\n{}\r\n0\r\n\r\n`, 400, 'chunked');
  await residual(`${put}FFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n`, 413, 'chunked');
  await h.healthy();
});

test('header bytes: control characters, NUL, obs-fold, names with spaces', async () => {
  const get = 'GET /healthz HTTP/1.1\r\nHost: x\r\n';
  await refused(`${get}X-A: a\x01b\r\n\r\n`, 400, 'bad_request', 'header bytes');
  await refused(`${get}X-A: a\x7fb\r\n\r\n`, 400, 'bad_request', 'header bytes');
  await refused(`${get}X-A: a\x1bb\r\n\r\n`, 400, 'bad_request', 'header bytes');
  await refused(`${get}X-A : b\r\n\r\n`, 400, 'bad_request', 'header bytes');
  await refused(`${get}X(A): b\r\n\r\n`, 400, 'bad_request', 'header bytes');
  await residual(`${get}X-\x00A: b\r\n\r\n`, 400, 'NUL bytes');
  // libmicrohttpd cuts a value at a NUL; the rest never reaches kvsgate.
  const nul = await h.send(`${get}Connection: close\r\nX-A: a\x00b\r\n\r\n`);
  h.count('NUL bytes');
  assert.equal(nul.res.status, 200);
  // obs-fold: libmicrohttpd unfolds it (RFC 9112 5.2 allows replacing it by SP).
  const fold = await h.send(`${get}Connection: close\r\nX-A: a\r\n b\r\n\r\n`);
  h.count('obs-fold');
  assert.equal(fold.res.status, 200);
  const foldAuth = await h.send('GET /v1/channels HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer\r\n abc.def.ghi\r\n\r\n');
  h.count('obs-fold');
  h.problem(foldAuth, 401, 'unauthenticated');
  // UTF-8 in a value is obs-text: allowed.
  const utf8 = await h.send(`${get}Connection: close\r\nX-A: caf\xc3\xa9\r\n\r\n`);
  h.count('header bytes');
  assert.equal(utf8.res.status, 200);
  // Residual: a header line without a colon is libmicrohttpd's 400.
  await residual(`${get}NoColon\r\n\r\n`, 400, 'header bytes');
  await h.healthy();
});

test('huge heads: our 431 up to the budget + 6 KiB, libmicrohttpd beyond', async () => {
  const get = 'GET /healthz HTTP/1.1\r\nHost: x\r\n';
  for (const n of [33000, 36000, 38000]) await refused(`${get}X-Big: ${'a'.repeat(n)}\r\n\r\n`, 431, 'headers_too_large', 'huge heads');
  const few = Array.from({ length: 40 }, (_, i) => `X-H${i}: ${'v'.repeat(850)}\r\n`).join('');
  await refused(`${get}${few}\r\n`, 431, 'headers_too_large', 'huge heads');
  await refused(`GET /v1/channels HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'a'.repeat(37000)}\r\n\r\n`, 431, 'headers_too_large', 'huge heads');
  // Within the budget is served: one large header, or 200 headers of 100 bytes.
  const under = await h.send(`${get}Connection: close\r\nX-Big: ${'a'.repeat(32000)}\r\n\r\n`);
  h.count('huge heads');
  assert.equal(under.res.status, 200);
  const many = Array.from({ length: 200 }, (_, i) => `X-H${i}: ${'v'.repeat(100)}\r\n`).join('');
  const manyUnder = await h.send(`${get}Connection: close\r\n${many}\r\n`);
  h.count('huge heads');
  assert.equal(manyUnder.res.status, 200);
  // Residual: past libmicrohttpd's memory (budget + 8 KiB), or hundreds of
  // small headers, libmicrohttpd answers its own plain 431.
  await residual(`${get}X-Big: ${'a'.repeat(44000)}\r\n\r\n`, 431, 'huge heads');
  await residual(`${get}${Array.from({ length: 160 }, (_, i) => `X-H${i}: ${'v'.repeat(200)}\r\n`).join('')}\r\n`, 431, 'huge heads');
  await residual(`${get}X-Big: ${'a'.repeat(50000)}\r\n\r\n`, 431, 'huge heads');
  await residual(`${get}X-Big: ${'a'.repeat(100000)}\r\n\r\n`, 431, 'huge heads');
  await residual(`${get}${Array.from({ length: 600 }, (_, i) => `X-H${i}: ${'v'.repeat(50)}\r\n`).join('')}\r\n`, 431, 'huge heads');
  await residual(`${get}${Array.from({ length: 3000 }, (_, i) => `X-${i}: a\r\n`).join('')}\r\n`, 431, 'huge heads');
  await h.healthy();
});

test('huge and unexpected bodies', async () => {
  const put = 'PUT /v1/channels/cam-x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n';
  // Content-Length over the limit: 413 at once, the body is never read.
  const t0 = Date.now();
  const big = await h.send([`${put}Content-Length: 50000000\r\n\r\n`, Buffer.alloc(65536, 32)], { waitClose: true });
  h.count('huge bodies');
  h.problem(big, 413, 'payload_too_large');
  assert.ok(Date.now() - t0 < 5000);
  await refused(`${put}Content-Length: 16385\r\n\r\n${' '.repeat(16385)}`, 413, 'payload_too_large', 'huge bodies');
  await refused(`${put}Expect: 100-continue\r\nContent-Length: 99999999\r\n\r\n`, 413, 'payload_too_large', 'huge bodies');
  // At the limit: read, then judged (here: no token).
  await refused(`${put}Content-Length: 16384\r\n\r\n${' '.repeat(16382)}{}`, 401, 'unauthenticated', 'huge bodies');
  // A body on a GET is not JSON for anything: refused before auth.
  await refused('GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd', 400, 'bad_request', 'huge bodies');
  await h.healthy();
});

test('slow clients: dribbled heads and bodies, idle connections are cut', async () => {
  const before = h.stats();
  // Slowloris: one header byte every 300 ms never completes the head; the
  // sweeper cuts the connection after KVSGATE_CONNECTION_TIMEOUT_S (2 s).
  const head = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(40);
  const t0 = Date.now();
  const slow = await h.send(head.split(''), { gapMs: 300, timeoutMs: 20000 });
  h.count('slow clients');
  assert.equal(slow.res, null, 'no answer to an unfinished head');
  assert.ok(slow.closed, 'the connection was closed by kvsgate');
  const took = Date.now() - t0;
  assert.ok(took >= 1500 && took < 12000, `cut after ${took} ms`);
  // A body dribbled after a complete head: cut the same way.
  const body = ['PUT /v1/channels/cam-x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n',
    ...'{"messageTtlSeconds":'.split('')];
  const slowBody = await h.send(body, { gapMs: 300, timeoutMs: 20000 });
  h.count('slow clients');
  assert.ok(slowBody.closed);
  assert.equal(slowBody.res, null);
  // A connection that sends nothing, and one that sends a partial head and stops.
  const idle = await h.send([], { timeoutMs: 15000 });
  h.count('slow clients');
  assert.ok(idle.closed && idle.res === null);
  const partial = await h.send('GET /healthz HTTP/1.1\r\nHo', { timeoutMs: 15000 });
  h.count('slow clients');
  assert.ok(partial.closed && partial.res === null);
  // Twenty at once, and the service keeps answering meanwhile.
  const crowd = Array.from({ length: 20 }, () => h.send(head.split('').slice(0, 20), { gapMs: 200, timeoutMs: 20000 }));
  h.count('slow clients', 20);
  await h.healthy();
  const rs = await Promise.all(crowd);
  for (const r of rs) assert.ok(r.closed);
  await h.healthy();
  const m = await h.send(request('GET', '/metrics'));
  const cut = Number((/kvsgate_http_slow_clients_closed_total (\d+)/.exec(m.res.text) || [])[1]);
  assert.ok(cut >= 22, `the sweeper cut ${cut} connections`);
  await h.waitIdle();
  assert.ok(h.stats().own <= before.own + 2, 'slow connections left no descriptor behind');
});

test('the suite sent at least 90 hostile requests here', () => {
  const total = Object.values(hostile.counts).reduce((a, b) => a + b, 0);
  assert.ok(total >= 90, `only ${total}`);
});
