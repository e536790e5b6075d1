'use strict';
// The demo page (demo/) in a real Chromium, with the official KVS WebRTC SDK,
// against the real kvsgate binary and the local KVS emulator: a master and
// two viewers get their signed URLs and ICE servers from kvsgate only, meet
// through the emulator's signaling, exchange SDP and ICE (host candidates on
// this machine; the STUN and TURN hosts are unreachable here), chat over the
// data channel and receive video. A viewer without a viewer grant sees
// kvsgate's 403 and never reaches signaling. Screenshots go to
// $KVSGATE_BUILD_DIR/screenshots/.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { mint } = require('../lib/tokens');
const h = require('./helpers');

const CHANNEL = 'demo-e2e';
const T = { timeout: 90000 };
let stack, browser, master, viewer, viewer2;
const traffic = [];   // { page, kind: request|websocket, url }

before(async () => {
  h.clearScreenshots('demo');
  stack = await h.startStack({ channel: CHANNEL });
  browser = await h.launchBrowser();
  browser.context.on('request', (r) => traffic.push({ page: r.frame().page().__name, kind: 'request', url: r.url() }));
});

after(async () => {
  if (browser) await browser.close();
  if (stack) await stack.stop();
});

// Runs a test body; on failure, screenshots every page and prints the pages'
// console so the report says what the browser saw.
function step(name, fn) {
  test(name, T, async () => {
    try {
      await fn();
    } catch (e) {
      await h.dumpFailure(browser, 'demo');
      if (stack) process.stderr.write(`--- kvsgate ---\n${stack.gate.stderr().split('\n').slice(-30).join('\n')}\n`);
      throw e;
    }
  });
}

async function newDemoPage(name, options) {
  const page = await browser.page(name);
  page.on('websocket', (ws) => traffic.push({ page: name, kind: 'websocket', url: ws.url() }));
  return h.openDemo(page, stack, options);
}

const state = (page) => page.evaluate(() => window.demo.state());
const received = async (page, text) => (await state(page)).messages.find((m) => m.dir === 'in' && m.text === text);

step('the demo server serves the page and the official SDK bundle, and nothing else', async () => {
  const page = await fetch(stack.demo.url + '/');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-security-policy'), /default-src 'self'/);
  assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
  const html = await page.text();
  assert.match(html, /vendor\/kvs-webrtc\.min\.js/);
  const sdk = await fetch(stack.demo.url + '/vendor/kvs-webrtc.min.js');
  assert.equal(sdk.status, 200);
  assert.match(await sdk.text(), /SignalingClient/);
  for (const p of ['/server.js', '/../package.json', '/%2e%2e/package.json', '/vendor/', '/node_modules/ws/package.json'])
    assert.equal((await fetch(stack.demo.url + p)).status, 404, p);
  // Nothing that looks like AWS key material is served.
  for (const p of ['/', '/demo.js', '/demo.css']) {
    const body = await (await fetch(stack.demo.url + p)).text();
    assert.doesNotMatch(body, /AKID|ASIA[A-Z0-9]{12}|SECRETLOCAL|aws_secret/i, p);
  }
});

step('master and viewer join through kvsgate and the emulator: SDP, ICE, chat both ways, video frames', async () => {
  const masterTok = await mint({ sub: 'camera-1', kvs: { master: [CHANNEL] } });
  const viewerTok = await mint({ sub: 'alice', kvs: { viewer: [CHANNEL] } });
  master = await newDemoPage('master', { role: 'master', token: masterTok });
  // The token left the address bar (it stays in this tab's sessionStorage).
  assert.doesNotMatch(await master.evaluate(() => location.href), /token=/);

  assert.deepEqual(await master.evaluate(() => window.demo.start()), { ok: true });
  await h.waitForData(master, 'signaling', 'open');
  assert.equal((await stack.emu.connections(CHANNEL)).master, true, 'the emulator sees the master');

  viewer = await newDemoPage('viewer', { role: 'viewer', token: viewerTok });
  assert.deepEqual(await viewer.evaluate(() => window.demo.start()), { ok: true });
  await h.waitForData(viewer, 'signaling', 'open');
  assert.deepEqual((await stack.emu.connections(CHANNEL)).viewers, ['alice']);
  await h.waitForData(viewer, 'peer', 'connected', 45000);
  await h.waitForData(viewer, 'datachannel', 'open');
  await h.waitForData(master, 'datachannel', 'open');
  assert.match(await viewer.evaluate(() => document.body.dataset.ice), /^(connected|completed)$/);

  // The selected pair is host to host (or peer-reflexive, learnt from a
  // check): the STUN and TURN servers kvsgate listed are unreachable here.
  const pair = await viewer.evaluate(() => window.demo.selectedPair());
  assert.ok(pair, 'a selected candidate pair');
  assert.match(pair.local.candidateType, /^(host|prflx)$/, JSON.stringify(pair));
  assert.match(pair.remote.candidateType, /^(host|prflx)$/, JSON.stringify(pair));

  assert.equal(await viewer.evaluate(() => window.demo.send('hello from alice')), 1);
  const atMaster = await h.until(() => received(master, 'hello from alice'), 10000, 'the viewer message at the master');
  assert.equal(atMaster.from, 'alice');
  assert.equal(await master.evaluate(() => window.demo.send('hello from the camera')), 1);
  const atViewer = await h.until(() => received(viewer, 'hello from the camera'), 10000, 'the master message at the viewer');
  assert.equal(atViewer.from, 'master');

  const video = await h.videoPlays(viewer, '#remote-video', 45000);
  assert.ok(video.width > 0 && video.height > 0, JSON.stringify(video));
  assert.ok(video.t1 > video.t0, JSON.stringify(video));

  const s = await state(viewer);
  assert.equal(s.clientId, 'alice');
  assert.equal(s.signalingOpens, 1);
  assert.ok(s.fetches.every((f) => f.status === 200), JSON.stringify(s.fetches));
  await h.screenshot(viewer, 'demo-viewer');
  await h.screenshot(master, 'demo-master');
});

step('a second viewer (same user, another tab: clientId alice.tab2) sends its camera back and gets video too', async () => {
  const viewerTok = await mint({ sub: 'alice', kvs: { viewer: [CHANNEL] } });
  viewer2 = await newDemoPage('viewer2', { role: 'viewer', token: viewerTok, clientId: 'alice.tab2', sendVideo: true });
  assert.deepEqual(await viewer2.evaluate(() => window.demo.start()), { ok: true });
  await h.waitForData(viewer2, 'peer', 'connected', 45000);
  assert.deepEqual((await stack.emu.connections(CHANNEL)).viewers.sort(), ['alice', 'alice.tab2']);
  await h.waitForData(master, 'peers', '2');
  const video = await h.videoPlays(viewer2, '#remote-video', 45000);
  assert.ok(video.width > 0 && video.t1 > video.t0, JSON.stringify(video));
  // The master receives the second viewer's camera in its own tile.
  const back = await h.videoPlays(master, '[id="viewer-video-alice.tab2"]', 45000);
  assert.ok(back.width > 0 && back.t1 > back.t0, JSON.stringify(back));

  // The first viewer kept its seat, and the master's chat reaches both.
  assert.equal(await viewer.evaluate(() => document.body.dataset.peer), 'connected');
  await h.waitForData(viewer2, 'datachannel', 'open');
  assert.equal(await master.evaluate(() => window.demo.send('to everyone')), 2);
  await h.until(() => received(viewer, 'to everyone'), 10000, 'the broadcast at viewer 1');
  await h.until(() => received(viewer2, 'to everyone'), 10000, 'the broadcast at viewer 2');
  assert.equal(await viewer2.evaluate(() => window.demo.send('from tab 2')), 1);
  const m = await h.until(() => received(master, 'from tab 2'), 10000, 'tab 2 message at the master');
  assert.equal(m.from, 'alice.tab2');
  await h.screenshot(viewer2, 'demo-viewer2');
  await h.screenshot(master, 'demo-master-two-viewers');
});

step('the pages talk only to the demo server, kvsgate and the signed URL, used exactly as kvsgate signed it', async () => {
  const allowed = [stack.demo.url + '/', stack.gate.url + '/v1/channels/' + CHANNEL + '/'];
  for (const t of traffic.filter((x) => x.kind === 'request' && !x.url.startsWith('data:'))) {
    assert.ok(allowed.some((a) => t.url.startsWith(a)), `unexpected request from ${t.page}: ${t.url}`);
  }
  for (const [name, page] of [['master', master], ['viewer', viewer], ['viewer2', viewer2]]) {
    const sockets = traffic.filter((x) => x.kind === 'websocket' && x.page === name).map((x) => x.url);
    const signed = (await state(page)).fetches.filter((f) => f.purpose === 'signaling').map((f) => f.url);
    assert.equal(sockets.length, 1, `${name} opened ${sockets.length} WebSockets`);
    assert.deepEqual(sockets, signed, `${name}'s WebSocket URL is the one kvsgate signed for its signer`);
    const u = new URL(sockets[0]);
    assert.equal(u.origin, stack.emu.url.replace(/^http/, 'ws'));
    assert.equal(u.searchParams.get('X-Amz-Expires'), '299');
    assert.ok(u.searchParams.get('X-Amz-Signature'));
  }
});

step("a viewer whose token has no viewer grant sees kvsgate's 403 and never reaches signaling", async () => {
  const before = await stack.emu.count('ConnectAsViewer');
  const tok = await mint({ sub: 'mallory', kvs: { viewer: ['someone-else-*'], master: ['someone-else-*'] } });
  const page = await newDemoPage('refused', { role: 'viewer', token: tok });
  const r = await page.evaluate(() => window.demo.start());
  assert.equal(r.ok, false);
  assert.equal(r.status, 403);
  assert.equal(r.code, 'forbidden');
  await h.waitForData(page, 'error', '403');
  assert.equal(await page.evaluate(() => document.body.dataset.state), 'error');
  const shown = await page.locator('#error').innerText();
  assert.match(shown, /403 forbidden/);
  assert.equal(await page.locator('#error').isVisible(), true);
  await h.screenshot(page, 'demo-refused');
  // A bad token: 401 from kvsgate, shown the same way.
  const r401 = await page.evaluate(() => window.demo.start({ token: 'not-a-jwt' }));
  assert.equal(r401.status, 401);
  assert.equal(r401.code, 'unauthenticated');
  await h.waitForData(page, 'error', '401');

  // kvsgate unreachable (a closed port): said so, with the CORS hint.
  const closed = await new Promise((resolve) => {
    const srv = require('node:net').createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
  const r0 = await page.evaluate(([t, u]) => window.demo.start({ token: t, kvsgate: u }), [tok, `http://127.0.0.1:${closed}`]);
  assert.equal(r0.ok, false);
  assert.match(r0.message, /could not reach kvsgate .*KVSGATE_CORS_ORIGINS/);
  assert.match(await page.locator('#error').innerText(), /could not reach kvsgate/);

  assert.equal(traffic.filter((x) => x.kind === 'websocket' && x.page === 'refused').length, 0, 'no WebSocket was opened');
  assert.equal(await stack.emu.count('ConnectAsViewer'), before, 'the emulator saw no ConnectAsViewer');
  const conns = await stack.emu.connections(CHANNEL);
  assert.ok(!conns.viewers.includes('mallory'), JSON.stringify(conns));
  await page.close();
});

step("Stop closes the viewer's signaling connection", async () => {
  await viewer2.evaluate(() => window.demo.stop());
  assert.equal(await viewer2.evaluate(() => document.body.dataset.state), 'stopped');
  await h.until(async () => !(await stack.emu.connections(CHANNEL)).viewers.includes('alice.tab2'), 10000,
    'the emulator to drop alice.tab2');
  assert.ok((await stack.emu.connections(CHANNEL)).viewers.includes('alice'));
});
