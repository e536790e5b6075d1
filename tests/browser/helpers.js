'use strict';
// What the browser tests share: the demo's static server, the whole stack
// (emulator + kvsgate + demo server) on free ports, Debian's Chromium driven
// by playwright-core with a fake camera, and small waits on the demo page's
// window.demo / data-* state (demo/demo.js).
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { chromium } = require('playwright-core');
const env = require('../lib/env');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate } = require('../lib/kvsgate');
const { client } = require('../lib/client');
const { mint } = require('../lib/tokens');

const CHROMIUM = process.env.KVSGATE_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream', '--disable-quic'];
const screenshotDir = path.join(env.buildDir, 'screenshots');

// node demo/server.js on a free port; resolves once it printed its ready line.
async function startDemoServer() {
  const child = spawn(process.execPath, [path.join(env.sourceDir, 'demo', 'server.js'), '--port', '0', '--quiet'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = [];
  child.stderr.on('data', (d) => stderr.push(d));
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('demo server did not start in 10 s')), 10000);
    readline.createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      try { resolve(JSON.parse(line)); } catch { reject(new Error(`demo server printed ${line}`)); }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`demo server exited with ${code}: ${Buffer.concat(stderr)}`));
    });
  });
  return {
    url: ready.url,
    port: ready.port,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    }),
  };
}

// Emulator, demo server and kvsgate (CORS open to the demo's origin only),
// plus a created channel. Whatever started is stopped by stop(), also when a
// later step failed.
async function startStack({ channel = 'demo', gateEnv = {} } = {}) {
  const stack = { channel, stops: [] };
  stack.stop = async () => {
    for (const s of stack.stops.reverse()) await s().catch(() => {});
    stack.stops = [];
  };
  try {
    stack.emu = await startEmulator();
    stack.stops.push(() => stack.emu.stop());
    stack.demo = await startDemoServer();
    stack.stops.push(() => stack.demo.stop());
    stack.gate = await startKvsgate({
      emulator: stack.emu,
      env: { KVSGATE_CORS_ORIGINS: stack.demo.url, KVSGATE_LOG_LEVEL: 'info', ...gateEnv },
    });
    stack.stops.push(() => stack.gate.stop());
    stack.api = client(stack.gate.url);
    const admin = await mint({ sub: 'admin', kvs: { manage: [channel] } });
    const r = await stack.api.put(`/v1/channels/${channel}`, { token: admin });
    if (r.status !== 201) throw new Error(`creating ${channel}: ${r.status} ${r.text}`);
  } catch (e) {
    await stack.stop();
    throw e;
  }
  return stack;
}

// Chromium with a fresh profile directory (removed by close()). Every page's
// console and page errors are kept for the failure report.
async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run tools/bootstrap test (or set KVSGATE_CHROMIUM)`);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsgate-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1100, height: 800 },
      timeout: 60000,
    });
  } catch (e) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw e;
  }
  const logs = [];
  context.on('page', (page) => watch(page));
  function watch(page) {
    page.on('console', (m) => logs.push(`[${page.__name || '?'}] ${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[${page.__name || '?'}] pageerror: ${e.message}`));
  }
  for (const p of context.pages()) watch(p);
  return {
    context,
    logs,
    // A new tab named for the logs.
    async page(name) {
      const page = await context.newPage();
      page.__name = name;
      page.setDefaultTimeout(30000);
      return page;
    },
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

// Opens the demo as a customer would follow a link: settings in the fragment.
async function openDemo(page, stack, { role, token, clientId, sendVideo } = {}) {
  const h = new URLSearchParams({ kvsgate: stack.gate.url, channel: stack.channel, role, token });
  if (clientId) h.set('clientId', clientId);
  if (sendVideo) h.set('sendVideo', '1');
  await page.goto(`${stack.demo.url}/#${h}`);
  await page.waitForFunction(() => window.demo && typeof window.demo.start === 'function');
  return page;
}

// Waits until <body data-NAME> equals value; the error names what it was.
async function waitForData(page, name, value, timeout = 30000) {
  try {
    await page.waitForFunction(([n, v]) => document.body.dataset[n] === v, [name, value], { timeout });
  } catch (e) {
    const now = await page.evaluate((n) => document.body.dataset[n], name).catch(() => '?');
    throw new Error(`${page.__name}: data-${name} stayed ${now}, wanted ${value}`);
  }
}

// Resolves with { width, height, t0, t1 } once the video element has frames
// (videoWidth > 0) and currentTime advanced; throws after timeout.
async function videoPlays(page, selector, timeout = 30000) {
  const handle = await page.waitForFunction((sel) => {
    const v = document.querySelector(sel);
    if (!v || v.videoWidth === 0 || v.readyState < 2) return null;
    if (!v.__t0) v.__t0 = { t: v.currentTime, at: performance.now() };
    if (v.currentTime > v.__t0.t + 0.2) return { width: v.videoWidth, height: v.videoHeight, t0: v.__t0.t, t1: v.currentTime };
    return null;
  }, selector, { timeout, polling: 200 });
  return handle.jsonValue();
}

async function screenshot(page, name) {
  fs.mkdirSync(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// Removes the screenshots a test file made last time (PREFIX-*.png).
function clearScreenshots(prefix) {
  if (!fs.existsSync(screenshotDir)) return;
  for (const f of fs.readdirSync(screenshotDir)) {
    if (f.startsWith(`${prefix}-`) && f.endsWith('.png')) fs.rmSync(path.join(screenshotDir, f), { force: true });
  }
}

// On a failure: a screenshot of every named page and the pages' console.
async function dumpFailure(browser, prefix) {
  if (!browser) return;
  for (const p of browser.context.pages()) {
    if (p.__name) await screenshot(p, `${prefix}-failed-${p.__name}`).catch(() => {});
  }
  process.stderr.write(`--- browser console ---\n${browser.logs.join('\n')}\n`);
}

// Polls fn until it returns a truthy value (resolved with it) or timeout.
async function until(fn, timeout = 15000, what = 'condition') {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

module.exports = { startDemoServer, startStack, launchBrowser, openDemo, waitForData, videoPlays, screenshot, until,
  clearScreenshots, dumpFailure, screenshotDir, CHROMIUM };
