'use strict';
// The cold path's AWS calls per channel with 1, 2 and 3 replicas, each alone
// and sharing a redis-server: CHANNELS fresh channels, every one requested
// (viewer connection info) through every replica at once, AWS_LATENCY_MS
// added to each AWS call at the emulator; the emulator counts the calls.
//
//   node bench/lib/cold.js OUT.json KVSGATE_BINARY
const fs = require('node:fs');
const path = require('node:path');
process.env.KVSGATE_BIN = path.resolve(process.argv[3]);
const { startEmulator } = require('../../tests/lib/emulator');
const { startKvsgate } = require('../../tests/lib/kvsgate');
const { startRedis } = require('../../tests/lib/redis');
const { client } = require('../../tests/lib/client');
const { mint } = require('../../tests/lib/tokens');
const { kvsClient, createChannel } = require('../../tests/emulator/helpers');

const CHANNELS = Number(process.env.BENCH_COLD_CHANNELS || 40);
const AWS_LATENCY_MS = Number(process.env.BENCH_AWS_LATENCY_MS || 50);
const OPS = ['DescribeSignalingChannel', 'GetSignalingChannelEndpoint', 'GetIceServerConfig'];

async function one(emu, redis, replicas, tag) {
  const env = { KVSGATE_ACCESS_LOG: 'false', KVSGATE_RATE_LIMIT_RPS: '0' };
  if (redis) Object.assign(env, { KVSGATE_REDIS_URL: redis.url, KVSGATE_REDIS_KEY: 'bench-only redis value key, 32+ bytes' });
  const gates = [];
  for (let i = 0; i < replicas; i++) gates.push(await startKvsgate({ emulator: emu, env }));
  try {
    const names = Array.from({ length: CHANNELS }, (_, i) => `cold-${tag}-${i}`);
    const aws = kvsClient(emu);
    await emu.setFaults({ latencyMs: null });
    await Promise.all(names.map((n) => createChannel(aws, n)));
    await emu.setFaults({ latencyMs: AWS_LATENCY_MS });
    await emu.resetCounters();
    const token = await mint({ sub: `cold-${tag}`, kvs: { viewer: ['*'] } });
    const t0 = Date.now();
    const rs = await Promise.all(names.flatMap((n) => gates.map((g) => client(g.url).get(`/v1/channels/${n}/viewer`, { token, contract: false }))));
    const ms = Date.now() - t0;
    const failed = rs.filter((r) => r.status !== 200).length;
    const calls = {};
    for (const op of OPS) calls[op] = await emu.count(op);
    const total = OPS.reduce((a, op) => a + calls[op], 0);
    return { replicas, redis: !!redis, channels: CHANNELS, failed, wall_ms: ms, calls, calls_per_channel: +(total / CHANNELS).toFixed(2) };
  } finally {
    for (const g of gates) await g.stop();
  }
}

(async () => {
  const emu = await startEmulator();
  const redis = await startRedis();
  const rows = [];
  try {
    for (const replicas of [1, 2, 3]) {
      for (const shared of [false, true]) {
        await redis.kill();
        await redis.start(); // empty for every case
        const row = await one(emu, shared ? redis : null, replicas, `${replicas}${shared ? 'r' : 'l'}`);
        rows.push(row);
        console.error(`cold: ${replicas} replica(s) ${shared ? 'with' : 'without'} Redis: ${row.calls_per_channel} AWS calls per channel ${JSON.stringify(row.calls)}, ${row.failed} failed, ${row.wall_ms} ms`);
      }
    }
  } finally {
    await redis.stop();
    await emu.stop();
  }
  fs.writeFileSync(process.argv[2], `${JSON.stringify({ aws_latency_ms: AWS_LATENCY_MS, rows }, null, 1)}\n`);
})().catch((e) => { console.error(e); process.exit(1); });
