'use strict';
// Local identity providers shaped like the real ones, for tests: each serves
// an OpenID discovery document and a JWKS at the paths the provider uses, with
// keys shaped as the provider publishes them, and signs tokens with the
// header and claims the provider puts in them (docs/identity-providers.md
// lists the sources). Issuers are http://127.0.0.1:PORT/... (kvsgate allows
// plain http to loopback only); the path after the port is the provider's.
//
//   const idps = await startIdps();
//   const tok = await idps.cognito.access({ sub, scope: '...' });
//   idps.cognito.issuer, idps.stop()
const crypto = require('node:crypto');
const http = require('node:http');
const { SignJWT, exportJWK } = require('jose');

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const OTHER_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';

function rsa() {
  return crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
}

async function jwkOf(pair, extra) {
  return { ...(await exportJWK(pair.publicKey)), ...extra };
}

function kid() {
  return crypto.randomBytes(16).toString('base64url');
}

// One provider: its issuer, the documents it serves by path, and minting.
function provider(base, spec) {
  return {
    name: spec.name,
    issuer: base + spec.issuerPath,
    docs: {},
    key: spec.key,
    kid: spec.kid,
    // header: the provider's JOSE header; claims: the provider's, merged.
    async sign(claims, { header = spec.header, key = spec.key.privateKey, ttl = 600 } = {}) {
      const now = Math.floor(Date.now() / 1000);
      const body = { iat: now, exp: now + ttl, ...claims };
      for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
      return new SignJWT(body).setProtectedHeader({ ...header, kid: header.kid ?? spec.kid }).sign(key);
    },
  };
}

async function startIdps() {
  const routes = new Map();
  const server = http.createServer((req, res) => {
    const doc = routes.get(req.url.split('?')[0]);
    if (!doc) { res.statusCode = 404; return res.end('{}'); }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(typeof doc === 'function' ? doc() : doc));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const idps = { base, server, TENANT, OTHER_TENANT };
  const serve = (p, iss, jwksPath, keys) => {
    const issPath = iss.slice(base.length).replace(/\/$/, '');
    routes.set(`${issPath}/.well-known/openid-configuration`, {
      issuer: iss,
      jwks_uri: base + jwksPath,
      authorization_endpoint: `${iss.replace(/\/$/, '')}/authorize`,
      id_token_signing_alg_values_supported: ['RS256'],
    });
    routes.set(jwksPath, () => ({ keys: p.jwks }));
    p.jwks = keys;
    p.jwksUrl = base + jwksPath;
  };

  // Amazon Cognito: iss https://cognito-idp.<region>.amazonaws.com/<pool id>;
  // header {kid, alg} (no typ); JWKS <iss>/.well-known/jwks.json, keys with
  // alg RS256 and use sig. ID tokens: aud = app client id, token_use "id",
  // cognito:username, cognito:groups. Access tokens: client_id (no aud),
  // token_use "access", scope (space-separated, custom ones
  // "<resource server>/<scope>"), username, cognito:groups.
  {
    const key = rsa(), k = kid();
    const p = provider(base, { name: 'cognito', issuerPath: '/us-west-2_kvsPool1', key, kid: k, header: { alg: 'RS256' } });
    p.clientId = '4mhtf1ejsql5qlcqv1example';
    serve(p, p.issuer, '/us-west-2_kvsPool1/.well-known/jwks.json', [await jwkOf(key, { kid: k, alg: 'RS256', use: 'sig' })]);
    p.access = ({ sub, scope, groups, clientId = p.clientId, tokenUse = 'access' }) => p.sign({
      sub, iss: p.issuer, client_id: clientId, origin_jti: crypto.randomUUID(), event_id: crypto.randomUUID(),
      token_use: tokenUse, scope, auth_time: Math.floor(Date.now() / 1000), jti: crypto.randomUUID(),
      username: sub, 'cognito:groups': groups, version: 2,
    });
    p.id = ({ sub, groups, aud = p.clientId }) => p.sign({
      sub, iss: p.issuer, aud, 'cognito:groups': groups, 'cognito:username': sub, email_verified: true,
      token_use: 'id', auth_time: Math.floor(Date.now() / 1000), email: `${sub}@example.com`,
    });
    idps.cognito = p;
  }

  // Auth0: iss https://<tenant>.auth0.com/ (trailing slash); header {alg, typ,
  // kid}; JWKS /.well-known/jwks.json (RSA keys with x5t and use sig); access
  // tokens for an API: aud [api identifier, <iss>userinfo], azp, scope,
  // and with RBAC a permissions array.
  {
    const key = rsa(), k = kid();
    const p = provider(base, { name: 'auth0', issuerPath: '/auth0/', key, kid: k, header: { alg: 'RS256', typ: 'JWT' } });
    p.api = 'https://kvsgate.example.com/api';
    serve(p, p.issuer, '/auth0/.well-known/jwks.json', [await jwkOf(key, { kid: k, use: 'sig', alg: 'RS256', x5t: crypto.randomBytes(20).toString('base64url') })]);
    p.access = ({ sub, permissions, scope = 'openid profile', aud = [p.api, `${p.issuer}userinfo`], iss = p.issuer }) => p.sign({
      iss, sub, aud, azp: 'AbCdEfGhIjKlMnOpQrStUvWxYz012345', scope, permissions,
    });
    idps.auth0 = p;
  }

  // Keycloak: iss https://<host>/realms/<realm>; header {alg, typ JWT, kid};
  // JWKS /realms/<realm>/protocol/openid-connect/certs, which also holds an
  // encryption key (use enc, RSA-OAEP) to skip; aud "account" (or the
  // clients), azp the client, typ "Bearer", realm_access.roles,
  // resource_access.<client>.roles, scope.
  {
    const key = rsa(), enc = rsa(), k = kid();
    const p = provider(base, { name: 'keycloak', issuerPath: '/realms/kvs', key, kid: k, header: { alg: 'RS256', typ: 'JWT' } });
    p.client = 'kvsgate-web';
    serve(p, p.issuer, '/realms/kvs/protocol/openid-connect/certs', [
      await jwkOf(enc, { kid: kid(), use: 'enc', alg: 'RSA-OAEP' }),
      await jwkOf(key, { kid: k, use: 'sig', alg: 'RS256' }),
    ]);
    p.access = ({ sub, realmRoles = [], clientRoles = [], azp = p.client, iss = p.issuer }) => p.sign({
      jti: crypto.randomUUID(), iss, aud: 'account', sub, typ: 'Bearer', azp, session_state: crypto.randomUUID(),
      'allowed-origins': ['http://localhost:8080'], realm_access: { roles: ['offline_access', ...realmRoles] },
      resource_access: { [p.client]: { roles: clientRoles }, account: { roles: ['manage-account'] } },
      scope: 'openid profile email', preferred_username: sub,
    });
    idps.keycloak = p;
  }

  // Okta (custom authorization server "default"): iss
  // https://<org>.okta.com/oauth2/default; header {kid, alg} (no typ); JWKS
  // <iss>/v1/keys; aud "api://default", cid, uid, scp (an array), ver 1, and
  // a groups claim when configured.
  {
    const key = rsa(), k = kid();
    const p = provider(base, { name: 'okta', issuerPath: '/oauth2/default', key, kid: k, header: { alg: 'RS256' } });
    serve(p, p.issuer, '/oauth2/default/v1/keys', [await jwkOf(key, { kid: k, alg: 'RS256', use: 'sig' })]);
    p.access = ({ sub, scp, groups, aud = 'api://default' }) => p.sign({
      ver: 1, jti: `AT.${crypto.randomBytes(12).toString('base64url')}`, iss: p.issuer, aud,
      cid: '0oa1example2abcdef3h7', uid: '00u1example2abcdef3h7', scp, sub, groups,
    });
    idps.okta = p;
  }

  // Microsoft Entra ID (v2.0 tokens): iss
  // https://login.microsoftonline.com/<tenant id>/v2.0; header {typ, alg,
  // kid}; JWKS https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys,
  // keys without alg (kty, use, kid, x5t, n, e, issuer); aud the application
  // (client) id; azp, tid, oid, roles (app roles), scp (space-separated),
  // ver "2.0". The signing keys are shared by every tenant.
  {
    const key = rsa(), k = kid();
    const p = provider(base, { name: 'entra', issuerPath: `/${TENANT}/v2.0`, key, kid: k, header: { typ: 'JWT', alg: 'RS256' } });
    p.clientId = '6e74172b-be56-4843-9ff4-e66a39bb12e3';
    const jwk = await jwkOf(key, { kid: k, use: 'sig', x5t: k, issuer: `https://login.microsoftonline.com/{tenantid}/v2.0` });
    serve(p, p.issuer, `/${TENANT}/discovery/v2.0/keys`, [jwk]);
    p.access = ({ sub, roles, scp, tenant = TENANT, aud = p.clientId }) => p.sign({
      aud, iss: `${base}/${tenant}/v2.0`, azp: 'b9a8c7d6-e5f4-4321-9876-543210fedcba', azpacr: '0',
      name: 'Test User', oid: crypto.randomUUID(), preferred_username: `${sub}@contoso.example`,
      rh: '0.AAAA', roles, scp, sub, tid: tenant, uti: crypto.randomBytes(16).toString('base64url'), ver: '2.0',
    });
    idps.entra = p;
  }

  idps.stop = () => new Promise((r) => server.close(r));
  return idps;
}

module.exports = { startIdps };
