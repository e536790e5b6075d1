'use strict';
// The credential sources the emulator stands in for: STS (AssumeRoleWithWebIdentity
// unsigned, AssumeRole signed by @smithy/signature-v4 with service "sts"), the
// container credentials endpoint and EC2 IMDSv2. The AWS SDK's own credential
// providers read them, and the temporary credentials they hand out are
// accepted by the signed endpoints with their session token, and refused once
// expired.
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startEmulator } = require('../lib/emulator');
const h = require('./helpers');
const { fromWebToken } = require('@aws-sdk/credential-provider-web-identity');
const { fromHttp } = require('@aws-sdk/credential-provider-http');
const { fromInstanceMetadata } = require('@smithy/credential-provider-imds');

const { kv } = h;
const ROLE_ARN = 'arn:aws:iam::123456789012:role/kvsgate';

function jwt(claims) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`;
}

const form = (params) => new URLSearchParams(params).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };

function webIdentity(emu, params = {}) {
  return h.rawRequest(`${emu.url}/`, {
    method: 'POST',
    headers: FORM,
    body: form({ Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: ROLE_ARN, RoleSessionName: 'kvsgate',
      WebIdentityToken: jwt({ sub: 'system:serviceaccount:video:kvsgate', aud: 'sts.amazonaws.com', iss: 'https://oidc.example.com', exp: Math.floor(Date.now() / 1000) + 3600 }),
      ...params }),
  });
}

function assumeRole(emu, params = {}, signOptions = {}) {
  const body = form({ Action: 'AssumeRole', Version: '2011-06-15', RoleArn: ROLE_ARN, RoleSessionName: 'kvsgate', ...params });
  return h.signedRequest(`${emu.url}/`, { service: 'sts', headers: FORM, body, ...signOptions });
}

function credsFromXml(xml) {
  return {
    accessKeyId: h.xmlField(xml, 'AccessKeyId'),
    secretAccessKey: h.xmlField(xml, 'SecretAccessKey'),
    sessionToken: h.xmlField(xml, 'SessionToken'),
    expiration: new Date(h.xmlField(xml, 'Expiration')),
    expirationText: h.xmlField(xml, 'Expiration'),
  };
}

function assertStsError(r, status, code) {
  assert.equal(r.status, status, r.body);
  assert.match(r.headers['content-type'], /xml/);
  assert.match(r.body, /^<ErrorResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/">/);
  assert.equal(h.xmlField(r.body, 'Code'), code);
  assert.ok(h.xmlField(r.body, 'Type'));
  assert.ok(h.xmlField(r.body, 'Message'));
  assert.ok(h.xmlField(r.body, 'RequestId'));
}

// Checks temporary credentials against every signed endpoint: control plane
// (SDK v3), GetIceServerConfig and a signaling URL (KVS WebRTC SDK signer).
async function assertAccepted(emu, creds, name) {
  const client = h.kvsClient(emu, creds);
  const arn = await h.createChannel(client, name);
  const ep = await h.endpoints(client, arn, 'MASTER');
  const ice = await h.signalingClient(ep.HTTPS, creds).send(new h.kvsig.GetIceServerConfigCommand({ ChannelARN: arn }));
  assert.equal(ice.IceServerList.length, 2);
  const ws = await h.connect(await h.presignWithKvsSdk(ep.WSS, arn, null, creds));
  ws.close();
}

describe('STS', () => {
  let emu;
  before(async () => {
    emu = await startEmulator();
  });
  after(() => emu.stop());

  test('AssumeRoleWithWebIdentity (unsigned) answers STS XML with ASIA credentials valid --credential-ttl', async () => {
    const r = await webIdentity(emu);
    assert.equal(r.status, 200, r.body);
    assert.match(r.headers['content-type'], /text\/xml/);
    assert.match(r.body, /^<AssumeRoleWithWebIdentityResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/">\s*<AssumeRoleWithWebIdentityResult>/);
    const c = credsFromXml(r.body);
    assert.match(c.accessKeyId, /^ASIA[A-Z2-7]{16}$/);
    assert.ok(c.secretAccessKey.length >= 40);
    assert.ok(c.sessionToken.length > 100);
    assert.match(c.expirationText, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(Math.abs(c.expiration.getTime() - Date.now() - 3600000) < 5000);
    assert.equal(h.xmlField(r.body, 'SubjectFromWebIdentityToken'), 'system:serviceaccount:video:kvsgate');
    assert.equal(h.xmlField(r.body, 'Arn'), 'arn:aws:sts::123456789012:assumed-role/kvsgate/kvsgate');
    assert.ok(h.xmlField(r.body, 'RequestId'));
    await assertAccepted(emu, c, 'sts-web');
  });

  test('the AWS SDK web identity provider (fromWebToken) gets credentials from it', async () => {
    const provider = fromWebToken({
      roleArn: ROLE_ARN,
      roleSessionName: 'sdk',
      webIdentityToken: jwt({ sub: 'x', exp: Math.floor(Date.now() / 1000) + 600 }),
      clientConfig: { endpoint: emu.url, region: h.REGION },
    });
    const creds = await provider();
    assert.match(creds.accessKeyId, /^ASIA/);
    assert.ok(creds.sessionToken);
    assert.ok(creds.expiration instanceof Date);
    await assertAccepted(emu, { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, sessionToken: creds.sessionToken }, 'sts-sdk');
  });

  test('a token that is not a JWT, an expired JWT, and rejectWebIdentity are refused with 400', async () => {
    assertStsError(await webIdentity(emu, { WebIdentityToken: 'not-a-jwt' }), 400, 'InvalidIdentityToken');
    assertStsError(await webIdentity(emu, { WebIdentityToken: jwt({ sub: 'x', exp: Math.floor(Date.now() / 1000) - 10 }) }), 400, 'ExpiredTokenException');
    await emu.setFaults({ rejectWebIdentity: true });
    try {
      assertStsError(await webIdentity(emu), 400, 'InvalidIdentityToken');
    } finally {
      await emu.setFaults({ rejectWebIdentity: false });
    }
    assert.equal((await webIdentity(emu)).status, 200);
  });

  test('missing or invalid parameters are 400 ValidationError; an unknown action or version is 400 InvalidAction', async () => {
    assertStsError(await webIdentity(emu, { RoleArn: '' }), 400, 'ValidationError');
    assertStsError(await webIdentity(emu, { RoleArn: 'arn:aws:iam::1:user/x' }), 400, 'ValidationError');
    assertStsError(await webIdentity(emu, { RoleSessionName: 'bad name' }), 400, 'ValidationError');
    assertStsError(await webIdentity(emu, { DurationSeconds: '899' }), 400, 'ValidationError');
    assertStsError(await webIdentity(emu, { Version: '2020-01-01' }), 400, 'InvalidAction');
    assertStsError(await webIdentity(emu, { Action: 'GetCallerIdentityX' }), 400, 'InvalidAction');
    const r = await h.rawRequest(`${emu.url}/`, { method: 'POST', headers: FORM, body: 'Version=2011-06-15' });
    assertStsError(r, 400, 'MissingAction');
  });

  test('AssumeRole signed with service sts answers credentials; DurationSeconds sets their lifetime', async () => {
    const r = await assumeRole(emu, { DurationSeconds: '900' });
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /^<AssumeRoleResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/">\s*<AssumeRoleResult>/);
    const c = credsFromXml(r.body);
    assert.match(c.accessKeyId, /^ASIA/);
    assert.ok(Math.abs(c.expiration.getTime() - Date.now() - 900000) < 5000);
    await assertAccepted(emu, c, 'sts-assume');
  });

  test('AssumeRole can be signed by temporary credentials with their token (role chaining)', async () => {
    const first = credsFromXml((await webIdentity(emu)).body);
    const r = await assumeRole(emu, {}, { credentials: first });
    assert.equal(r.status, 200, r.body);
    const { sessionToken, ...noToken } = first;
    assert.ok(sessionToken);
    assertStsError(await assumeRole(emu, {}, { credentials: noToken }), 403, 'InvalidClientTokenId');
  });

  test('AssumeRole refusals: unsigned, wrong secret, wrong service, unknown key, skewed date', async () => {
    const body = form({ Action: 'AssumeRole', Version: '2011-06-15', RoleArn: ROLE_ARN, RoleSessionName: 'x' });
    assertStsError(await h.rawRequest(`${emu.url}/`, { method: 'POST', headers: FORM, body }), 403, 'MissingAuthenticationToken');
    assertStsError(await assumeRole(emu, {}, { credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'bad' } }), 403, 'SignatureDoesNotMatch');
    const wrongService = await h.signedRequest(`${emu.url}/`, { service: 'kinesisvideo', headers: FORM, body });
    assertStsError(wrongService, 403, 'SignatureDoesNotMatch');
    assertStsError(await assumeRole(emu, {}, { credentials: { accessKeyId: 'AKIDNOPE', secretAccessKey: 'x' } }), 403, 'InvalidClientTokenId');
    assertStsError(await assumeRole(emu, {}, { signingDate: new Date(Date.now() + 10 * 60000) }), 403, 'SignatureDoesNotMatch');
  });

  test('--external-id: AssumeRole needs the matching ExternalId', async () => {
    const e = await startEmulator({ externalId: 'ext-123' });
    try {
      assertStsError(await assumeRole(e), 403, 'AccessDenied');
      assertStsError(await assumeRole(e, { ExternalId: 'ext-999' }), 403, 'AccessDenied');
      assert.equal((await assumeRole(e, { ExternalId: 'ext-123' })).status, 200);
    } finally {
      await e.stop();
    }
  });
});

describe('container credentials and IMDSv2', () => {
  let emu;
  before(async () => {
    emu = await startEmulator({ containerToken: 'pod-identity-token' });
  });
  after(() => emu.stop());

  test('container credentials need the Authorization token (401 otherwise) and answer the ECS/EKS shape', async () => {
    assert.equal((await h.rawRequest(`${emu.url}/container-credentials`)).status, 401);
    assert.equal((await h.rawRequest(`${emu.url}/container-credentials`, { headers: { authorization: 'local-container-token' } })).status, 401);
    const r = await h.rawRequest(`${emu.url}/container-credentials`, { headers: { authorization: 'pod-identity-token' } });
    assert.equal(r.status, 200);
    const c = JSON.parse(r.body);
    assert.deepEqual(Object.keys(c).sort(), ['AccessKeyId', 'Expiration', 'SecretAccessKey', 'Token']);
    assert.match(c.AccessKeyId, /^ASIA/);
    assert.ok(Math.abs(Date.parse(c.Expiration) - Date.now() - 3600000) < 5000);
    await assertAccepted(emu, { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.Token }, 'container');
  });

  test('the AWS SDK container provider (fromHttp, full URI + token) gets credentials from it', async () => {
    const creds = await fromHttp({
      awsContainerCredentialsFullUri: `${emu.url}/container-credentials`,
      awsContainerAuthorizationToken: 'pod-identity-token',
    })();
    assert.match(creds.accessKeyId, /^ASIA/);
    assert.ok(creds.sessionToken);
    await assertAccepted(emu, creds, 'container-sdk');
  });

  test('IMDSv2: a token is required, its TTL must be 1..21600, and it unlocks the role and its credentials', async () => {
    const base = `${emu.url}/latest/meta-data/iam/security-credentials/`;
    assert.equal((await h.rawRequest(base)).status, 401);
    assert.equal((await h.rawRequest(`${emu.url}/latest/api/token`, { method: 'PUT' })).status, 400);
    for (const ttl of ['0', '21601', 'abc']) {
      assert.equal((await h.rawRequest(`${emu.url}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': ttl } })).status, 400);
    }
    const t = await h.rawRequest(`${emu.url}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '21600' } });
    assert.equal(t.status, 200);
    const token = t.body;
    assert.ok(token.length > 20);
    assert.equal((await h.rawRequest(base, { headers: { 'x-aws-ec2-metadata-token': 'wrong' } })).status, 401);
    const role = await h.rawRequest(base, { headers: { 'x-aws-ec2-metadata-token': token } });
    assert.equal(role.status, 200);
    assert.equal(role.body, 'kvs-local-role');
    assert.equal((await h.rawRequest(base + 'other-role', { headers: { 'x-aws-ec2-metadata-token': token } })).status, 404);
    const r = await h.rawRequest(base + 'kvs-local-role', { headers: { 'x-aws-ec2-metadata-token': token } });
    assert.equal(r.status, 200);
    const c = JSON.parse(r.body);
    assert.equal(c.Code, 'Success');
    assert.equal(c.Type, 'AWS-HMAC');
    assert.ok(c.LastUpdated);
    assert.ok(Math.abs(Date.parse(c.Expiration) - Date.now() - 3600000) < 5000);
    await assertAccepted(emu, { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.Token }, 'imds');
  });

  test('IMDSv2 tokens expire after their TTL, and requests with X-Forwarded-For get no token', async () => {
    const t = await h.rawRequest(`${emu.url}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '1' } });
    const base = `${emu.url}/latest/meta-data/iam/security-credentials/`;
    assert.equal((await h.rawRequest(base, { headers: { 'x-aws-ec2-metadata-token': t.body } })).status, 200);
    await emu.setFaults({ clockSkewS: 2 });
    try {
      assert.equal((await h.rawRequest(base, { headers: { 'x-aws-ec2-metadata-token': t.body } })).status, 401);
    } finally {
      await emu.setFaults({ clockSkewS: 0 });
    }
    const fwd = await h.rawRequest(`${emu.url}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60', 'x-forwarded-for': '10.0.0.1' } });
    assert.equal(fwd.status, 403);
  });

  test('the AWS SDK IMDS provider (fromInstanceMetadata, IMDSv1 disabled) gets credentials from it', async () => {
    process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = emu.url;
    process.env.AWS_EC2_METADATA_V1_DISABLED = 'true';
    const creds = await fromInstanceMetadata({ maxRetries: 0, timeout: 2000 })();
    assert.match(creds.accessKeyId, /^ASIA/);
    await assertAccepted(emu, creds, 'imds-sdk');
  });
});

describe('expiry of temporary credentials', () => {
  let emu;
  before(async () => {
    emu = await startEmulator();
  });
  after(() => emu.stop());

  // The emulator clock is moved on with clockSkewS (less than the 5-minute
  // signing window) instead of sleeping.
  test('credentials issued with credentialTtl 60 work, then past their expiry are refused with ExpiredTokenException / 403 everywhere', async () => {
    const client = h.kvsClient(emu);
    const arn = await h.createChannel(client, 'expiry');
    const ep = await h.endpoints(client, arn, 'VIEWER');
    await emu.setFaults({ credentialTtl: 60 });
    const sources = {
      sts: credsFromXml((await webIdentity(emu)).body),
      stsAssumeRole: credsFromXml((await assumeRole(emu, { DurationSeconds: '3600' })).body),
    };
    const cr = JSON.parse((await h.rawRequest(`${emu.url}/container-credentials`, { headers: { authorization: 'local-container-token' } })).body);
    sources.container = { accessKeyId: cr.AccessKeyId, secretAccessKey: cr.SecretAccessKey, sessionToken: cr.Token, expiration: new Date(cr.Expiration) };
    for (const c of Object.values(sources)) {
      assert.ok(Math.abs(c.expiration.getTime() - Date.now() - 60000) < 5000);
      const out = await h.kvsClient(emu, c).send(new kv.DescribeSignalingChannelCommand({ ChannelARN: arn }));
      assert.equal(out.ChannelInfo.ChannelARN, arn);
    }
    await emu.setFaults({ clockSkewS: 50 });
    assert.equal((await h.kvsClient(emu, sources.sts).send(new kv.DescribeSignalingChannelCommand({ ChannelARN: arn }))).ChannelInfo.ChannelARN, arn);
    await emu.setFaults({ clockSkewS: 90 });
    for (const c of Object.values(sources)) {
      await assert.rejects(h.kvsClient(emu, c).send(new kv.DescribeSignalingChannelCommand({ ChannelARN: arn })),
        (e) => e.name === 'ExpiredTokenException' && e.$metadata.httpStatusCode === 403);
      await assert.rejects(h.signalingClient(ep.HTTPS, c).send(new h.kvsig.GetIceServerConfigCommand({ ChannelARN: arn })),
        (e) => e.name === 'ExpiredTokenException');
      await h.assertRefused(await h.presignWithKvsSdk(ep.WSS, arn, 'v', c), 403);
    }
    assertStsError(await assumeRole(emu, {}, { credentials: sources.sts }), 403, 'ExpiredToken');
    await emu.setFaults({ credentialTtl: null, clockSkewS: 0 });
  });

  test('--credential-ttl sets the lifetime, and a short one really expires (wall clock)', async () => {
    const e = await startEmulator({ credentialTtl: 1 });
    try {
      const c = credsFromXml((await webIdentity(e)).body);
      assert.ok(c.expiration.getTime() - Date.now() <= 1000);
      await h.sleep(1100);
      await assert.rejects(h.kvsClient(e, c).send(new kv.ListSignalingChannelsCommand({})), (err) => err.name === 'ExpiredTokenException');
    } finally {
      await e.stop();
    }
  });
});
