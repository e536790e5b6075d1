#!/usr/bin/env node
'use strict';
// Helpers of bench/run.sh (one subcommand each; output is JSON on stdout):
//
//   keys DIR                        RSA-2048 and P-256 key pairs: DIR/{rs256,es256}.{pub,key}.pem
//   tokens DIR SECRET SUBJECTS TTL  DIR/tokens-{HS256,RS256,ES256}.txt, one token per subject,
//                                   minted with jose (never with kvsgate's code)
//   channels EMULATOR PREFIX COUNT  creates PREFIX0..PREFIX(COUNT-1) on the emulator with the AWS SDK
//   get URL PREFIX COUNT CONC TOKENS [ROUTE]
//                                   GET URL/v1/channels/PREFIXi/ROUTE (viewer) once for each i,
//                                   CONC at a time, tokens taken in turn from the file TOKENS
//                                   (kvsgate); ROUTE "express" asks the Express baseline instead
//   rss PID                         {"rss_kb": ..., "hwm_kb": ...} from /proc/PID/status
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const crypto = require('node:crypto');
const { SignJWT } = require('jose');

const ALGS = ['HS256', 'RS256', 'ES256'];

function keys(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const pairs = {
    rs256: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }),
    es256: crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  };
  for (const [name, kp] of Object.entries(pairs)) {
    fs.writeFileSync(path.join(dir, `${name}.pub.pem`), kp.publicKey.export({ type: 'spki', format: 'pem' }));
    fs.writeFileSync(path.join(dir, `${name}.key.pem`), kp.privateKey.export({ type: 'pkcs8', format: 'pem' }),
      { mode: 0o600 });
  }
  return { dir, keys: Object.keys(pairs) };
}

async function tokens(dir, secret, subjects, ttl) {
  const now = Math.floor(Date.now() / 1000);
  const signing = {
    HS256: new TextEncoder().encode(secret),
    RS256: crypto.createPrivateKey(fs.readFileSync(path.join(dir, 'rs256.key.pem'))),
    ES256: crypto.createPrivateKey(fs.readFileSync(path.join(dir, 'es256.key.pem'))),
  };
  const out = {};
  for (const alg of ALGS) {
    const list = [];
    for (let i = 0; i < subjects; i++) {
      // The shape a front end's IdP would give: subject, issue/expiry times and
      // kvsgate's grants claim.
      const claims = { sub: `bench-user-${i}`, iat: now, exp: now + ttl,
        kvs: { viewer: ['bench-*'], master: ['bench-*'], manage: ['bench-*'] } };
      list.push(await new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(signing[alg]));
    }
    const file = path.join(dir, `tokens-${alg}.txt`);
    fs.writeFileSync(file, list.join('\n') + '\n', { mode: 0o600 });
    out[alg] = { file, count: list.length, bytes: list[0].length };
  }
  return out;
}

async function pool(count, concurrency, fn) {
  let next = 0;
  const workers = [];
  for (let w = 0; w < Math.min(concurrency, count); w++) {
    workers.push((async () => {
      while (next < count) await fn(next++);
    })());
  }
  await Promise.all(workers);
}

async function channels(emulator, prefix, count) {
  const { KinesisVideoClient, CreateSignalingChannelCommand } = require('@aws-sdk/client-kinesis-video');
  const client = new KinesisVideoClient({
    region: process.env.AWS_REGION || 'us-west-2',
    endpoint: emulator,
    credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'SECRETLOCAL' },
    maxAttempts: 5,
  });
  let created = 0, existed = 0;
  const t0 = process.hrtime.bigint();
  await pool(count, 32, async (i) => {
    try {
      await client.send(new CreateSignalingChannelCommand({ ChannelName: `${prefix}${i}` }));
      created++;
    } catch (e) {
      if (e.name !== 'ResourceInUseException') throw e;
      existed++;
    }
  });
  client.destroy();
  return { created, existed, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

async function get(url, prefix, count, concurrency, tokenFile, route = 'viewer') {
  const list = fs.readFileSync(tokenFile, 'utf8').split('\n').filter(Boolean);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const statuses = {};
  const latencies = [];
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  await pool(count, concurrency, (i) => new Promise((resolve, reject) => {
    const p = route === 'express'
      ? `/channel/viewer/${prefix}${i}/bench-user-${i % list.length}`
      : `/v1/channels/${prefix}${i}/${route}`;
    const start = process.hrtime.bigint();
    const req = http.get(url + p, { agent, headers: { authorization: `Bearer ${list[i % list.length]}` } }, (res) => {
      res.on('data', (d) => { bytes += d.length; });
      res.on('end', () => {
        latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
        statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
        resolve();
      });
    });
    req.on('error', reject);
  }));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    requests: count, concurrency, statuses, seconds, rps: count / seconds, bytes,
    p50_ms: percentile(latencies, 50), p99_ms: percentile(latencies, 99), max_ms: latencies[latencies.length - 1],
  };
}

function rss(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number((status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm')) || [])[1] || 0);
  const threads = Number((status.match(/^Threads:\s+(\d+)/m) || [])[1] || 0);
  return { rss_kb: kb('VmRSS'), hwm_kb: kb('VmHWM'), threads };
}

async function main() {
  const [cmd, ...a] = process.argv.slice(2);
  let out;
  switch (cmd) {
    case 'keys': out = keys(a[0]); break;
    case 'tokens': out = await tokens(a[0], a[1], Number(a[2]), Number(a[3])); break;
    case 'channels': out = await channels(a[0], a[1], Number(a[2])); break;
    case 'get': out = await get(a[0], a[1], Number(a[2]), Number(a[3]), a[4], a[5]); break;
    case 'rss': out = rss(a[0]); break;
    default:
      process.stderr.write('usage: bench.js keys|tokens|channels|get|rss ... (see the header)\n');
      process.exit(2);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench.js: ${e.stack || e}\n`);
  process.exit(1);
});
