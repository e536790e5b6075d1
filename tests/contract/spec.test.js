'use strict';
// openapi.yaml itself: it lints clean (redocly) and validates (swagger-parser);
// the binary serves exactly it and routes every path and method it lists; and
// the response checker used by every integration test really rejects
// responses that break the contract (so it cannot pass by accident).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const SwaggerParser = require('@apidevtools/swagger-parser');
const env = require('../lib/env');
const openapi = require('../lib/openapi');
const { startKvsgate } = require('../lib/kvsgate');

let gate;

before(async () => {
  gate = await startKvsgate({ env: { AWS_ACCESS_KEY_ID: 'AKIDLOCAL', AWS_SECRET_ACCESS_KEY: 'SECRETLOCAL' } });
});

after(async () => { if (gate) await gate.stop(); });

test('openapi.yaml lints clean with redocly', () => {
  const redocly = path.join(env.sourceDir, 'node_modules', '.bin', 'redocly');
  const r = spawnSync(redocly, ['lint', '--format', 'stylish', 'openapi.yaml'],
    { cwd: env.sourceDir, encoding: 'utf8', env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /Your API description is valid/);
  assert.doesNotMatch(r.stdout + r.stderr, /You have \d+ warning/);
});

test('openapi.yaml is a valid OpenAPI 3.1 document (swagger-parser)', async () => {
  const api = await SwaggerParser.validate(openapi.specPath);
  assert.equal(api.openapi, '3.1.0');
});

test('the binary serves exactly the spec it was built with', async () => {
  const r = await fetch(gate.url + '/openapi.yaml');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/yaml');
  assert.equal(await r.text(), fs.readFileSync(openapi.specPath, 'utf8'));
});

test('every path and method in the spec is routed (never 404 or 405)', async () => {
  let n = 0;
  for (const [template, item] of Object.entries(openapi.spec.paths)) {
    const p = template.replace('{name}', 'cam-contract');
    for (const method of Object.keys(item).filter((k) => ['get', 'put', 'delete', 'options'].includes(k))) {
      const headers = method === 'options' ? { origin: 'https://x.example', 'access-control-request-method': 'GET' } : {};
      const r = await fetch(gate.url + p, { method: method.toUpperCase(), headers });
      assert.ok(![404, 405].includes(r.status), `${method} ${template} -> ${r.status}`);
      await r.text();
      n++;
    }
  }
  assert.ok(n >= 14, `checked ${n} operations`);
});

test('the response checker rejects what breaks the contract', () => {
  const headers = { 'x-request-id': 'abc', 'content-type': 'application/json', 'cache-control': 'no-store' };
  const ok = { role: 'VIEWER', url: 'wss://h/?a=b', configuration: { iceServers: [{ urls: ['stun:h:443'] }], iceTransportPolicy: 'all' },
    channelName: 'c', channelArn: 'arn', region: 'r', clientId: 'alice', expiresAt: '2026-11-21T10:04:59Z', iceServersExpireAt: '2026-11-21T10:04:30Z',
    serverTime: '2026-11-21T10:00:00Z' };
  openapi.check('GET', '/v1/channels/c/viewer', { status: 200, headers, body: JSON.stringify(ok) });
  const cases = [
    ['a missing field', { status: 200, headers, body: JSON.stringify({ ...ok, url: undefined }) }],
    ['an extra field', { status: 200, headers, body: JSON.stringify({ ...ok, secret: 'x' }) }],
    ['an unlisted status', { status: 418, headers, body: '{}' }],
    ['no X-Request-Id', { status: 200, headers: { ...headers, 'x-request-id': undefined }, body: JSON.stringify(ok) }],
    ['no Cache-Control', { status: 200, headers: { ...headers, 'cache-control': undefined }, body: JSON.stringify(ok) }],
    ['a wrong content type', { status: 200, headers: { ...headers, 'content-type': 'text/html' }, body: JSON.stringify(ok) }],
    ['a problem without code', { status: 404, headers: { ...headers, 'content-type': 'application/problem+json' }, body: JSON.stringify({ type: 'x', title: 't', status: 404, requestId: 'r' }) }],
  ];
  for (const [what, res] of cases) {
    assert.throws(() => openapi.check('GET', '/v1/channels/c/viewer', res), /breaks openapi.yaml/, what);
  }
});
