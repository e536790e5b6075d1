'use strict';
// Starts the local KVS emulator (tools/kvs-local/server.js, see
// docs/emulator.md) on a free port for a test, and wraps its /_emulator API.
//
//   const emu = await startEmulator({ faults: { throttleRate: 1 } });
//   ... emu.url, emu.port, await emu.counters(), await emu.setFaults({...})
//   await emu.stop();
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const env = require('./env');

const serverPath = path.join(env.sourceDir, 'tools', 'kvs-local', 'server.js');

async function startEmulator(options = {}) {
  const args = [serverPath, '--port', String(options.port || 0), '--quiet'];
  if (options.region) args.push('--region', options.region);
  if (options.accessKeyId) args.push('--access-key-id', options.accessKeyId);
  if (options.secretAccessKey) args.push('--secret-access-key', options.secretAccessKey);
  if (options.containerToken) args.push('--container-token', options.containerToken);
  if (options.credentialTtl) args.push('--credential-ttl', String(options.credentialTtl));
  if (options.iceTtl) args.push('--ice-ttl', String(options.iceTtl));
  if (options.externalId) args.push('--external-id', options.externalId);
  if (options.faults) args.push('--faults', JSON.stringify(options.faults));
  for (const extra of options.args || []) args.push(extra);

  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = [];
  child.stderr.on('data', (d) => stderr.push(d));
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('emulator did not start in 10 s: ' +
      Buffer.concat(stderr).toString())), 10000);
    const lines = readline.createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line));
      } catch (e) {
        reject(new Error(`emulator printed ${line}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`emulator exited with ${code}: ${Buffer.concat(stderr).toString()}`));
    });
  });

  const url = ready.url;
  async function api(method, p, body) {
    const res = await fetch(url + p, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  return {
    url,
    port: ready.port,
    region: ready.region,
    process: child,
    stderr: () => Buffer.concat(stderr).toString(),
    counters: () => api('GET', '/_emulator/counters'),
    // calls of one operation (total, or one outcome), 0 when never called
    count: async (operation, outcome = 'total') => {
      const c = await api('GET', '/_emulator/counters');
      return (c.operations[operation] && c.operations[operation][outcome]) || 0;
    },
    // calls refused by the emulator's quotas (outcome limited), all operations
    limited: async () => {
      const c = await api('GET', '/_emulator/counters');
      return Object.values(c.operations).reduce((n, o) => n + (o.limited || 0), 0);
    },
    resetCounters: () => api('POST', '/_emulator/counters/reset'),
    faults: () => api('GET', '/_emulator/faults'),
    setFaults: (f) => api('PUT', '/_emulator/faults', f),
    reset: () => api('POST', '/_emulator/reset'),
    connections: (name) => api('GET', `/_emulator/channels/${encodeURIComponent(name)}/connections`),
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    }),
  };
}

module.exports = { startEmulator, serverPath };
