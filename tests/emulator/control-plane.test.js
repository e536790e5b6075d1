'use strict';
// The KVS control plane of the emulator, driven by the official AWS SDK for
// JavaScript v3 (@aws-sdk/client-kinesis-video) as an independent signer and
// as the judge of the wire shapes: every operation, the AWS errors with their
// statuses, and SigV4 refusals with the right error types.
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startEmulator } = require('../lib/emulator');
const h = require('./helpers');

const { kv } = h;

// Asserts that `promise` rejects with an SDK error of `name` and HTTP `status`.
async function rejectsWith(promise, name, status) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.name, name, `${err.name}: ${err.message}`);
    assert.equal(err.$metadata.httpStatusCode, status);
    return true;
  });
}

describe('control plane with the AWS SDK v3', () => {
  let emu;
  let client;
  before(async () => {
    emu = await startEmulator();
    client = h.kvsClient(emu);
  });
  after(() => emu.stop());

  test('CreateSignalingChannel answers an ARN of the AWS shape and Describe shows the channel ACTIVE', async () => {
    const before = Date.now();
    const arn = await h.createChannel(client, 'cp-create', {
      SingleMasterConfiguration: { MessageTtlSeconds: 30 },
      Tags: [{ Key: 'team', Value: 'video' }],
    });
    assert.match(arn, /^arn:aws:kinesisvideo:us-west-2:123456789012:channel\/cp-create\/\d{13}$/);
    const byName = await client.send(new kv.DescribeSignalingChannelCommand({ ChannelName: 'cp-create' }));
    const byArn = await client.send(new kv.DescribeSignalingChannelCommand({ ChannelARN: arn }));
    for (const info of [byName.ChannelInfo, byArn.ChannelInfo]) {
      assert.equal(info.ChannelName, 'cp-create');
      assert.equal(info.ChannelARN, arn);
      assert.equal(info.ChannelType, 'SINGLE_MASTER');
      assert.equal(info.ChannelStatus, 'ACTIVE');
      assert.equal(info.SingleMasterConfiguration.MessageTtlSeconds, 30);
      assert.match(info.Version, /^[a-zA-Z0-9]{1,64}$/);
      assert.ok(info.CreationTime instanceof Date);
      assert.ok(Math.abs(info.CreationTime.getTime() - before) < 5000);
      assert.equal(String(info.CreationTime.getTime()), arn.split('/').pop());
    }
  });

  test('CreationTime is epoch seconds as a JSON number on the wire, and MessageTtlSeconds defaults to 60', async () => {
    await h.createChannel(client, 'cp-wire');
    const r = await h.signedRequest(`${emu.url}/describeSignalingChannel`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ChannelName: 'cp-wire' }),
    });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /application\/json/);
    const info = JSON.parse(r.body).ChannelInfo;
    assert.equal(typeof info.CreationTime, 'number');
    assert.ok(info.CreationTime > 1.6e9 && info.CreationTime < 1e11);
    assert.equal(info.SingleMasterConfiguration.MessageTtlSeconds, 60);
  });

  test('a name that is taken is ResourceInUseException (400)', async () => {
    await h.createChannel(client, 'cp-taken');
    await rejectsWith(h.createChannel(client, 'cp-taken'), 'ResourceInUseException', 400);
  });

  test('an unknown channel is ResourceNotFoundException (404), by name and by ARN', async () => {
    await rejectsWith(client.send(new kv.DescribeSignalingChannelCommand({ ChannelName: 'cp-nope' })), 'ResourceNotFoundException', 404);
    await rejectsWith(client.send(new kv.DescribeSignalingChannelCommand({
      ChannelARN: 'arn:aws:kinesisvideo:us-west-2:123456789012:channel/cp-nope/1234567890123',
    })), 'ResourceNotFoundException', 404);
  });

  test('validation errors are InvalidArgumentException (400)', async () => {
    const bad = [
      new kv.CreateSignalingChannelCommand({ ChannelName: 'has space' }),
      new kv.CreateSignalingChannelCommand({ ChannelName: 'x'.repeat(257) }),
      new kv.CreateSignalingChannelCommand({ ChannelName: 'cp-ttl', SingleMasterConfiguration: { MessageTtlSeconds: 4 } }),
      new kv.CreateSignalingChannelCommand({ ChannelName: 'cp-ttl', SingleMasterConfiguration: { MessageTtlSeconds: 121 } }),
      new kv.CreateSignalingChannelCommand({ ChannelName: 'cp-type', ChannelType: 'FULL_MESH' }),
      new kv.CreateSignalingChannelCommand({ ChannelName: 'cp-tag', Tags: [{ Key: 'k'.repeat(129), Value: 'v' }] }),
      new kv.DescribeSignalingChannelCommand({}),
      new kv.DescribeSignalingChannelCommand({ ChannelARN: 'not-an-arn' }),
      new kv.ListSignalingChannelsCommand({ MaxResults: 0 }),
      new kv.ListSignalingChannelsCommand({ MaxResults: 10001 }),
      new kv.ListSignalingChannelsCommand({ NextToken: 'bm90LWEtdG9rZW4=' }),
    ];
    for (const cmd of bad) {
      await rejectsWith(client.send(cmd), 'InvalidArgumentException', 400);
    }
    await rejectsWith(client.send(new kv.DescribeSignalingChannelCommand({ ChannelName: 'cp-ttl' })), 'ResourceNotFoundException', 404);
  });

  test('ListSignalingChannels pages in name order with an opaque NextToken and honours BEGINS_WITH', async () => {
    const names = ['ls-c', 'ls-a', 'ls-e', 'ls-b', 'ls-d', 'lsx-1'];
    for (const n of names) await h.createChannel(client, n);
    const seen = [];
    let token;
    let pages = 0;
    do {
      const out = await client.send(new kv.ListSignalingChannelsCommand({
        MaxResults: 2,
        NextToken: token,
        ChannelNameCondition: { ComparisonOperator: 'BEGINS_WITH', ComparisonValue: 'ls-' },
      }));
      pages += 1;
      assert.ok(out.ChannelInfoList.length <= 2);
      seen.push(...out.ChannelInfoList.map((c) => c.ChannelName));
      token = out.NextToken;
      if (token) assert.match(token, /^[a-zA-Z0-9+/=]{1,512}$/);
    } while (token);
    assert.deepEqual(seen, ['ls-a', 'ls-b', 'ls-c', 'ls-d', 'ls-e']);
    assert.equal(pages, 3);
    const all = await client.send(new kv.ListSignalingChannelsCommand({}));
    const allNames = all.ChannelInfoList.map((c) => c.ChannelName);
    assert.deepEqual(allNames, [...allNames].sort());
    assert.ok(allNames.includes('lsx-1'));
    assert.equal(all.NextToken, undefined);
  });

  test('GetSignalingChannelEndpoint answers ws:// and http:// endpoints on the emulator for each role', async () => {
    const arn = await h.createChannel(client, 'cp-endpoints');
    const id = arn.split('/').pop();
    const host = new URL(emu.url).host;
    const master = await h.endpoints(client, arn, 'MASTER');
    const viewer = await h.endpoints(client, arn, 'VIEWER');
    assert.equal(master.WSS, `ws://${host}/channels/${id}/wss/master`);
    assert.equal(viewer.WSS, `ws://${host}/channels/${id}/wss/viewer`);
    assert.equal(master.HTTPS, `http://${host}/channels/${id}/https`);
    assert.equal(viewer.HTTPS, master.HTTPS);
    const onlyWss = await client.send(new kv.GetSignalingChannelEndpointCommand({
      ChannelARN: arn, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS'], Role: 'VIEWER' },
    }));
    assert.deepEqual(onlyWss.ResourceEndpointList.map((e) => e.Protocol), ['WSS']);
    await rejectsWith(client.send(new kv.GetSignalingChannelEndpointCommand({
      ChannelARN: arn, SingleMasterChannelEndpointConfiguration: { Protocols: ['SMTP'], Role: 'VIEWER' },
    })), 'InvalidArgumentException', 400);
  });

  test('UpdateSignalingChannel needs the current Version and changes it', async () => {
    const arn = await h.createChannel(client, 'cp-update');
    const v1 = (await client.send(new kv.DescribeSignalingChannelCommand({ ChannelARN: arn }))).ChannelInfo.Version;
    await rejectsWith(client.send(new kv.UpdateSignalingChannelCommand({ ChannelARN: arn, CurrentVersion: 'stale', SingleMasterConfiguration: { MessageTtlSeconds: 90 } })),
      'VersionMismatchException', 400);
    await client.send(new kv.UpdateSignalingChannelCommand({ ChannelARN: arn, CurrentVersion: v1, SingleMasterConfiguration: { MessageTtlSeconds: 90 } }));
    const info = (await client.send(new kv.DescribeSignalingChannelCommand({ ChannelARN: arn }))).ChannelInfo;
    assert.equal(info.SingleMasterConfiguration.MessageTtlSeconds, 90);
    assert.notEqual(info.Version, v1);
  });

  test('TagResource, UntagResource and ListTagsForResource, with the 50-tag limit', async () => {
    const arn = await h.createChannel(client, 'cp-tags', { Tags: [{ Key: 'a', Value: '1' }] });
    await client.send(new kv.TagResourceCommand({ ResourceARN: arn, Tags: [{ Key: 'b', Value: '2' }, { Key: 'a', Value: 'one' }] }));
    assert.deepEqual((await client.send(new kv.ListTagsForResourceCommand({ ResourceARN: arn }))).Tags, { a: 'one', b: '2' });
    await client.send(new kv.UntagResourceCommand({ ResourceARN: arn, TagKeyList: ['a'] }));
    assert.deepEqual((await client.send(new kv.ListTagsForResourceCommand({ ResourceARN: arn }))).Tags, { b: '2' });
    const many = Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
    await rejectsWith(client.send(new kv.TagResourceCommand({ ResourceARN: arn, Tags: many })), 'TagsPerResourceExceededLimitException', 400);
    await rejectsWith(client.send(new kv.ListTagsForResourceCommand({ ResourceARN: arn.replace(/\d+$/, '1') })), 'ResourceNotFoundException', 404);
  });

  test('DeleteSignalingChannel checks CurrentVersion, removes the channel at once and frees the name', async () => {
    const arn = await h.createChannel(client, 'cp-delete');
    await rejectsWith(client.send(new kv.DeleteSignalingChannelCommand({ ChannelARN: arn, CurrentVersion: 'other' })), 'VersionMismatchException', 400);
    await client.send(new kv.DeleteSignalingChannelCommand({ ChannelARN: arn }));
    await rejectsWith(client.send(new kv.DescribeSignalingChannelCommand({ ChannelARN: arn })), 'ResourceNotFoundException', 404);
    await rejectsWith(client.send(new kv.DeleteSignalingChannelCommand({ ChannelARN: arn })), 'ResourceNotFoundException', 404);
    const again = await h.createChannel(client, 'cp-delete');
    assert.notEqual(again, arn);
  });

  test('errors carry x-amzn-ErrorType "<Type>:http://internal.amazon.com/..." and a JSON body with __type', async () => {
    const r = await h.signedRequest(`${emu.url}/describeSignalingChannel`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ChannelName: 'cp-absent' }),
    });
    assert.equal(r.status, 404);
    assert.match(r.headers['x-amzn-errortype'], /^ResourceNotFoundException:http:\/\/internal\.amazon\.com\//);
    assert.ok(r.headers['x-amzn-requestid']);
    const body = JSON.parse(r.body);
    assert.equal(body.__type, 'ResourceNotFoundException');
    assert.equal(typeof body.message, 'string');
  });
});

describe('control plane: SigV4 refusals', () => {
  let emu;
  let arn;
  before(async () => {
    emu = await startEmulator();
    arn = await h.createChannel(h.kvsClient(emu), 'auth-channel');
  });
  after(() => emu.stop());

  const describeWith = (client) => client.send(new kv.DescribeSignalingChannelCommand({ ChannelName: 'auth-channel' }));

  test('a wrong secret is 403 InvalidSignatureException', async () => {
    await rejectsWith(describeWith(h.kvsClient(emu, { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'WRONG' })), 'InvalidSignatureException', 403);
  });

  test('an unknown access key is 403 UnrecognizedClientException', async () => {
    await rejectsWith(describeWith(h.kvsClient(emu, { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: 'SECRETLOCAL' })), 'UnrecognizedClientException', 403);
  });

  test('a scope for another region is 403 InvalidSignatureException', async () => {
    await rejectsWith(describeWith(h.kvsClient(emu, h.CREDS, { region: 'eu-west-1' })), 'InvalidSignatureException', 403);
  });

  test('a signature for another service is 403 InvalidSignatureException', async () => {
    const r = await h.signedRequest(`${emu.url}/describeSignalingChannel`, {
      service: 'kinesis', headers: { 'content-type': 'application/json' }, body: '{"ChannelName":"auth-channel"}',
    });
    assert.equal(r.status, 403);
    assert.equal(JSON.parse(r.body).__type, 'InvalidSignatureException');
  });

  test('no Authorization is 403 MissingAuthenticationTokenException', async () => {
    const r = await h.rawRequest(`${emu.url}/describeSignalingChannel`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ChannelName":"auth-channel"}',
    });
    assert.equal(r.status, 403);
    assert.match(r.headers['x-amzn-errortype'], /^MissingAuthenticationTokenException:/);
  });

  test('a tampered signature or a changed body after signing is 403 InvalidSignatureException', async () => {
    const signed = await h.smithySigner('kinesisvideo').sign({
      method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port: emu.port, path: '/describeSignalingChannel',
      headers: { host: new URL(emu.url).host, 'content-type': 'application/json' }, body: '{"ChannelName":"auth-channel"}',
    });
    const tampered = { ...signed.headers, authorization: signed.headers.authorization.replace(/Signature=([0-9a-f]+)/, (m, s) => `Signature=${h.tamper(s)}`) };
    const r1 = await h.rawRequest(`${emu.url}/describeSignalingChannel`, { method: 'POST', headers: tampered, body: '{"ChannelName":"auth-channel"}' });
    assert.equal(r1.status, 403);
    assert.equal(JSON.parse(r1.body).__type, 'InvalidSignatureException');
    const r2 = await h.rawRequest(`${emu.url}/describeSignalingChannel`, { method: 'POST', headers: signed.headers, body: '{"ChannelName":"auth-channel" }' });
    assert.equal(r2.status, 403);
    const r3 = await h.rawRequest(`${emu.url}/describeSignalingChannel`, { method: 'POST', headers: signed.headers, body: '{"ChannelName":"auth-channel"}' });
    assert.equal(r3.status, 200, r3.body);
  });

  test('X-Amz-Date more than 5 minutes off is 403 InvalidSignatureException with the server Date to correct by', async () => {
    const r = await h.signedRequest(`${emu.url}/describeSignalingChannel`, {
      headers: { 'content-type': 'application/json' }, body: '{"ChannelName":"auth-channel"}',
      signingDate: new Date(Date.now() - 6 * 60 * 1000),
    });
    assert.equal(r.status, 403);
    assert.equal(JSON.parse(r.body).__type, 'InvalidSignatureException');
    assert.match(JSON.parse(r.body).message, /Signature expired/);
    assert.ok(Math.abs(Date.parse(r.headers.date) - Date.now()) < 5000);
  });

  test('the SDK corrects its clock from the Date header of a skew refusal and retries successfully', async () => {
    await emu.resetCounters();
    const skewed = h.kvsClient(emu, h.CREDS, { maxAttempts: 3, systemClockOffset: -10 * 60 * 1000 });
    const out = await describeWith(skewed);
    assert.equal(out.ChannelInfo.ChannelARN, arn);
    assert.equal(await emu.count('DescribeSignalingChannel'), 2);
    assert.equal(await emu.count('DescribeSignalingChannel', 'error'), 1);
    assert.equal(await emu.count('DescribeSignalingChannel', 'ok'), 1);
  });

  test('temporary credentials work with their session token, and without it are 403 UnrecognizedClientException', async () => {
    const r = await h.rawRequest(`${emu.url}/container-credentials`, { headers: { authorization: 'local-container-token' } });
    const c = JSON.parse(r.body);
    const temp = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.Token };
    const ok = await describeWith(h.kvsClient(emu, temp));
    assert.equal(ok.ChannelInfo.ChannelARN, arn);
    const { sessionToken, ...withoutToken } = temp;
    assert.ok(sessionToken);
    await rejectsWith(describeWith(h.kvsClient(emu, withoutToken)), 'UnrecognizedClientException', 403);
    await rejectsWith(describeWith(h.kvsClient(emu, { ...temp, sessionToken: temp.sessionToken.slice(0, -4) + 'AAAA' })), 'UnrecognizedClientException', 403);
  });

  test('a session token that is sent but not signed is 403 InvalidSignatureException', async () => {
    const r = await h.rawRequest(`${emu.url}/container-credentials`, { headers: { authorization: 'local-container-token' } });
    const c = JSON.parse(r.body);
    const body = '{"ChannelName":"auth-channel"}';
    const signed = await h.smithySigner('kinesisvideo', { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey }).sign({
      method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port: emu.port, path: '/describeSignalingChannel',
      headers: { host: new URL(emu.url).host, 'content-type': 'application/json' }, body,
    });
    const res = await h.rawRequest(`${emu.url}/describeSignalingChannel`, {
      method: 'POST', headers: { ...signed.headers, 'x-amz-security-token': c.Token }, body,
    });
    assert.equal(res.status, 403);
    assert.equal(JSON.parse(res.body).__type, 'InvalidSignatureException');
  });

  test('the emulator region is enforced: an emulator in eu-central-1 refuses us-west-2 signatures', async () => {
    const eu = await startEmulator({ region: 'eu-central-1' });
    try {
      await rejectsWith(h.kvsClient(eu).send(new kv.ListSignalingChannelsCommand({})), 'InvalidSignatureException', 403);
      const out = await h.kvsClient(eu, h.CREDS, { region: 'eu-central-1' }).send(new kv.CreateSignalingChannelCommand({ ChannelName: 'eu' }));
      assert.match(out.ChannelARN, /^arn:aws:kinesisvideo:eu-central-1:/);
    } finally {
      await eu.stop();
    }
  });

  test('cn-* regions use the aws-cn partition in ARNs', async () => {
    const cn = await startEmulator({ region: 'cn-north-1' });
    try {
      const out = await h.kvsClient(cn, h.CREDS, { region: 'cn-north-1' }).send(new kv.CreateSignalingChannelCommand({ ChannelName: 'cn' }));
      assert.match(out.ChannelARN, /^arn:aws-cn:kinesisvideo:cn-north-1:123456789012:channel\/cn\/\d+$/);
    } finally {
      await cn.stop();
    }
  });

  test('several static key pairs are accepted, and --max-channels gives AccountChannelLimitExceededException', async () => {
    const e = await startEmulator({ args: ['--access-key-id', 'AKIDSECOND', '--secret-access-key', 'SECRETSECOND', '--max-channels', '1'],
      accessKeyId: 'AKIDFIRST', secretAccessKey: 'SECRETFIRST' });
    try {
      const first = h.kvsClient(e, { accessKeyId: 'AKIDFIRST', secretAccessKey: 'SECRETFIRST' });
      const second = h.kvsClient(e, { accessKeyId: 'AKIDSECOND', secretAccessKey: 'SECRETSECOND' });
      await h.createChannel(first, 'one');
      await rejectsWith(h.createChannel(second, 'two'), 'AccountChannelLimitExceededException', 400);
      await rejectsWith(h.createChannel(h.kvsClient(e), 'three'), 'UnrecognizedClientException', 403);
    } finally {
      await e.stop();
    }
  });
});
