'use strict';
// A real redis-server (Debian's package) for the tests that run several
// kvsgate replicas: started on a free loopback port, in memory only, and
// killable and restartable on the same port (outage tests).
//
//   const redis = await startRedis();
//   redis.url                  // redis://127.0.0.1:PORT
//   await redis.kill();        // SIGKILL, as a crashed Redis
//   await redis.start();       // again, same port, empty
//   await redis.stop();
const { spawn } = require('node:child_process');
const net = require('node:net');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function waitReady(child, port) {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server on ${port} not ready: ${out}`)), 10000);
    child.stdout.on('data', (d) => {
      out += d;
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${out}`));
    });
  });
}

async function startRedis(options = {}) {
  const port = options.port || await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--protected-mode', 'no', ...(options.args || [])];
  let child = null;
  const r = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      await waitReady(child, port);
    },
    kill() {
      return new Promise((resolve) => {
        if (!child || child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    },
    pause() { child.kill('SIGSTOP'); },
    resume() { child.kill('SIGCONT'); },
    stop() { return r.kill(); },
  };
  await r.start();
  return r;
}

module.exports = { startRedis };
