'use strict';
// Shared by tests/aws/*.test.js: runs the C driver (tests/aws/kvs_drive.c,
// built as $KVSGATE_BUILD_DIR/tests/kvs_drive) against the local KVS emulator.
//
// The driver gets a clean environment (never the caller's AWS settings): PATH,
// the emulator's region and endpoint, IMDS off, plus what the test passes.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');
const env = require('../lib/env');
const { startEmulator, serverPath } = require('../lib/emulator');
const sanitizers = require('../lib/sanitizers');

const driverPath = path.join(env.buildDir, 'tests', 'kvs_drive');

// The emulator is built on another branch; until it is in this tree the
// integration tests are skipped (run them by pointing KVSGATE_SOURCE_DIR at a
// tree that has it, with KVSGATE_BUILD_DIR at this build).
const emulatorMissing = fs.existsSync(serverPath) ? false
  : `the KVS emulator is not in this tree (${serverPath})`;

const STATIC_CREDS = { AWS_ACCESS_KEY_ID: 'AKIDLOCAL', AWS_SECRET_ACCESS_KEY: 'SECRETLOCAL' };

function baseEnv(emu, extra = {}) {
  return {
    PATH: process.env.PATH,
    AWS_REGION: emu.region || 'us-west-2',
    KVSGATE_KVS_ENDPOINT: emu.url,
    AWS_EC2_METADATA_DISABLED: 'true',
    ...sanitizers.passEnv(),
    ...extra,
  };
}

// Runs the driver; resolves {code, lines (parsed JSON of stdout), last, stderr}.
function drive(args, driverEnv, { timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(driverPath, args, { env: driverEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kvs_drive ${args.join(' ')} did not finish in ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString();
      const report = sanitizers.findReport(Buffer.concat(err).toString());
      if (report) {
        reject(new Error(`kvs_drive ${args.join(' ')} reported a memory error:\n${report}`));
        return;
      }
      const lines = stdout.split('\n').filter(Boolean).map((l) => {
        try { return JSON.parse(l); } catch (e) { return { unparsed: l }; }
      });
      resolve({ code, lines, last: lines[lines.length - 1] || {}, stdout,
        stderr: Buffer.concat(err).toString() });
    });
  });
}

function tempFile(content) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsgate-aws-'));
  const file = path.join(dir, 'token');
  fs.writeFileSync(file, content);
  return file;
}

// A JWT-shaped token for AssumeRoleWithWebIdentity (the emulator checks the shape).
function fakeJwt(sub = 'system:serviceaccount:default:kvsgate') {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'RS256', kid: 'k1' })}.${b64({ sub, aud: 'sts.amazonaws.com' })}.c2lnbmF0dXJl`;
}

let seq = 0;
function uniqueName(prefix) {
  seq += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${seq}`;
}

module.exports = { drive, baseEnv, startEmulator, emulatorMissing, driverPath, STATIC_CREDS,
  tempFile, fakeJwt, uniqueName };
