'use strict';
// docs/iam-policy.json: exactly the KVS actions kvsgate needs (docs/deploy-eks.md
// explains each), every one scoped to the channel-name prefix except
// ListSignalingChannels, which IAM only grants on "*", and the two of WebRTC
// ingestion that concern a stream (scoped to channels and streams with the
// prefix).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const env = require('../lib/env');

const policyPath = path.join(env.sourceDir, 'docs', 'iam-policy.json');
const policy = JSON.parse(fs.readFileSync(policyPath, 'utf8'));
const CHANNEL = 'arn:aws:kinesisvideo:REGION:ACCOUNT:channel/PREFIX*/*';
const STREAM = 'arn:aws:kinesisvideo:REGION:ACCOUNT:stream/PREFIX*/*';
const ON_STREAMS = ['kinesisvideo:DescribeStream', 'kinesisvideo:UpdateMediaStorageConfiguration'];
const NEEDED = [
  // presigned WSS URLs are authorized as the signer (without these: 403 on the WebSocket)
  'ConnectAsMaster', 'ConnectAsViewer',
  // connection info
  'DescribeSignalingChannel', 'GetSignalingChannelEndpoint', 'GetIceServerConfig',
  // channel management (the manage grant)
  'CreateSignalingChannel', 'DeleteSignalingChannel', 'ListSignalingChannels',
  'TagResource', 'ListTagsForResource',
  // WebRTC ingestion (api/storage.c, and ConnectionInfo's storage)
  'DescribeMediaStorageConfiguration', 'UpdateMediaStorageConfiguration', 'DescribeStream',
  'JoinStorageSession', 'JoinStorageSessionAsViewer',
].map((a) => `kinesisvideo:${a}`);

const list = (x) => (Array.isArray(x) ? x : [x]);
const statements = policy.Statement;
const grants = statements.flatMap((s) => list(s.Action).map((a) => ({ action: a, resources: list(s.Resource), s })));

// IAM's ARN wildcards: * any run of characters, ? one.
function arnMatches(pattern, arn) {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(arn);
}

test('iam-policy.json grants exactly the actions kvsgate needs, and only Allow', () => {
  assert.equal(policy.Version, '2012-10-17');
  assert.deepEqual(grants.map((g) => g.action).sort(), [...NEEDED].sort());
  for (const s of statements) {
    assert.equal(s.Effect, 'Allow');
    assert.equal(s.NotAction, undefined);
    assert.equal(s.NotResource, undefined);
    assert.ok(s.Sid, 'every statement has a Sid');
  }
  for (const g of grants) assert.doesNotMatch(g.action, /\*/, `wildcard action ${g.action}`);
});

test('every action but ListSignalingChannels is scoped to channels with the name prefix', () => {
  for (const g of grants) {
    if (g.action === 'kinesisvideo:ListSignalingChannels') {
      assert.deepEqual(g.resources, ['*'], 'ListSignalingChannels supports no resource-level permission');
      assert.deepEqual(list(g.s.Action), [g.action], 'the "*" statement must hold nothing else');
    } else if (ON_STREAMS.includes(g.action)) {
      assert.deepEqual(g.resources, [CHANNEL, STREAM], g.action);
    } else {
      assert.deepEqual(g.resources, [CHANNEL], g.action);
    }
  }
  // The pattern, filled in, matches channel ARNs with the prefix and no others.
  const filled = CHANNEL.replace('REGION', 'us-west-2').replace('ACCOUNT', '123456789012').replace('PREFIX', 'cam-');
  assert.ok(arnMatches(filled, 'arn:aws:kinesisvideo:us-west-2:123456789012:channel/cam-front-door/1700000000000'));
  assert.ok(!arnMatches(filled, 'arn:aws:kinesisvideo:us-west-2:123456789012:channel/other/1700000000000'));
  assert.ok(!arnMatches(filled, 'arn:aws:kinesisvideo:us-west-2:123456789012:stream/cam-1/1700000000000'));
  assert.ok(!arnMatches(filled, 'arn:aws:kinesisvideo:eu-west-1:123456789012:channel/cam-1/1700000000000'));
});

test('docs/deploy-eks.md uses this policy and fills every placeholder', () => {
  const md = fs.readFileSync(path.join(env.sourceDir, 'docs', 'deploy-eks.md'), 'utf8');
  assert.match(md, /docs\/iam-policy\.json/);
  for (const p of ['REGION', 'ACCOUNT', 'PREFIX']) assert.match(md, new RegExp(`s/${p}/`), `no sed for ${p}`);
});
