'use strict';
// Every AWS error shape the emulator can produce, on every operation a route
// uses: its fault knobs (throttle, 5xx, reset, stall, garbage, truncate) and
// the AWS errors themselves (ResourceNotFound, ResourceInUse,
// InvalidArgument, AccountChannelLimitExceeded, signature and credential
// failures). Each maps onto one problem+json status and code, with
// Retry-After where the contract says, quickly (the request deadline holds),
// and never a hang, a crash or an AWS message in the answer.
// (integration/resilience.test.js covers retries, recovery and degraded modes;
// this file covers the mapping of each shape.)
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const hostile = require('./helpers');
const { startKvsgate } = require('../lib/kvsgate');

const { request } = hostile;
const DEADLINE_MS = 2000;
let h, auth, seq = 0;

before(async () => {
  h = await hostile.start({
    env: {
      KVSGATE_REQUEST_DEADLINE_MS: String(DEADLINE_MS),
      KVSGATE_AWS_CALL_TIMEOUT_MS: '600',
      KVSGATE_AWS_MAX_ATTEMPTS: '2',
    },
    emuOptions: { args: ['--max-channels', '60'] },
  });
  auth = { Authorization: `Bearer ${h.admin}` };
  for (let i = 0; i < 5; i++) await create(`cam-warm-${i}`);
  h.baseline();
});

after(async () => {
  if (h) {
    await h.emu.setFaults({ throttleRate: 0, errorRate: 0, resetRate: 0, stallMs: 0, garbageRate: 0, truncateRate: 0, operations: null, createDelayMs: 0, deleteDelayMs: 0, clockSkewS: 0 });
    await h.finish();
  }
});

async function create(name, body = null) {
  const r = await h.send(request('PUT', `/v1/channels/${name}`, body ? { ...auth, 'Content-Type': 'application/json' } : auth, body));
  assert.ok([200, 201].includes(r.res.status), `${name}: ${r.res.text}`);
}

const FAULTS = {
  throttle: [{ throttleRate: 1 }, [503], 'upstream_throttled'],
  error: [{ errorRate: 1 }, [503], 'upstream_unavailable'],
  reset: [{ resetRate: 1 }, [503], 'upstream_unavailable'],
  stall: [{ stallMs: 30000 }, [504], 'upstream_timeout'],
  garbage: [{ garbageRate: 1 }, [502], 'upstream_unavailable'],
  truncate: [{ truncateRate: 1 }, [502, 503], 'upstream_unavailable'],
};

// One route under one fault on one operation; the channel exists and nothing
// about it is cached yet.
async function underFault(kind, operation, route) {
  const name = `cam-f-${seq++}`;
  if (route !== 'create') await create(name);
  const [knobs, statuses, code] = FAULTS[kind];
  await h.emu.setFaults({ ...knobs, operations: [operation] });
  const t0 = Date.now();
  let r;
  try {
    const target = {
      describe: ['GET', `/v1/channels/${name}`],
      list: ['GET', `/v1/channels?prefix=${name}`],
      create: ['PUT', `/v1/channels/${name}`],
      delete: ['DELETE', `/v1/channels/${name}`],
      viewer: ['GET', `/v1/channels/${name}/viewer`],
      master: ['GET', `/v1/channels/${name}/master`],
    }[route];
    r = await h.send(request(target[0], target[1], auth));
  } finally {
    await h.emu.setFaults({ throttleRate: 0, errorRate: 0, resetRate: 0, stallMs: 0, garbageRate: 0, truncateRate: 0, operations: null });
  }
  h.count(`AWS ${kind}`);
  const took = Date.now() - t0;
  assert.ok(r.res, `${kind} on ${operation} (${route}): no answer`);
  assert.ok(statuses.includes(r.res.status), `${kind} on ${operation} (${route}): ${r.res.status} ${r.res.text}`);
  const body = h.problem(r, r.res.status, code);
  if ([429, 503].includes(r.res.status)) assert.ok(Number(r.res.headers['retry-after']) >= 1, 'Retry-After');
  assert.ok(took < DEADLINE_MS + 1500, `${kind} on ${operation} took ${took} ms`);
  // Nothing of AWS's answer leaks: no exception names, no emulator messages.
  assert.doesNotMatch(r.res.text, /Exception|InternalFailure|ServiceUnavailable|Rate exceeded|<html|xml/i);
  return body;
}

for (const kind of Object.keys(FAULTS)) {
  test(`${kind} on every control-plane operation maps to ${FAULTS[kind][2]}`, async () => {
    await underFault(kind, 'DescribeSignalingChannel', 'describe');
    await underFault(kind, 'DescribeSignalingChannel', 'master');
    await underFault(kind, 'ListSignalingChannels', 'list');
    await underFault(kind, 'CreateSignalingChannel', 'create');
    await underFault(kind, 'DeleteSignalingChannel', 'delete');
    await underFault(kind, 'GetSignalingChannelEndpoint', 'viewer');
    await h.healthy();
  });
}

test('ICE faults degrade to STUN only (or fail when configured to)', async () => {
  const strict = await startKvsgate({ emulator: h.emu, env: { KVSGATE_ICE_FALLBACK: 'fail', KVSGATE_RATE_LIMIT_RPS: '0',
    KVSGATE_REQUEST_DEADLINE_MS: String(DEADLINE_MS), KVSGATE_AWS_CALL_TIMEOUT_MS: '600', KVSGATE_AWS_MAX_ATTEMPTS: '2' } });
  try {
    for (const kind of Object.keys(FAULTS)) {
      const name = `cam-ice-${seq++}`;
      await create(name);
      await h.emu.setFaults({ ...FAULTS[kind][0], operations: ['GetIceServerConfig'] });
      try {
        const r = await h.send(request('GET', `/v1/channels/${name}/viewer`, auth));
        h.count(`AWS ${kind}`);
        if (kind === 'garbage') {
          // An unreadable 200 is a refusal, not a transient failure: no
          // degraded answer (as for AccessDenied), a 502.
          h.problem(r, 502, 'upstream_unavailable');
        } else {
          assert.equal(r.res.status, 200, `${kind}: ${r.res.text}`);
          assert.equal(r.res.headers['x-kvsgate-ice'], 'stun-only');
          const info = JSON.parse(r.res.text);
          assert.equal(info.configuration.iceServers.length, 1);
        }
        const s = await hostile.exchange(strict.port, request('GET', `/v1/channels/${name}/master`, auth));
        h.count(`AWS ${kind}`);
        assert.ok([502, 503, 504].includes(s.res.status), `${kind} (fail mode): ${s.res.status}`);
        h.problem(s, s.res.status);
      } finally {
        await h.emu.setFaults({ throttleRate: 0, errorRate: 0, resetRate: 0, stallMs: 0, garbageRate: 0, truncateRate: 0, operations: null });
      }
    }
  } finally {
    await strict.stop();
  }
  await h.healthy();
});

test('AWS errors: ResourceNotFound, ResourceInUse, InvalidArgument, channel limit', async () => {
  const get = async (method, target, status, code, body = null) => {
    const r = await h.send(request(method, target, body ? { ...auth, 'Content-Type': 'application/json' } : auth, body));
    h.count('AWS errors');
    return h.problem(r, status, code);
  };
  // ResourceNotFoundException on Describe, for every route that needs it.
  await get('GET', '/v1/channels/cam-nowhere', 404, 'channel_not_found');
  await get('GET', '/v1/channels/cam-nowhere/viewer', 404, 'channel_not_found');
  await get('GET', '/v1/channels/cam-nowhere/master', 404, 'channel_not_found');
  await get('DELETE', '/v1/channels/cam-nowhere', 404, 'channel_not_found');
  // A channel still CREATING: not active yet, with Retry-After.
  await h.emu.setFaults({ createDelayMs: 5000 });
  try {
    await create('cam-creating');
    const body = await get('GET', '/v1/channels/cam-creating/viewer', 409, 'channel_not_active');
    assert.ok(body.detail);
  } finally {
    await h.emu.setFaults({ createDelayMs: 0 });
  }
  // Deleting one that is being deleted: ResourceInUse, or already gone.
  await create('cam-deleting');
  await h.emu.setFaults({ deleteDelayMs: 5000 });
  try {
    const first = await h.send(request('DELETE', '/v1/channels/cam-deleting', auth));
    assert.equal(first.res.status, 204, first.res.text);
    const again = await h.send(request('DELETE', '/v1/channels/cam-deleting', auth));
    h.count('AWS errors');
    assert.ok([404, 409].includes(again.res.status), again.res.text);
    h.problem(again, again.res.status);
    const put = await h.send(request('PUT', '/v1/channels/cam-deleting', auth));
    h.count('AWS errors');
    assert.ok([200, 409].includes(put.res.status), put.res.text);
  } finally {
    await h.emu.setFaults({ deleteDelayMs: 0 });
  }
  // InvalidArgumentException: a tag KVS refuses that kvsgate leaves to it.
  await get('PUT', '/v1/channels/cam-badtag', 400, 'bad_request', JSON.stringify({ tags: { price: '5\u20ac' } }));
  await get('PUT', '/v1/channels/cam-badtag2', 400, 'bad_request', JSON.stringify({ tags: { '\u00a9': 'x' } }));
  // AccountChannelLimitExceededException: refused upstream (502).
  let limited = false;
  for (let i = 0; i < 100 && !limited; i++) {
    const r = await h.send(request('PUT', `/v1/channels/cam-fill-${i}`, auth));
    if (r.res.status === 201) continue;
    h.count('AWS errors');
    h.problem(r, 502, 'upstream_unavailable');
    limited = true;
  }
  assert.ok(limited, 'the emulator never refused a channel past --max-channels');
  await h.healthy();
});

test('signature and credential failures upstream are 502, never a crash', async () => {
  const cases = [
    { AWS_SECRET_ACCESS_KEY: 'WRONGSECRET' },
    { AWS_ACCESS_KEY_ID: 'AKIDUNKNOWN' },
    { AWS_SESSION_TOKEN: 'bm90LWEtdG9rZW4=' },
  ];
  for (const env of cases) {
    const g = await startKvsgate({ emulator: h.emu, env: { ...env, KVSGATE_RATE_LIMIT_RPS: '0' } });
    try {
      for (const target of ['/v1/channels/cam-warm-1', '/v1/channels/cam-warm-1/viewer', '/v1/channels']) {
        const r = await hostile.exchange(g.port, request('GET', target, auth));
        h.count('AWS auth errors');
        h.problem(r, 502, 'upstream_unavailable');
        assert.doesNotMatch(r.res.text, /signature|canonical|WRONGSECRET|AKIDUNKNOWN/i);
      }
      h.noSecrets(g.stderr());
      assert.ok(!g.stderr().includes('WRONGSECRET'));
    } finally {
      await g.stop();
    }
  }
  // Clock skew: the emulator's clock 20 minutes ahead. The refusal's Date
  // teaches kvsgate AWS's time and the call is signed again (docs/endpoints.md);
  // back to the host's time, the next refusal teaches it again.
  await h.emu.setFaults({ clockSkewS: 1200 });
  try {
    const r = await h.send(request('GET', `/v1/channels/cam-warm-2`, auth));
    h.count('AWS clock skew');
    assert.equal(r.res.status, 200, r.res.text);
  } finally {
    await h.emu.setFaults({ clockSkewS: 0 });
  }
  await new Promise((res) => setTimeout(res, 2100)); // past the management read's reuse
  const back = await h.send(request('GET', `/v1/channels/cam-warm-2`, auth));
  assert.equal(back.res.status, 200, back.res.text);
  await h.healthy();
});

test('the suite sent at least 50 requests against failing AWS here', () => {
  const total = Object.values(hostile.counts).reduce((a, b) => a + b, 0);
  assert.ok(total >= 50, `only ${total}`);
});
