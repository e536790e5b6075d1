'use strict';
// Identity providers as they are: one policy file (docs/policy-example.yaml,
// pointed at local providers shaped like Amazon
// Cognito, Auth0, Keycloak, Okta and Microsoft Entra ID: tests/lib/idp.js)
// trusts all five at once. For each, its real token shapes are accepted with
// exactly the grants the policy maps them to, and its near misses are refused
// with the reason a 401 gives: another audience, another token use, another
// tenant or realm signed by the same keys, an issuer spelt differently.
// `kvsgate auth check` answers for each token (the same verifier and
// settings as the service), and the running service serves connection info
// to a token of each provider.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const env = require('../lib/env');
const { startEmulator } = require('../lib/emulator');
const { startKvsgate, baseEnv } = require('../lib/kvsgate');
const { client } = require('../lib/client');
const { startIdps } = require('../lib/idp');
const sanitizers = require('../lib/sanitizers');

let idps, dir, policyFile, emu, gate, api;

// docs/policy-example.yaml, the issuers' origins swapped for the local ones
// (the paths after them are the providers' own).
function policy(i, file = 'policy-example.yaml') {
  const text = fs.readFileSync(path.join(env.sourceDir, 'docs', file), 'utf8');
  const swaps = [
    ['https://cognito-idp.us-west-2.amazonaws.com', i.base],
    ['https://kvsgate-example.us.auth0.com/', i.auth0.issuer],
    ['https://sso.example.com', i.base],
    ['https://example.okta.com', i.base],
    ['https://login.microsoftonline.com', i.base],
  ];
  let out = text;
  for (const [from, to] of swaps) {
    if (file === 'policy-example.yaml') assert.ok(out.includes(from), `the example names ${from}`);
    out = out.split(from).join(to);
  }
  if (file !== 'policy-example.yaml') return out;
  for (const p of ['cognito', 'auth0', 'keycloak', 'okta', 'entra'])
    assert.ok(out.includes(`issuer: ${i[p].issuer}\n`), `the example's ${p} issuer is the local one`);
  assert.ok(out.includes(`clientId: ${i.cognito.clientId}`) && out.includes(`aud: ${i.entra.clientId}`));
  assert.ok(out.includes(`jwksUrl: ${i.keycloak.jwksUrl}`));
  return out;
}

function authCheck(token, file = policyFile) {
  const tokenFile = path.join(dir, `t-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(tokenFile, token);
  const e = { ...baseEnv(null), KVSGATE_JWT_HS256_SECRET: undefined, KVSGATE_POLICY_FILE: file };
  delete e.KVSGATE_JWT_HS256_SECRET;
  const [cmd, args] = sanitizers.wrap(env.bin, ['auth', 'check', '--token-file', tokenFile]);
  return new Promise((resolve) => {
    execFile(cmd, args, { env: e }, (err, stdout, stderr) => {
      fs.unlinkSync(tokenFile);
      const code = err ? err.code : 0;
      let out = null;
      try { out = JSON.parse(stdout); } catch { /* reported below */ }
      assert.ok(out, `auth check printed no JSON (exit ${code}): ${stdout}\n${stderr}`);
      assert.equal(code, out.accepted ? 0 : 1, `exit status for ${stdout}`);
      assert.doesNotMatch(stdout + stderr, new RegExp(token.split('.')[2].slice(0, 20).replace(/[-]/g, '\\-')), 'the signature is never printed');
      resolve(out);
    });
  });
}

async function accepted(token, issuer, file) {
  const out = await authCheck(token, file);
  assert.equal(out.accepted, true, `refused: ${out.reason}`);
  assert.equal(out.issuer, issuer);
  assert.equal(out.alg, 'RS256');
  return out;
}

async function refused(token, reason, file) {
  const out = await authCheck(token, file);
  assert.deepEqual({ accepted: out.accepted, reason: out.reason }, { accepted: false, reason });
  assert.deepEqual(Object.keys(out).sort(), ['accepted', 'claims', 'header', 'reason']);
}

const qualified = (out) => assert.match(out.clientId, /^_[0-9a-f]{40}$/);

before(async () => {
  idps = await startIdps();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsgate-idp-'));
  policyFile = path.join(dir, 'policy.yaml');
  fs.writeFileSync(policyFile, policy(idps));
});

after(async () => {
  if (gate) await gate.stop();
  if (emu) await emu.stop();
  if (idps) await idps.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('Cognito access tokens: client_id, token_use and prefixed custom scopes; groups to grants', async () => {
  const c = idps.cognito;
  let out = await accepted(await c.access({ sub: 'd1b2c3a4-0000-4000-8000-00000000c0c0', scope: 'openid https://kvsgate.example.com/kvs:viewer:cam-* https://kvsgate.example.com/kvs:master:cam-7' }), 'cognito');
  assert.equal(out.clientId, 'd1b2c3a4-0000-4000-8000-00000000c0c0', 'the first issuer keeps sub as the client id');
  assert.deepEqual(out.grants, { master: ['cam-7'], viewer: ['cam-*'], manage: [], anyClientId: false, manageAny: false });
  out = await accepted(await c.access({ sub: 'op-1', scope: 'openid', groups: ['kvs-operators', 'other'] }), 'cognito');
  assert.deepEqual(out.claims['cognito:groups'], ['kvs-operators', 'other'], 'auth check shows the claims');
  assert.deepEqual(out.header, { alg: 'RS256', kid: c.kid });
  assert.deepEqual(out.grants, { master: [], viewer: [], manage: ['*'], anyClientId: false, manageAny: true });
  // unprefixed kvs scopes are another resource server's
  await refused(await c.access({ sub: 'u', scope: 'kvs:master:*' }), 'no grants claim');
  await refused(await c.access({ sub: 'u', scope: 'https://kvsgate.example.com/kvs:viewer:x', clientId: 'another-app-client' }), 'wrong audience');
  // the ID token of the same pool and client: it names the client in aud, not
  // client_id, and says token_use "id"
  await refused(await c.id({ sub: 'u', groups: ['kvs-operators'] }), 'wrong audience');
  await refused(await c.access({ sub: 'u', scope: 'https://kvsgate.example.com/kvs:viewer:x', tokenUse: 'id' }), 'wrong token use');
});

test('Cognito ID tokens (docs/policy-example-cognito-id.yaml): aud and token_use "id"; groups to grants', async () => {
  const c = idps.cognito;
  const file = path.join(dir, 'cognito-id.yaml');
  fs.writeFileSync(file, policy(idps, 'policy-example-cognito-id.yaml'));
  let out = await accepted(await c.id({ sub: 'a1b2', groups: ['viewers'] }), 'cognito', file);
  assert.deepEqual(out.grants, { master: ['home-a1b2.*'], viewer: ['lobby-*'], manage: [], anyClientId: false, manageAny: false });
  out = await accepted(await c.id({ sub: 'op', groups: ['kvs-operators'] }), 'cognito', file);
  assert.deepEqual(out.grants.manage, ['*']);
  assert.equal(out.grants.manageAny, true);
  // the same pool's access token (client_id, no aud) and another app client's ID token
  await refused(await c.access({ sub: 'a1b2', scope: 'openid' }), 'wrong audience', file);
  await refused(await c.id({ sub: 'a1b2', groups: ['viewers'], aud: 'another-app-client' }), 'wrong audience', file);
});

test('Auth0 access tokens: aud among several, permissions (RBAC) and scope; the issuer with its slash', async () => {
  const a = idps.auth0;
  const out = await accepted(await a.access({ sub: 'auth0|64f1c0ffee', permissions: ['kvs:master:shop-1', 'read:other'], scope: 'openid kvs:viewer:shop-*' }), 'auth0');
  qualified(out);
  assert.deepEqual(out.grants, { master: ['shop-1'], viewer: ['shop-*'], manage: [], anyClientId: false, manageAny: false });
  assert.notEqual(out.owner, 'auth0|64f1c0ffee', 'a secondary issuer owns channels under its qualified id');
  await refused(await a.access({ sub: 'auth0|x', permissions: ['kvs:viewer:a'], aud: ['https://another-api.example.com', `${a.issuer}userinfo`] }), 'wrong audience');
  await refused(await a.access({ sub: 'auth0|x', permissions: ['kvs:viewer:a'], iss: a.issuer.replace(/\/$/, '') }), 'wrong issuer');
});

test('Keycloak: azp names the client, realm and client roles to grants, the encryption key skipped', async () => {
  const k = idps.keycloak;
  let out = await accepted(await k.access({ sub: 'f:1b2c:alice', clientRoles: ['cam-lobby', 'cam-door'] }), 'keycloak');
  qualified(out);
  assert.deepEqual(out.grants, { master: ['cam-lobby', 'cam-door'], viewer: ['cam-lobby', 'cam-door'], manage: [], anyClientId: false, manageAny: false });
  out = await accepted(await k.access({ sub: 'f:1b2c:bob', realmRoles: ['kvs-operator'] }), 'keycloak');
  assert.deepEqual(out.grants.manage, ['*']);
  await refused(await k.access({ sub: 'f:1b2c:eve', clientRoles: ['cam-lobby'], azp: 'admin-cli' }), 'wrong audience');
  // another realm of the same server, signed with this realm's key
  await refused(await k.access({ sub: 'f:1b2c:eve', clientRoles: ['cam-lobby'], iss: k.issuer.replace('/realms/kvs', '/realms/other') }), 'wrong issuer');
  // only roles grant: a token without them is refused
  await refused(await k.access({ sub: 'f:1b2c:eve' }), 'no grants claim');
});

test('Okta: scp as an array, groups to {sub}-scoped grants', async () => {
  const o = idps.okta;
  let out = await accepted(await o.access({ sub: 'alice@example.com', scp: ['openid', 'kvs:viewer:lobby-*'] }), 'okta');
  qualified(out);
  assert.deepEqual(out.grants.viewer, ['lobby-*']);
  out = await accepted(await o.access({ sub: 'alice@example.com', scp: ['openid'], groups: ['Everyone', 'Camera Owners'] }), 'okta');
  assert.deepEqual(out.grants.master, [`home-${out.clientId}.*`]);
  assert.deepEqual(out.grants.manage, [`home-${out.clientId}.*`]);
  await refused(await o.access({ sub: 'alice@example.com', scp: ['kvs:viewer:lobby-*'], aud: 'api://other' }), 'wrong audience');
});

test('Entra ID: app roles to grants; another tenant signed with the shared keys is refused', async () => {
  const e = idps.entra;
  let out = await accepted(await e.access({ sub: 'AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ', roles: ['Kvs.Viewer'], scp: 'kvs.read' }), 'entra');
  qualified(out);
  assert.deepEqual(out.grants, { master: [], viewer: ['lobby-*'], manage: [], anyClientId: false, manageAny: false });
  out = await accepted(await e.access({ sub: 'admin', roles: ['Kvs.Admin'] }), 'entra');
  assert.equal(out.grants.anyClientId, true);
  await refused(await e.access({ sub: 'x', roles: ['Kvs.Admin'], tenant: idps.OTHER_TENANT }), 'wrong issuer');
  await refused(await e.access({ sub: 'x', roles: ['Kvs.Admin'], aud: '00000003-0000-0000-c000-000000000000' }), 'wrong audience');
  // the kvs claim is off for this issuer: a token carrying one grants nothing
  const forged = await e.sign({ iss: e.issuer, aud: e.clientId, sub: 'x', kvs: { manage: ['*'] } });
  await refused(forged, 'no grants claim');
});

test('one provider\'s key never verifies another provider\'s issuer', async () => {
  const tok = await idps.okta.sign({ iss: idps.entra.issuer, aud: idps.entra.clientId, sub: 'x', roles: ['Kvs.Admin'] });
  const out = await authCheck(tok);
  assert.equal(out.accepted, false);
  assert.match(out.reason, /^(unknown key id|bad signature)$/);
});

test('the service itself: a token of each provider gets connection info', async () => {
  emu = await startEmulator();
  gate = await startKvsgate({
    emulator: emu,
    env: { KVSGATE_JWT_HS256_SECRET: undefined, KVSGATE_POLICY_FILE: policyFile, KVSGATE_RATE_LIMIT_RPS: '0' },
  });
  api = client(gate.url);
  const admin = await idps.cognito.access({ sub: 'op-1', scope: 'openid', groups: ['kvs-operators'] });
  assert.equal((await api.put('/v1/channels/lobby-1', { token: admin })).status, 201);
  const tokens = {
    cognito: await idps.cognito.access({ sub: 'c-user', scope: 'https://kvsgate.example.com/kvs:viewer:lobby-*' }),
    auth0: await idps.auth0.access({ sub: 'auth0|u', permissions: ['kvs:viewer:lobby-1'] }),
    keycloak: await idps.keycloak.access({ sub: 'k-user', clientRoles: ['lobby-1'] }),
    okta: await idps.okta.access({ sub: 'o-user', scp: ['kvs:viewer:lobby-*'] }),
    entra: await idps.entra.access({ sub: 'e-user', roles: ['Kvs.Viewer'] }),
  };
  for (const [name, token] of Object.entries(tokens)) {
    const r = await api.get('/v1/channels/lobby-1/viewer', { token });
    assert.equal(r.status, 200, `${name}: ${r.text}`);
    assert.match(r.json.signedUrl || r.json.url || r.text, /X-Amz-Signature=/);
  }
  // the log lines arrive on their own pipe: wait for the fifth
  const served = (l) => l.event === 'access' && l.channel === 'lobby-1' && l.role === 'VIEWER' && l.status === 200;
  await gate.waitForLog(() => gate.logs.filter(served).length === 5);
  const access = gate.logs.filter(served);
  assert.deepEqual(access.map((l) => l.issuer).sort(), ['auth0', 'cognito', 'entra', 'keycloak', 'okta']);
  const denied = await api.get('/v1/channels/lobby-1/viewer', { token: await idps.entra.access({ sub: 'x', roles: ['Kvs.Viewer'], tenant: idps.OTHER_TENANT }) });
  assert.equal(denied.status, 401);
  assert.match(denied.headers.get('www-authenticate'), /wrong issuer/);
});
