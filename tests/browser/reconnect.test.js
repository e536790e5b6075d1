'use strict';
// Reconnecting after the signed URL expired (notes/KVS.md P6, P16): kvsgate
// signs with KVSGATE_PRESIGN_EXPIRES_S=3. Once the master's and the viewer's
// URLs are past their expiry, the emulator refuses them (checked by opening
// them with `ws` from Node: what the widely copied fixed-URL CustomSigner
// would replay). Their signaling sockets are then dropped under the SDK, as a
// network drop or a GO_AWAY close would; the pages reopen, the SDK calls the
// demo's signer, which fetches a fresh URL from kvsgate, and the emulator
// accepts it. A new negotiation over the reopened sockets proves they relay.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { mint } = require('../lib/tokens');
const signaling = require('../lib/signaling');
const h = require('./helpers');

const CHANNEL = 'demo-reconnect';
const EXPIRES_S = 3;
let stack, browser, master, viewer;
const sockets = { master: [], viewer: [] };

before(async () => {
  h.clearScreenshots('reconnect');
  stack = await h.startStack({ channel: CHANNEL, gateEnv: { KVSGATE_PRESIGN_EXPIRES_S: String(EXPIRES_S) } });
  browser = await h.launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (stack) await stack.stop();
});

function step(name, fn) {
  test(name, { timeout: 90000 }, async () => {
    try {
      await fn();
    } catch (e) {
      await h.dumpFailure(browser, 'reconnect');
      throw e;
    }
  });
}

async function open(name, options) {
  const page = await browser.page(name);
  page.on('websocket', (ws) => sockets[name].push(ws.url()));
  await h.openDemo(page, stack, options);
  assert.deepEqual(await page.evaluate(() => window.demo.start()), { ok: true });
  return page;
}

const state = (page) => page.evaluate(() => window.demo.state());
const signerUrls = async (page) => (await state(page)).fetches.filter((f) => f.purpose === 'signaling').map((f) => f.url);
const amzDate = (url) => new URL(url).searchParams.get('X-Amz-Date');

let first;  // { master, viewer }: the URLs of the first connections

step(`master and viewer connect with URLs that expire after ${EXPIRES_S} s`, async () => {
  master = await open('master', { role: 'master', token: await mint({ sub: 'camera-1', kvs: { master: [CHANNEL] } }) });
  await h.waitForData(master, 'signaling', 'open');
  viewer = await open('viewer', { role: 'viewer', token: await mint({ sub: 'alice', kvs: { viewer: [CHANNEL] } }) });
  await h.waitForData(viewer, 'peer', 'connected', 45000);
  first = { master: (await signerUrls(master))[0], viewer: (await signerUrls(viewer))[0] };
  assert.deepEqual(sockets.master, [first.master]);
  assert.deepEqual(sockets.viewer, [first.viewer]);
  for (const u of Object.values(first)) assert.equal(new URL(u).searchParams.get('X-Amz-Expires'), String(EXPIRES_S));
});

step('once expired, the first URLs are refused by the emulator (403 before the upgrade)', async () => {
  const fetched = (await state(viewer)).fetches.find((f) => f.url === first.viewer);
  const wait = Date.parse(fetched.expiresAt) + 1500 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  for (const role of ['master', 'viewer']) {
    await assert.rejects(signaling.open(first[role]), (e) => e.status === 403, `the stale ${role} URL is refused`);
  }
  // Refusing them disturbed nobody.
  const conns = await stack.emu.connections(CHANNEL);
  assert.equal(conns.master, true);
  assert.deepEqual(conns.viewers, ['alice']);
});

step('dropped signaling reconnects with a fresh URL from kvsgate, which the emulator accepts', async () => {
  const okBefore = {
    master: await stack.emu.count('ConnectAsMaster', 'ok'),
    viewer: await stack.emu.count('ConnectAsViewer', 'ok'),
  };
  for (const page of [viewer, master]) await page.evaluate(() => window.demo.dropSignaling());
  for (const page of [viewer, master]) {
    await h.until(async () => (await state(page)).signalingOpens === 2, 30000, `${page.__name} to reopen signaling`);
    await h.waitForData(page, 'signaling', 'open');
  }
  for (const [role, page] of [['master', master], ['viewer', viewer]]) {
    const urls = await signerUrls(page);
    assert.equal(urls.length, 2, `${role}'s signer asked kvsgate once per open()`);
    assert.notEqual(urls[1], first[role], `${role} got a new URL`);
    assert.ok(amzDate(urls[1]) > amzDate(first[role]), `${role}'s new URL is signed later`);
    assert.deepEqual(sockets[role], [first[role], urls[1]], `${role} opened the fresh URL, not the stale one`);
    assert.equal(await stack.emu.count(role === 'master' ? 'ConnectAsMaster' : 'ConnectAsViewer', 'ok'), okBefore[role] + 1);
  }
  const conns = await stack.emu.connections(CHANNEL);
  assert.equal(conns.master, true);
  assert.deepEqual(conns.viewers, ['alice']);
  // The media session did not need signaling meanwhile.
  assert.equal(await viewer.evaluate(() => document.body.dataset.peer), 'connected');
});

step('the reopened sockets relay: a new negotiation gets video and chat both ways', async () => {
  assert.equal(await viewer.evaluate(() => window.demo.restartPeer()), true);
  await h.until(async () => (await state(viewer)).messages.filter((m) => m.text === 'offer sent to the master').length === 2,
    10000, 'the second offer');
  await h.waitForData(viewer, 'peer', 'connected', 45000);
  await h.waitForData(viewer, 'datachannel', 'open');
  await h.until(async () => (await state(master)).messages.filter((m) => m.text === 'answered viewer alice').length === 2,
    10000, 'the master to answer the second offer');
  const video = await h.videoPlays(viewer, '#remote-video', 45000);
  assert.ok(video.width > 0 && video.t1 > video.t0, JSON.stringify(video));
  await h.until(() => master.evaluate(() => window.demo.send('after the reconnect')), 10000, 'an open channel at the master');
  await h.until(async () => (await state(viewer)).messages.find((m) => m.dir === 'in' && m.text === 'after the reconnect'),
    10000, 'the master message');
  assert.equal(await viewer.evaluate(() => window.demo.send('me too')), 1);
  await h.until(async () => (await state(master)).messages.find((m) => m.dir === 'in' && m.text === 'me too'),
    10000, 'the viewer message');
  await h.screenshot(viewer, 'reconnect-viewer');
  // And the URLs of the second connections expire like the first.
  const late = (await signerUrls(viewer))[1];
  const fetched = (await state(viewer)).fetches.find((f) => f.url === late);
  const wait = Date.parse(fetched.expiresAt) + 1500 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  await assert.rejects(signaling.open(late), (e) => e.status === 403);
});
