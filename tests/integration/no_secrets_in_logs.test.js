'use strict';
// Runs a full scenario with temporary AWS credentials (a session token), then
// searches everything kvsgate logged for every secret it handled: the secret
// key, the session token, each JWT, each URL signature and each TURN password.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate } = require('../lib/kvsgate');
const { client } = require('../lib/client');
const { mint } = require('../lib/tokens');
const signaling = require('../lib/signaling');

let emu, gate, api;
const secrets = new Set();

async function stsCredentials(emuUrl) {
  const body = new URLSearchParams({
    Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: 'arn:aws:iam::123456789012:role/test',
    RoleSessionName: 'logs-test', WebIdentityToken: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.sig',
  });
  const r = await fetch(emuUrl + '/', { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  const xml = await r.text();
  const pick = (tag) => xml.match(new RegExp(`<${tag}>([^<]+)</${tag}>`))[1];
  return { id: pick('AccessKeyId'), secret: pick('SecretAccessKey'), token: pick('SessionToken') };
}

before(async () => {
  emu = await startEmulator();
  const c = await stsCredentials(emu.url);
  secrets.add(c.secret);
  secrets.add(c.token);
  gate = await startKvsgate({
    emulator: emu,
    env: { AWS_ACCESS_KEY_ID: c.id, AWS_SECRET_ACCESS_KEY: c.secret, AWS_SESSION_TOKEN: c.token, KVSGATE_LOG_LEVEL: 'debug' },
  });
  api = client(gate.url);
});

after(async () => {
  if (gate) await gate.stop();
  if (emu) await emu.stop();
});

test('a full scenario logs no secret, token, signature or TURN password', async () => {
  const admin = await mint({ sub: 'admin', kvs: { manage: ['cam-*'], master: ['cam-*'], viewer: ['cam-*'] } });
  const bad = await mint({ sub: 'x', kvs: {} }, { ttl: -3600 });
  secrets.add(admin);
  secrets.add(bad);
  assert.equal((await api.put('/v1/channels/cam-logs', { token: admin })).status, 201);
  for (const role of ['master', 'viewer']) {
    const r = await api.get(`/v1/channels/cam-logs/${role}`, { token: admin });
    assert.equal(r.status, 200, r.text);
    const u = new URL(r.json.url);
    assert.equal(u.searchParams.get('X-Amz-Security-Token'), [...secrets][1], 'the session token is signed into the URL');
    secrets.add(u.searchParams.get('X-Amz-Signature'));
    for (const s of r.json.configuration.iceServers) if (s.credential) secrets.add(s.credential);
    const peer = await signaling.open(r.json.url);
    await peer.close();
  }
  assert.equal((await api.get('/v1/channels/cam-logs', { token: bad })).status, 401);
  assert.equal((await api.get('/v1/channels/cam-logs', { token: admin + 'x' })).status, 401);
  assert.equal((await api.del('/v1/channels/cam-logs', { token: admin })).status, 204);
  await gate.stop();
  const text = gate.stderr();
  assert.ok(text.includes('"event":"access"'), 'the scenario was logged');
  for (const s of secrets) {
    assert.ok(s && s.length >= 16, 'every secret was captured');
    assert.ok(!text.includes(s), `a secret reached the log: ${s.slice(0, 6)}...`);
    // nor any long piece of it (e.g. a JWT's signature segment)
    for (const part of s.split('.')) if (part.length >= 20) assert.ok(!text.includes(part), 'a secret part reached the log');
  }
  assert.ok(secrets.size >= 8, `checked ${secrets.size} secrets`);
});
