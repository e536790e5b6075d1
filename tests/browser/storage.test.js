'use strict';
// WebRTC ingestion end to end in Chromium with the official KVS JS SDK (the
// demo page): a channel that records to a stream (media storage enabled
// through kvsgate), a master page that connects through kvsgate, asks it to
// join the storage session, receives the session's offer, reaches
// `connected` with the emulator's storage peer (a real WebRTC endpoint,
// tools/kvs-local/media-server.js) and sends it H.264 video frames it counts;
// then a viewer page joins the same session and plays the master's video,
// forwarded by the session. A page with "Ingest media" off is told why no
// peer connects.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const kv = require('@aws-sdk/client-kinesis-video');
const h = require('./helpers');
const { mint } = require('../lib/tokens');

const CHANNEL = 'recorded';
let stack, browser;

before(async () => {
  h.clearScreenshots('storage');
  stack = await h.startStack({ channel: CHANNEL });
  const kvs = new kv.KinesisVideoClient({ region: stack.emu.region, endpoint: stack.emu.url,
    credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'SECRETLOCAL' }, maxAttempts: 1 });
  const { StreamARN } = await kvs.send(new kv.CreateStreamCommand({ StreamName: 'recorded-video', DataRetentionInHours: 24 }));
  stack.streamArn = StreamARN;
  const admin = await mint({ sub: 'admin', kvs: { manage: [CHANNEL] } });
  const r = await stack.api.put(`/v1/channels/${CHANNEL}/media-storage`, { token: admin, body: { enabled: true, streamName: 'recorded-video' } });
  assert.equal(r.status, 200, r.text);
  browser = await h.launchBrowser();
});

after(async (t) => {
  if (browser) await browser.close();
  if (stack) await stack.stop();
});

const storageStats = async () => (await fetch(`${stack.emu.url}/_emulator/channels/${CHANNEL}/storage`)).json();

test('a master ingests through the storage session; a storage viewer plays its video', async (t) => {
  try {
    const master = await browser.page('master');
    await h.openDemo(master, stack, { role: 'master', token: await mint({ sub: 'camera-1', kvs: { master: [CHANNEL] } }) });
    assert.deepEqual(await master.evaluate(() => window.demo.start()), { ok: true });
    await h.waitForData(master, 'signaling', 'open');
    await h.waitForData(master, 'storage', 'offered', 30000);
    await h.waitForData(master, 'peer', 'connected', 30000);
    const s1 = await h.until(async () => {
      const s = await storageStats();
      return s.master && s.master.state === 'connected' && s.master.videoFrames >= 30 ? s : null;
    }, 30000, 'the storage peer counting the master\'s video frames');
    assert.deepEqual(s1.master.answerCodecs.sort(), ['h264', 'opus'], 'the master answered with H.264 and Opus');
    assert.ok(s1.master.audioPackets > 0, 'audio arrives too');
    const ms = await master.evaluate(() => window.demo.state());
    assert.equal(ms.storage.mode, true);
    assert.ok(ms.storage.joins >= 1 && ms.storage.joins <= 5);
    const joinsLogged = stack.gate.logs.filter((l) => l.event === 'access' && l.route === '/v1/channels/{name}/master/storage-session' && l.status === 202);
    assert.equal(joinsLogged.length, ms.storage.joins);

    const viewer = await browser.page('viewer');
    await h.openDemo(viewer, stack, { role: 'viewer', token: await mint({ sub: 'watcher-1', kvs: { viewer: [CHANNEL] } }) });
    assert.deepEqual(await viewer.evaluate(() => window.demo.start()), { ok: true });
    await h.waitForData(viewer, 'storage', 'offered', 30000);
    await h.waitForData(viewer, 'peer', 'connected', 30000);
    const played = await h.videoPlays(viewer, '#remote-video', 30000);
    assert.ok(played.width > 0 && played.height > 0);
    const s2 = await storageStats();
    assert.equal(s2.viewers.length, 1);
    assert.equal(s2.viewers[0].clientId, 'watcher-1');
    assert.ok(s2.viewers[0].videoPacketsSent > 0);
    await h.screenshot(master, 'storage-master');
    await h.screenshot(viewer, 'storage-viewer');
    await viewer.evaluate(() => window.demo.stop());
    await master.evaluate(() => window.demo.stop());
  } catch (e) {
    await h.dumpFailure(browser, 'storage');
    throw e;
  }
});

test('with "Ingest media" off the page says why nothing connects, and never joins', async () => {
  const page = await browser.page('no-ingest');
  await h.openDemo(page, stack, { role: 'viewer', token: await mint({ sub: 'watcher-2', kvs: { viewer: [CHANNEL] } }) });
  await page.evaluate(() => { document.getElementById('ingest').checked = false; });
  assert.deepEqual(await page.evaluate(() => window.demo.start()), { ok: true });
  await h.waitForData(page, 'signaling', 'open');
  const st = await page.evaluate(() => window.demo.state());
  assert.equal(st.storage.mode, false);
  assert.ok(st.messages.some((m) => /records to a stream, but "Ingest media" is off/.test(m.text)));
  await page.evaluate(() => window.demo.stop());
});
