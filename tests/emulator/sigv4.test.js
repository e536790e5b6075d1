'use strict';
// The emulator's SigV4 verifier (tools/kvs-local/sigv4.js) against data
// computed by AWS's own implementations: every case of kvs-presign.json and
// kvs-headers.json (botocore, cross-checked with AWS JS signers), and the 38
// cases of the AWS SigV4 test suite in both header and query mode. Then the
// refusals: wrong secret, tampered signature, expiry, skew, scope, tokens.
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const env = require('../lib/env');
const sigv4 = require(path.join(env.sourceDir, 'tools', 'kvs-local', 'sigv4.js'));

const presign = JSON.parse(fs.readFileSync(path.join(env.vectorsDir, 'kvs-presign.json'), 'utf8'));
const headers = JSON.parse(fs.readFileSync(path.join(env.vectorsDir, 'kvs-headers.json'), 'utf8'));
const suiteDir = path.join(env.vectorsDir, 'sigv4', 'suite');

function splitUrl(url) {
  const m = /^wss:\/\/([^/]+)(\/[^?]*)\?(.*)$/.exec(url);
  return { host: m[1], path: m[2], query: m[3] };
}

function lookupFor(inputs) {
  return (id) => (id === inputs.accessKeyId ?
    { secretAccessKey: inputs.secretAccessKey, sessionToken: inputs.sessionToken || undefined } : null);
}

function presignPolicy(c, extra = {}) {
  return {
    service: c.inputs.service,
    region: c.inputs.region,
    lookup: lookupFor(c.inputs),
    nowMs: sigv4.parseAmzDate(c.inputs.datetime),
    ...extra,
  };
}

function presignRequest(url) {
  const u = splitUrl(url);
  return { method: 'GET', path: u.path, query: u.query, headers: [['Host', u.host]] };
}

describe('kvs-presign.json', () => {
  test('holds the 15 cases', () => assert.equal(presign.cases.length, 15));
  for (const c of presign.cases) {
    test(`${c.id}: canonical request, string to sign and signature equal botocore's`, () => {
      const u = splitUrl(c.expected.url);
      const canonical = sigv4.canonicalRequest({
        method: 'GET',
        path: sigv4.canonicalPath(u.path),
        query: sigv4.canonicalQuery(u.query, { exclude: ['X-Amz-Signature'] }),
        headersBlock: sigv4.canonicalHeaders([['host', u.host]], ['host']),
        signedHeaders: 'host',
        payloadHash: sigv4.EMPTY_SHA256,
      });
      assert.equal(canonical, c.expected.canonicalRequest);
      const toSign = sigv4.stringToSign(c.inputs.datetime, c.expected.credentialScope, canonical);
      assert.equal(toSign, c.expected.stringToSign);
      const [date, region, service] = c.expected.credentialScope.split('/');
      assert.equal(sigv4.signature(c.inputs.secretAccessKey, date, region, service, toSign), c.expected.signature);
    });
    test(`${c.id}: the verifier accepts both URL layouts and refuses a tampered signature`, () => {
      for (const url of [c.expected.url, c.expected.urlSignatureLast]) {
        const r = sigv4.verifyQueryAuth(presignRequest(url), presignPolicy(c));
        assert.equal(r.ok, true, JSON.stringify(r));
        assert.equal(r.accessKeyId, c.inputs.accessKeyId);
        assert.equal(r.temporary, c.inputs.sessionToken !== null);
      }
      const bad = c.expected.url.replace(c.expected.signature, c.expected.signature.replace(/.$/, (x) => (x === '0' ? '1' : '0')));
      const r = sigv4.verifyQueryAuth(presignRequest(bad), presignPolicy(c));
      assert.equal(r.ok, false);
      assert.equal(r.code, 'SignatureMismatch');
    });
  }

  test('p34-expires-3600 is refused under the signaling policy (X-Amz-Expires at most 300)', () => {
    const c = presign.cases.find((x) => x.id === 'p34-expires-3600');
    const r = sigv4.verifyQueryAuth(presignRequest(c.expected.url), presignPolicy(c, { maxExpiresS: 300 }));
    assert.equal(r.ok, false);
    assert.equal(r.code, 'SignatureExpired');
  });

  test('p38: the KVS JS SDK URL, which leaves !\'()* unencoded, does not verify (the spec is followed)', () => {
    const c = presign.cases.find((x) => x.kvsJsSdkDiffers);
    assert.ok(c, 'a case with kvsJsSdkDiffers');
    const r = sigv4.verifyQueryAuth(presignRequest(c.kvsJsSdkDiffers.url), presignPolicy(c));
    assert.equal(r.ok, false);
    assert.equal(r.code, 'SignatureMismatch');
  });
});

describe('kvs-headers.json', () => {
  test('holds the 4 cases', () => assert.equal(headers.cases.length, 4));
  for (const c of headers.cases) {
    const request = () => ({
      method: c.inputs.method,
      path: c.inputs.path,
      query: c.inputs.query,
      headers: c.expected.canonicalHeaders.map(([n, v]) => [n, v]).concat([['Authorization', c.expected.authorization]]),
      body: Buffer.from(c.inputs.body, 'utf8'),
    });
    const policy = (extra = {}) => ({
      service: c.inputs.service,
      region: c.inputs.region,
      lookup: lookupFor(c.inputs),
      nowMs: sigv4.parseAmzDate(c.inputs.datetime),
      ...extra,
    });
    test(`${c.id}: canonical request and signature equal botocore's`, () => {
      const canonical = sigv4.canonicalRequest({
        method: c.inputs.method,
        path: sigv4.canonicalPath(c.inputs.path),
        query: sigv4.canonicalQuery(c.inputs.query),
        headersBlock: sigv4.canonicalHeaders(c.expected.canonicalHeaders, c.expected.signedHeaders.split(';')),
        signedHeaders: c.expected.signedHeaders,
        payloadHash: sigv4.sha256Hex(Buffer.from(c.inputs.body, 'utf8')),
      });
      assert.equal(canonical, c.expected.canonicalRequest);
      const toSign = sigv4.stringToSign(c.inputs.datetime, c.expected.credentialScope, canonical);
      assert.equal(toSign, c.expected.stringToSign);
      const [date, region, service] = c.expected.credentialScope.split('/');
      assert.equal(sigv4.signature(c.inputs.secretAccessKey, date, region, service, toSign), c.expected.signature);
    });
    test(`${c.id}: the verifier accepts it, and refuses a changed body`, () => {
      const r = sigv4.verifyHeaderAuth(request(), policy());
      assert.equal(r.ok, true, JSON.stringify(r));
      const changed = request();
      changed.body = Buffer.from(c.inputs.body.replace('}', ' }'), 'utf8');
      const r2 = sigv4.verifyHeaderAuth(changed, policy());
      assert.equal(r2.ok, false);
      assert.equal(r2.code, 'SignatureMismatch');
    });
  }
});

// ---- The AWS SigV4 test suite -------------------------------------------------

function parseSuiteRequest(text) {
  const nl = text.indexOf('\n');
  const first = nl < 0 ? text : text.slice(0, nl);
  const sp = first.indexOf(' ');
  const method = first.slice(0, sp);
  const target = first.slice(sp + 1, first.length - ' HTTP/1.1'.length);
  const q = target.indexOf('?');
  const lines = nl < 0 ? [] : text.slice(nl + 1).split('\n');
  const hdrs = [];
  let i = 0;
  for (; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') break;
    if (/^[ \t]/.test(line) && hdrs.length) {
      hdrs[hdrs.length - 1][1] += '\n' + line;
      continue;
    }
    const colon = line.indexOf(':');
    hdrs.push([line.slice(0, colon), line.slice(colon + 1)]);
  }
  const body = lines.slice(i + 1).join('\n');
  return {
    method,
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? '' : target.slice(q + 1),
    headers: hdrs,
    body: Buffer.from(body, 'utf8'),
  };
}

const suiteCases = fs.readdirSync(suiteDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

describe('AWS SigV4 test suite', () => {
  test('holds the 38 cases', () => assert.equal(suiteCases.length, 38));
  for (const name of suiteCases) {
    const dir = path.join(suiteDir, name);
    const read = (f) => fs.readFileSync(path.join(dir, f), 'utf8');
    const ctx = JSON.parse(read('context.json'));
    const token = ctx.credentials.token;
    const omitToken = Boolean(ctx.omit_session_token);
    const policy = (extra = {}) => ({
      service: ctx.service,
      region: ctx.region,
      normalize: ctx.normalize,
      nowMs: Date.parse(ctx.timestamp),
      lookup: (id) => (id === ctx.credentials.access_key_id ?
        { secretAccessKey: ctx.credentials.secret_access_key, sessionToken: token } : null),
      ...extra,
    });

    for (const mode of ['header', 'query']) {
      test(`${name} (${mode}): canonical request, string to sign and signature`, () => {
        const req = parseSuiteRequest(read(`${mode}-signed-request.txt`));
        let signedHeaders;
        let amz;
        let scope;
        if (mode === 'header') {
          const auth = req.headers.find(([n]) => n.toLowerCase() === 'authorization')[1];
          signedHeaders = /SignedHeaders=([^,]+)/.exec(auth)[1];
          scope = /Credential=[^/]+\/([^,]+)/.exec(auth)[1];
          amz = req.headers.find(([n]) => n.toLowerCase() === 'x-amz-date')[1];
        } else {
          const q = sigv4.queryParams(req.query);
          signedHeaders = q.get('X-Amz-SignedHeaders');
          scope = q.get('X-Amz-Credential').split('/').slice(1).join('/');
          amz = q.get('X-Amz-Date');
        }
        const exclude = mode === 'query' ? ['X-Amz-Signature'].concat(omitToken ? ['X-Amz-Security-Token'] : []) : [];
        const payloadHash = mode === 'header' || ctx.sign_body ? sigv4.sha256Hex(req.body) : sigv4.EMPTY_SHA256;
        const canonical = sigv4.canonicalRequest({
          method: req.method,
          path: sigv4.canonicalPath(req.path, { normalize: ctx.normalize }),
          query: sigv4.canonicalQuery(req.query, { exclude }),
          headersBlock: sigv4.canonicalHeaders(req.headers, signedHeaders.split(';')),
          signedHeaders,
          payloadHash: mode === 'header' && !ctx.sign_body ? sigv4.EMPTY_SHA256 : payloadHash,
        });
        assert.equal(canonical, read(`${mode}-canonical-request.txt`));
        const toSign = sigv4.stringToSign(amz, scope, canonical);
        assert.equal(toSign, read(`${mode}-string-to-sign.txt`));
        const [date, region, service] = scope.split('/');
        assert.equal(sigv4.signature(ctx.credentials.secret_access_key, date, region, service, toSign),
          read(`${mode}-signature.txt`));
      });

      test(`${name} (${mode}): the verifier ${omitToken ? 'refuses the unsigned session token' : 'accepts the signed request'}`, () => {
        const req = parseSuiteRequest(read(`${mode}-signed-request.txt`));
        const r = mode === 'header' ?
          sigv4.verifyHeaderAuth(req, policy()) :
          sigv4.verifyQueryAuth(req, policy({ payloadHash: ctx.sign_body ? sigv4.sha256Hex(req.body) : sigv4.EMPTY_SHA256 }));
        if (omitToken) {
          assert.equal(r.ok, false);
          assert.equal(r.code, mode === 'header' ? 'UnsignedToken' : 'SignatureMismatch');
        } else {
          assert.equal(r.ok, true, JSON.stringify(r));
        }
      });
    }
  }
});

// ---- Refusals -------------------------------------------------------------------

describe('verifier refusals', () => {
  const base = headers.cases.find((c) => c.id === 'h01-usw2-describe-name');
  const tokenCase = headers.cases.find((c) => c.inputs.sessionToken);
  const now = sigv4.parseAmzDate(base.inputs.datetime);
  const req = (c = base, changes = {}) => ({
    method: c.inputs.method,
    path: c.inputs.path,
    query: c.inputs.query,
    headers: (changes.headers || c.expected.canonicalHeaders).concat([['Authorization', changes.authorization || c.expected.authorization]]),
    body: Buffer.from(c.inputs.body, 'utf8'),
  });
  const policy = (c = base, extra = {}) => ({
    service: 'kinesisvideo',
    region: c.inputs.region,
    nowMs: sigv4.parseAmzDate(c.inputs.datetime),
    lookup: lookupFor(c.inputs),
    ...extra,
  });

  test('no Authorization header is Missing', () => {
    const r = sigv4.verifyHeaderAuth({ ...req(), headers: base.expected.canonicalHeaders }, policy());
    assert.equal(r.code, 'Missing');
  });
  test('a wrong secret is SignatureMismatch, and the canonical request is reported', () => {
    const r = sigv4.verifyHeaderAuth(req(), policy(base, { lookup: () => ({ secretAccessKey: 'not-the-secret' }) }));
    assert.equal(r.code, 'SignatureMismatch');
    assert.equal(r.canonicalRequest, base.expected.canonicalRequest);
  });
  test('an unknown access key is UnknownKey', () => {
    assert.equal(sigv4.verifyHeaderAuth(req(), policy(base, { lookup: () => null })).code, 'UnknownKey');
  });
  test('X-Amz-Date more than 5 minutes from now is SignatureExpired, either way', () => {
    assert.equal(sigv4.verifyHeaderAuth(req(), policy(base, { nowMs: now + 301000 })).code, 'SignatureExpired');
    assert.equal(sigv4.verifyHeaderAuth(req(), policy(base, { nowMs: now - 301000 })).code, 'SignatureExpired');
    assert.equal(sigv4.verifyHeaderAuth(req(), policy(base, { nowMs: now + 299000 })).ok, true);
  });
  test('a scope for another region or service is WrongScope', () => {
    assert.equal(sigv4.verifyHeaderAuth(req(), policy(base, { region: 'eu-west-1' })).code, 'WrongScope');
    assert.equal(sigv4.verifyHeaderAuth(req(), policy(base, { service: 'sts' })).code, 'WrongScope');
  });
  test('a signature over headers without x-amz-date is Incomplete', () => {
    const auth = base.expected.authorization.replace('content-type;host;x-amz-date', 'content-type;host');
    assert.equal(sigv4.verifyHeaderAuth(req(base, { authorization: auth }), policy()).code, 'Incomplete');
  });
  test('malformed Authorization headers are Incomplete', () => {
    for (const a of ['AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA256 Credential=x', 'AWS3 Credential=a/b/c/d/e, SignedHeaders=host, Signature=00',
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-west-2/kinesisvideo, SignedHeaders=host;x-amz-date, Signature=' + '0'.repeat(64)]) {
      assert.equal(sigv4.verifyHeaderAuth(req(base, { authorization: a }), policy()).code, 'Incomplete', a);
    }
  });
  test('temporary keys: the token must be present, signed, right and not expired', () => {
    const c = tokenCase;
    const withoutToken = c.expected.canonicalHeaders.filter(([n]) => n !== 'x-amz-security-token');
    assert.equal(sigv4.verifyHeaderAuth(req(c), policy(c)).ok, true);
    const unsignedAuth = c.expected.authorization.replace(';x-amz-security-token', '');
    assert.equal(sigv4.verifyHeaderAuth(req(c, { headers: withoutToken, authorization: unsignedAuth }), policy(c)).code, 'BadToken');
    const wrong = c.expected.canonicalHeaders.map(([n, v]) => [n, n === 'x-amz-security-token' ? v + 'x' : v]);
    assert.equal(sigv4.verifyHeaderAuth(req(c, { headers: wrong }), policy(c)).code, 'BadToken');
    const unsigned = c.expected.authorization.replace(';x-amz-security-token', '');
    assert.equal(sigv4.verifyHeaderAuth(req(c, { authorization: unsigned }), policy(c)).code, 'UnsignedToken');
    const expiring = (expiresAtMs) => policy(c, { lookup: () => ({ secretAccessKey: c.inputs.secretAccessKey, sessionToken: c.inputs.sessionToken, expiresAtMs }) });
    const t = sigv4.parseAmzDate(c.inputs.datetime);
    assert.equal(sigv4.verifyHeaderAuth(req(c), expiring(t)).code, 'ExpiredToken');
    assert.equal(sigv4.verifyHeaderAuth(req(c), expiring(t + 1000)).ok, true);
  });
  test('a session token sent with a static key is BadToken', () => {
    const c = tokenCase;
    const r = sigv4.verifyHeaderAuth(req(c), policy(c, { lookup: () => ({ secretAccessKey: c.inputs.secretAccessKey }) }));
    assert.equal(r.code, 'BadToken');
  });

  const p = presign.cases.find((c) => c.id === 'p04-usw2-viewer-token');
  const pNow = sigv4.parseAmzDate(p.inputs.datetime);
  test('presigned: valid from X-Amz-Date for X-Amz-Expires seconds, then SignatureExpired', () => {
    assert.equal(sigv4.verifyQueryAuth(presignRequest(p.expected.url), presignPolicy(p, { nowMs: pNow + 299000 })).ok, true);
    assert.equal(sigv4.verifyQueryAuth(presignRequest(p.expected.url), presignPolicy(p, { nowMs: pNow + 300000 })).code, 'SignatureExpired');
    assert.equal(sigv4.verifyQueryAuth(presignRequest(p.expected.url), presignPolicy(p, { nowMs: pNow - 301000 })).code, 'SignatureExpired');
  });
  test('presigned: a missing session token is BadToken, a changed one SignatureMismatch or BadToken', () => {
    const noToken = p.expected.url.replace(/&X-Amz-Security-Token=[^&]*/, '');
    assert.equal(sigv4.verifyQueryAuth(presignRequest(noToken), presignPolicy(p)).code, 'BadToken');
    const changed = p.expected.url.replace(/(X-Amz-Security-Token=)([^&]*)/, '$1x$2');
    assert.equal(sigv4.verifyQueryAuth(presignRequest(changed), presignPolicy(p)).code, 'BadToken');
  });
  test('presigned: a changed host or path does not verify', () => {
    const r1 = sigv4.verifyQueryAuth({ ...presignRequest(p.expected.url), headers: [['host', 'other.example.com']] }, presignPolicy(p));
    assert.equal(r1.code, 'SignatureMismatch');
    const r2 = sigv4.verifyQueryAuth({ ...presignRequest(p.expected.url), path: '/other' }, presignPolicy(p));
    assert.equal(r2.code, 'SignatureMismatch');
  });
  test('presigned: missing X-Amz-* parameters are Missing or Incomplete', () => {
    assert.equal(sigv4.verifyQueryAuth({ ...presignRequest(p.expected.url), query: 'X-Amz-ChannelARN=x' }, presignPolicy(p)).code, 'Missing');
    const noExpires = p.expected.url.replace(/&X-Amz-Expires=\d+/, '');
    assert.equal(sigv4.verifyQueryAuth(presignRequest(noExpires), presignPolicy(p)).code, 'Incomplete');
  });
  test('signatures are compared with crypto.timingSafeEqual', () => {
    const src = fs.readFileSync(path.join(env.sourceDir, 'tools', 'kvs-local', 'sigv4.js'), 'utf8');
    assert.match(src, /timingSafeEqual/);
    assert.equal(sigv4.signaturesEqual('ab', 'ab'), true);
    assert.equal(sigv4.signaturesEqual('ab', 'ac'), false);
    assert.equal(sigv4.signaturesEqual('ab', 'abc'), false);
  });
});
