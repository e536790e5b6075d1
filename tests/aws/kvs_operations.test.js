'use strict';
// aws/kvs against the local KVS emulator, through the C driver: every
// operation with static credentials, and the emulator's counters agreeing with
// the client's own count of upstream calls.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { drive, baseEnv, startEmulator, emulatorMissing, STATIC_CREDS, uniqueName } = require('./lib');

describe('KVS operations against the emulator', { skip: emulatorMissing }, () => {
  let emu;
  let envs;
  const run = (...args) => drive(args, envs);

  before(async () => {
    emu = await startEmulator();
    envs = baseEnv(emu, STATIC_CREDS);
  });
  after(async () => { if (emu) await emu.stop(); });

  test('create with TTL and tags returns the ARN, and the tags are listed', async () => {
    const name = uniqueName('ops-create');
    const r = await run('create', name, '30', 'owner=alice', 'team=video');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.last.arn, new RegExp(`^arn:aws:kinesisvideo:${emu.region}:\\d+:channel/${name}/\\d+$`));
    assert.equal(r.last.upstreamCalls, 1);
    const t = await run('tags', r.last.arn);
    assert.equal(t.code, 0, t.stdout);
    assert.deepEqual(t.last.tags, { owner: 'alice', team: 'video' });
    const d = await run('describe', name);
    assert.equal(d.last.channel.messageTtl, 30);
  });

  test('describe by name and by ARN gives an ACTIVE SINGLE_MASTER channel', async () => {
    const name = uniqueName('ops-describe');
    const c = await run('create', name);
    const byName = await run('describe', name);
    assert.equal(byName.code, 0, byName.stdout);
    const ch = byName.last.channel;
    assert.equal(ch.name, name);
    assert.equal(ch.arn, c.last.arn);
    assert.equal(ch.status, 'ACTIVE');
    assert.equal(ch.type, 'SINGLE_MASTER');
    assert.match(ch.version, /^[a-zA-Z0-9]{1,64}$/);
    assert.ok(Math.abs(ch.creationTime - Date.now() / 1000) < 120, `creationTime ${ch.creationTime}`);
    const byArn = await run('describe-arn', c.last.arn);
    assert.equal(byArn.last.channel.name, name);
  });

  test('creating an existing name answers channel-not-active (ResourceInUse)', async () => {
    const name = uniqueName('ops-dup');
    assert.equal((await run('create', name)).code, 0);
    const again = await run('create', name);
    assert.equal(again.last.err, 'KG_ERR_CHANNEL_NOT_ACTIVE');
    assert.equal(again.last.errorType, 'ResourceInUseException');
    assert.equal(again.last.upstreamCalls, 1);
  });

  test('list pages with a prefix and NextToken until the end', async () => {
    const prefix = uniqueName('ops-list');
    const names = [];
    for (let i = 0; i < 5; i++) {
      names.push(`${prefix}-${i}`);
      assert.equal((await run('create', `${prefix}-${i}`)).code, 0);
    }
    await run('create', uniqueName('ops-other'));
    const first = await run('list', prefix, '2', '-');
    assert.equal(first.code, 0, first.stdout);
    assert.equal(first.last.channels.length, 2);
    assert.ok(first.last.nextToken.length > 0);
    const second = await run('list', prefix, '2', first.last.nextToken);
    assert.equal(second.last.channels.length, 2);
    assert.ok(!second.last.channels.some((n) => first.last.channels.includes(n)));
    const all = await run('list-all', prefix, '2');
    assert.equal(all.code, 0, all.stdout);
    assert.deepEqual([...all.last.channels].sort(), names.sort());
    assert.equal(all.last.pages, 3);
    assert.equal(all.last.nextToken, '');
    const everything = await run('list-all', '-', '100');
    assert.ok(everything.last.channels.length >= 6);
  });

  test('endpoints per role: WSS and HTTPS of the master and of a viewer', async () => {
    const name = uniqueName('ops-ep');
    const arn = (await run('create', name)).last.arn;
    const m = await run('endpoints', arn, 'MASTER');
    const v = await run('endpoints', arn, 'VIEWER');
    assert.equal(m.code, 0, m.stdout);
    assert.match(m.last.wss, /^wss?:\/\/.+master$/);
    assert.match(v.last.wss, /^wss?:\/\/.+viewer$/);
    assert.match(m.last.https, /^https?:\/\/.+\/https$/);
  });

  test('ICE servers come from the channel endpoint with fresh TURN credentials each call', async () => {
    const name = uniqueName('ops-ice');
    const arn = (await run('create', name)).last.arn;
    const https = (await run('endpoints', arn, 'VIEWER')).last.https;
    const a = await run('ice', https, arn, 'viewer-1');
    const b = await run('ice', https, arn, 'viewer-1');
    assert.equal(a.code, 0, a.stdout + a.stderr);
    assert.ok(a.last.servers.length >= 1);
    for (const s of a.last.servers) {
      assert.ok(s.uris.every((u) => /^turns?:/.test(u)), s.uris.join());
      assert.equal(s.ttl, 300);
      const [expiry, b64] = s.username.split(':');
      assert.ok(Math.abs(Number(expiry) - (Date.now() / 1000 + 300)) < 60, s.username);
      assert.equal(Buffer.from(b64, 'base64').toString(), `v1:${arn}`);
    }
    assert.equal(a.last.minTtl, 300);
    assert.equal(a.last.stun, `stun:stun.kinesisvideo.${emu.region}.amazonaws.com:443`);
    assert.notEqual(a.last.servers[0].passwordSha256, b.last.servers[0].passwordSha256);
    const master = await run('ice', https, arn);
    assert.equal(master.code, 0, master.stdout);
  });

  test('delete, then describe answers channel-not-found', async () => {
    const name = uniqueName('ops-del');
    const arn = (await run('create', name)).last.arn;
    const del = await run('delete', arn);
    assert.equal(del.code, 0, del.stdout);
    const d = await run('describe', name);
    assert.equal(d.last.err, 'KG_ERR_CHANNEL_NOT_FOUND');
    assert.equal(d.last.errorType, 'ResourceNotFoundException');
    assert.equal(d.last.upstreamCalls, 1, 'a 404 is not retried');
    const again = await run('delete', arn);
    assert.equal(again.last.err, 'KG_ERR_CHANNEL_NOT_FOUND');
  });

  test("the emulator's counters match the client's upstream calls", async () => {
    await emu.resetCounters();
    const name = uniqueName('ops-count');
    const c = await run('create', name);
    const d = await run('describe', name);
    const e = await run('endpoints', c.last.arn, 'MASTER');
    const i = await run('ice', e.last.https, c.last.arn);
    assert.equal(await emu.count('CreateSignalingChannel'), c.last.upstreamCalls);
    assert.equal(await emu.count('DescribeSignalingChannel'), d.last.upstreamCalls);
    assert.equal(await emu.count('GetSignalingChannelEndpoint'), e.last.upstreamCalls);
    assert.equal(await emu.count('GetIceServerConfig'), i.last.upstreamCalls);
    assert.equal(await emu.count('DescribeSignalingChannel', 'ok'), 1);
  });

  test('a reused connection is faster than a new one (measured, printed)', async () => {
    const name = uniqueName('ops-bench');
    await run('create', name);
    const b = await run('bench', '100', name);
    assert.equal(b.code, 0, b.stdout + b.stderr);
    // eslint-disable-next-line no-console
    console.log(`# DescribeSignalingChannel on loopback: ${b.last.reusedUs} us reused, ` +
      `${b.last.newConnectionUs} us with a new connection`);
    assert.ok(b.last.reusedUs > 0 && b.last.newConnectionUs > 0);
  });
});
