'use strict';
// SigV4 verification, written from the AWS Signature Version 4 specification.
//
// Two entry points, both pure (time and the credential lookup are injected):
//   verifyHeaderAuth(request, policy)  Authorization-header signing
//   verifyQueryAuth(request, policy)   presigned URLs (X-Amz-* in the query)
// Each answers {ok: true, accessKeyId, temporary} or {ok: false, code, message}.
// `code` is protocol-neutral; the caller maps it to the wire error of its
// service (kinesisvideo JSON, STS XML, plain 403 before a WebSocket upgrade):
//   Missing            no authentication at all
//   Incomplete         malformed Authorization / X-Amz-* fields, required
//                      signed headers missing
//   SignatureMismatch  the signature does not match
//   SignatureExpired   X-Amz-Date too far from now, presigned URL expired,
//                      X-Amz-Expires above the policy's maximum
//   WrongScope         credential scope date/region/service/terminator wrong
//   UnsignedToken      a session token that is not covered by the signature
//   UnknownKey         access key not known
//   BadToken           session token missing, wrong, or sent with a static key
//   ExpiredToken       temporary credentials past their expiry
//
// The canonical request is built from the request as received: the path is
// normalised and URI-encoded (so an already percent-encoded path is encoded a
// second time, as SigV4 prescribes for every service but S3), query names and
// values are percent-decoded then re-encoded (RFC 3986 unreserved set only),
// header values are trimmed with inner whitespace runs collapsed, and repeated
// headers are joined with ','. Signatures are compared in constant time.

const crypto = require('node:crypto');

const ALGORITHM = 'AWS4-HMAC-SHA256';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const DEFAULT_MAX_SKEW_MS = 5 * 60 * 1000;
const AMZ_DATE_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const HEX64_RE = /^[0-9a-f]{64}$/;

function sha256Hex(data) {
  return crypto.createHash('sha256').update(data).digest('hex');
}

function hmac(key, data) {
  return crypto.createHmac('sha256', key).update(data, 'utf8').digest();
}

function isUnreserved(b) {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) ||
    b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;
}

// RFC 3986 encoding of bytes: everything but A-Z a-z 0-9 - . _ ~ as %XX (upper case).
function uriEncodeBytes(bytes) {
  let out = '';
  for (const b of bytes) {
    out += isUnreserved(b) ? String.fromCharCode(b) : '%' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase();
  }
  return out;
}

function uriEncode(str) {
  return uriEncodeBytes(Buffer.from(str, 'utf8'));
}

function hexValue(c) {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

// Percent-decodes to bytes. A '%' not followed by two hex digits stays as is;
// '+' is a plus, not a space (SigV4 is not form encoding).
function percentDecode(str) {
  const src = Buffer.from(str, 'utf8');
  const out = Buffer.alloc(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    if (src[i] === 0x25 && i + 2 < src.length) {
      const hi = hexValue(src[i + 1]);
      const lo = hexValue(src[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out[n++] = hi * 16 + lo;
        i += 2;
        continue;
      }
    }
    out[n++] = src[i];
  }
  return out.subarray(0, n);
}

// Canonical URI. `normalize` removes empty, '.' and '..' segments (every AWS
// service but S3 does); each segment is then URI-encoded.
function canonicalPath(rawPath, { normalize = true } = {}) {
  const path = rawPath === '' ? '/' : rawPath;
  let segments = path.split('/');
  let out;
  if (normalize) {
    const kept = [];
    for (const s of segments) {
      if (s === '' || s === '.') continue;
      if (s === '..') kept.pop();
      else kept.push(s);
    }
    out = '/' + kept.map((s) => uriEncode(s)).join('/');
    if (kept.length > 0 && path.endsWith('/')) out += '/';
  } else {
    segments = segments.map((s) => uriEncode(s));
    out = segments.join('/');
    if (!out.startsWith('/')) out = '/' + out;
  }
  return out;
}

// Splits a raw query string into pairs, each name and value also decoded to
// bytes. (Node refuses non-ASCII request targets, so on the wire this is ASCII;
// the SigV4 suite feeds raw UTF-8, which is encoded as its bytes.)
function parseQuery(rawQuery) {
  const pairs = [];
  if (!rawQuery) return pairs;
  for (const piece of rawQuery.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const name = eq < 0 ? piece : piece.slice(0, eq);
    const value = eq < 0 ? '' : piece.slice(eq + 1);
    pairs.push({ rawName: name, rawValue: value, name: percentDecode(name), value: percentDecode(value) });
  }
  return pairs;
}

// Canonical query string: every pair decoded then re-encoded, sorted by
// encoded name then encoded value; names listed in `exclude` are left out.
function canonicalQuery(rawQuery, { exclude = [] } = {}) {
  const items = [];
  for (const p of parseQuery(rawQuery)) {
    const name = p.name.toString('utf8');
    if (exclude.includes(name)) continue;
    items.push([uriEncodeBytes(p.name), uriEncodeBytes(p.value)]);
  }
  items.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return items.map(([k, v]) => `${k}=${v}`).join('&');
}

// Query parameters decoded to strings; the first value of each name wins.
function queryParams(rawQuery) {
  const map = new Map();
  for (const p of parseQuery(rawQuery)) {
    const name = p.name.toString('utf8');
    if (!map.has(name)) map.set(name, p.value.toString('utf8'));
  }
  return map;
}

function trimAll(value) {
  return String(value).replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '').replace(/[ \t\r\n]+/g, ' ');
}

// `headers` is a list of [name, value] as received (Node's rawHeaders paired).
function headerValues(headers, lowerName) {
  const values = [];
  for (const [name, value] of headers) {
    if (name.toLowerCase() === lowerName) values.push(value);
  }
  return values;
}

function canonicalHeaders(headers, signedHeaderNames) {
  let out = '';
  for (const name of signedHeaderNames) {
    const values = headerValues(headers, name).map(trimAll);
    out += `${name}:${values.join(',')}\n`;
  }
  return out;
}

function canonicalRequest({ method, path, query, headersBlock, signedHeaders, payloadHash }) {
  return [method, path, query, headersBlock, signedHeaders, payloadHash].join('\n');
}

function stringToSign(amzDate, scope, canonical) {
  return [ALGORITHM, amzDate, scope, sha256Hex(canonical)].join('\n');
}

function signingKey(secretAccessKey, date, region, service) {
  const kDate = hmac('AWS4' + secretAccessKey, date);
  const kRegion = hmac(kDate, region);
  const kService = hmac(kRegion, service);
  return hmac(kService, 'aws4_request');
}

function signature(secretAccessKey, date, region, service, toSign) {
  return crypto.createHmac('sha256', signingKey(secretAccessKey, date, region, service))
    .update(toSign, 'utf8').digest('hex');
}

// Constant-time equality of two signatures (hex strings of the same length).
function signaturesEqual(a, b) {
  const x = Buffer.from(String(a), 'utf8');
  const y = Buffer.from(String(b), 'utf8');
  if (x.length !== y.length) {
    crypto.timingSafeEqual(x, x); // same work either way
    return false;
  }
  return crypto.timingSafeEqual(x, y);
}

function tokensEqual(a, b) {
  const x = crypto.createHash('sha256').update(String(a)).digest();
  const y = crypto.createHash('sha256').update(String(b)).digest();
  return crypto.timingSafeEqual(x, y);
}

function parseAmzDate(s) {
  const m = AMZ_DATE_RE.exec(s || '');
  if (!m) return null;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  const d = new Date(ms);
  if (d.getUTCFullYear() !== +m[1] || d.getUTCMonth() !== +m[2] - 1 || d.getUTCDate() !== +m[3] ||
      d.getUTCHours() !== +m[4] || d.getUTCMinutes() !== +m[5] || d.getUTCSeconds() !== +m[6]) return null;
  return ms;
}

function formatAmzDate(ms) {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function fail(code, message, extra) {
  return Object.assign({ ok: false, code, message }, extra || {});
}

function checkSkew(amzDate, dateMs, nowMs, maxSkewMs) {
  const now = formatAmzDate(nowMs);
  if (dateMs < nowMs - maxSkewMs) {
    return fail('SignatureExpired', `Signature expired: ${amzDate} is now earlier than ` +
      `${formatAmzDate(nowMs - maxSkewMs)} (${now} - 5 min.)`);
  }
  if (dateMs > nowMs + maxSkewMs) {
    return fail('SignatureExpired', `Signature not yet current: ${amzDate} is still later than ` +
      `${formatAmzDate(nowMs + maxSkewMs)} (${now} + 5 min.)`);
  }
  return null;
}

// "AK/YYYYMMDD/region/service/aws4_request"; the access key may not hold '/'.
function parseCredential(value) {
  const parts = String(value).split('/');
  if (parts.length !== 5 || parts.some((p) => p === '')) return null;
  const [accessKeyId, date, region, service, terminator] = parts;
  return { accessKeyId, date, region, service, terminator, scope: parts.slice(1).join('/') };
}

function checkScope(cred, amzDate, policy) {
  if (cred.terminator !== 'aws4_request') {
    return fail('WrongScope', `Credential should be scoped with a valid terminator: 'aws4_request', not '${cred.terminator}'.`);
  }
  if (cred.date !== amzDate.slice(0, 8)) {
    return fail('WrongScope', 'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of ' +
      `date from HTTP: '${cred.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`);
  }
  if (cred.region !== policy.region) {
    return fail('WrongScope', `Credential should be scoped to a valid region, not '${cred.region}'. `);
  }
  if (cred.service !== policy.service) {
    return fail('WrongScope', `Credential should be scoped to correct service: '${policy.service}'. `);
  }
  return null;
}

// Looks the key up and checks the session token rules. `token` is the token
// the request carries ('' or undefined when none), `tokenSigned` whether the
// signature covers it.
function checkKey(policy, accessKeyId, token, tokenSigned, nowMs) {
  const creds = policy.lookup(accessKeyId);
  if (!creds) return { error: fail('UnknownKey', 'The security token included in the request is invalid.') };
  const hasToken = token !== undefined && token !== '';
  if (creds.sessionToken) {
    if (!hasToken) return { error: fail('BadToken', 'The security token included in the request is invalid.') };
    if (!tokenSigned) {
      return { error: fail('UnsignedToken', 'The session token (X-Amz-Security-Token) must be signed.') };
    }
    if (!tokensEqual(token, creds.sessionToken)) {
      return { error: fail('BadToken', 'The security token included in the request is invalid.') };
    }
    if (creds.expiresAtMs !== undefined && creds.expiresAtMs !== null && nowMs >= creds.expiresAtMs) {
      return { error: fail('ExpiredToken', 'The security token included in the request is expired') };
    }
  } else if (hasToken) {
    return { error: fail('BadToken', 'The security token included in the request is invalid.') };
  }
  return { creds };
}

// Redacts a session token from a canonical string before it is shown to anyone.
function redact(text, token) {
  if (!token) return text;
  let out = text;
  for (const form of new Set([token, uriEncode(token)])) out = out.split(form).join('<redacted>');
  return out;
}

function mismatch(canonical, toSign, token) {
  return fail('SignatureMismatch', 'The request signature we calculated does not match the signature you ' +
    'provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
  { canonicalRequest: redact(canonical, token), stringToSign: toSign });
}

function parseAuthorization(value) {
  const v = String(value).trim();
  const space = v.indexOf(' ');
  if (space < 0) return { error: `Authorization header requires 'Credential' parameter. Authorization=${v.slice(0, 32)}` };
  const algorithm = v.slice(0, space);
  const fields = {};
  for (const part of v.slice(space + 1).split(',')) {
    const p = part.trim();
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    fields[p.slice(0, eq).trim()] = p.slice(eq + 1).trim();
  }
  return { algorithm, fields };
}

/**
 * Verifies Authorization-header SigV4.
 * request: {method, path (raw, without query), query (raw), headers: [[name, value]], body: Buffer}
 * policy:  {service, region, lookup(accessKeyId) -> {secretAccessKey, sessionToken?, expiresAtMs?} | null,
 *           nowMs, maxSkewMs?, requiredSignedHeaders? (default host, x-amz-date)}
 */
function verifyHeaderAuth(request, policy) {
  const headers = request.headers;
  const authValues = headerValues(headers, 'authorization');
  if (authValues.length === 0) return fail('Missing', 'Missing Authentication Token');
  if (authValues.length > 1) return fail('Incomplete', 'Only one Authorization header is allowed.');
  const parsed = parseAuthorization(authValues[0]);
  if (parsed.error) return fail('Incomplete', parsed.error);
  if (parsed.algorithm !== ALGORITHM) {
    return fail('Incomplete', `Unsupported AWS 'algorithm': '${parsed.algorithm}'`);
  }
  for (const f of ['Credential', 'SignedHeaders', 'Signature']) {
    if (!parsed.fields[f]) {
      return fail('Incomplete', `Authorization header requires '${f}' parameter. Authorization header requires ` +
        "existence of either a 'X-Amz-Date' or a 'Date' header.");
    }
  }
  const cred = parseCredential(parsed.fields.Credential);
  if (!cred) return fail('Incomplete', `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${parsed.fields.Credential.replace(/^[^/]*/, '<key>')}'`);
  const signedHeaders = parsed.fields.SignedHeaders;
  const signedList = signedHeaders.split(';');
  if (signedList.some((h) => h === '' || h !== h.toLowerCase())) {
    return fail('Incomplete', 'SignedHeaders must be lower-case names separated by ;');
  }
  const required = policy.requiredSignedHeaders || ['host', 'x-amz-date'];
  for (const h of required) {
    if (!signedList.includes(h)) return fail('Incomplete', `'${h}' must be a 'SignedHeader' in the AWS Authorization.`);
  }
  for (const h of signedList) {
    if (headerValues(headers, h).length === 0) {
      return fail('Incomplete', `'${h}' is listed in SignedHeaders but is not in the request.`);
    }
  }
  const amzDates = headerValues(headers, 'x-amz-date');
  const amzDate = (amzDates[0] || '').trim();
  const dateMs = parseAmzDate(amzDate);
  if (dateMs === null) {
    return fail('Incomplete', "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header (in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z').");
  }
  const skew = checkSkew(amzDate, dateMs, policy.nowMs, policy.maxSkewMs || DEFAULT_MAX_SKEW_MS);
  if (skew) return skew;
  const scopeError = checkScope(cred, amzDate, policy);
  if (scopeError) return scopeError;

  const tokens = headerValues(headers, 'x-amz-security-token');
  const token = tokens.length ? trimAll(tokens[0]) : undefined;
  const key = checkKey(policy, cred.accessKeyId, token, signedList.includes('x-amz-security-token'), policy.nowMs);
  if (key.error) return key.error;

  const body = request.body || Buffer.alloc(0);
  const bodyHash = sha256Hex(body);
  const declared = headerValues(headers, 'x-amz-content-sha256');
  if (declared.length && trimAll(declared[0]) !== bodyHash) {
    return fail('SignatureMismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
  }
  const canonical = canonicalRequest({
    method: request.method,
    path: canonicalPath(request.path, { normalize: policy.normalize !== false }),
    query: canonicalQuery(request.query),
    headersBlock: canonicalHeaders(headers, signedList),
    signedHeaders,
    payloadHash: bodyHash,
  });
  const toSign = stringToSign(amzDate, cred.scope, canonical);
  const expected = signature(key.creds.secretAccessKey, cred.date, cred.region, cred.service, toSign);
  const given = parsed.fields.Signature;
  if (!HEX64_RE.test(given) || !signaturesEqual(expected, given)) {
    return mismatch(canonical, toSign, token);
  }
  return { ok: true, accessKeyId: cred.accessKeyId, temporary: Boolean(key.creds.sessionToken) };
}

/**
 * Verifies a presigned request (X-Amz-* query parameters).
 * request: as verifyHeaderAuth (body ignored)
 * policy:  as verifyHeaderAuth plus maxExpiresS (default 604800) and
 *          payloadHash (default the SHA-256 of the empty string);
 *          requiredSignedHeaders defaults to host.
 */
function verifyQueryAuth(request, policy) {
  const q = queryParams(request.query);
  const names = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Signature'];
  if (!names.some((n) => q.has(n))) return fail('Missing', 'Missing Authentication Token');
  for (const n of names.concat(['X-Amz-Expires'])) {
    if (!q.get(n)) return fail('Incomplete', `AWS query-string parameters must include '${n}'. Re-examine the query-string parameters.`);
  }
  if (q.get('X-Amz-Algorithm') !== ALGORITHM) {
    return fail('Incomplete', `X-Amz-Algorithm only supports '${ALGORITHM}'`);
  }
  const cred = parseCredential(q.get('X-Amz-Credential'));
  if (!cred) return fail('Incomplete', 'X-Amz-Credential must have exactly 5 slash-delimited elements.');
  const amzDate = q.get('X-Amz-Date');
  const dateMs = parseAmzDate(amzDate);
  if (dateMs === null) return fail('Incomplete', "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  const expiresText = q.get('X-Amz-Expires');
  if (!/^\d{1,9}$/.test(expiresText)) return fail('Incomplete', 'X-Amz-Expires should be a number');
  const expiresS = Number(expiresText);
  const maxExpiresS = policy.maxExpiresS || 604800;
  if (expiresS < 1) return fail('Incomplete', 'X-Amz-Expires must be non-negative');
  if (expiresS > maxExpiresS) {
    return fail('SignatureExpired', `X-Amz-Expires must be less than or equal to ${maxExpiresS} seconds, not ${expiresS}`);
  }
  const now = policy.nowMs;
  if (now > dateMs + expiresS * 1000) {
    return fail('SignatureExpired', `Request has expired: signed at ${amzDate}, valid ${expiresS} s, now ${formatAmzDate(now)}`);
  }
  if (dateMs > now + (policy.maxSkewMs || DEFAULT_MAX_SKEW_MS)) {
    return fail('SignatureExpired', `Signature not yet current: ${amzDate} is still later than ` +
      `${formatAmzDate(now + (policy.maxSkewMs || DEFAULT_MAX_SKEW_MS))} (${formatAmzDate(now)} + 5 min.)`);
  }
  const signedHeaders = q.get('X-Amz-SignedHeaders');
  const signedList = signedHeaders.split(';');
  if (signedList.some((h) => h === '' || h !== h.toLowerCase())) {
    return fail('Incomplete', 'X-Amz-SignedHeaders must be lower-case names separated by ;');
  }
  for (const h of policy.requiredSignedHeaders || ['host']) {
    if (!signedList.includes(h)) return fail('Incomplete', `'${h}' must be a 'SignedHeader' in the AWS Authorization.`);
  }
  for (const h of signedList) {
    if (headerValues(request.headers, h).length === 0) {
      return fail('Incomplete', `'${h}' is listed in X-Amz-SignedHeaders but is not in the request.`);
    }
  }
  const scopeError = checkScope(cred, amzDate, policy);
  if (scopeError) return scopeError;
  // Every query parameter but the signature is part of the canonical query,
  // so a token in the query is always signed.
  const token = q.get('X-Amz-Security-Token');
  const key = checkKey(policy, cred.accessKeyId, token, true, now);
  if (key.error) return key.error;

  const canonical = canonicalRequest({
    method: request.method,
    path: canonicalPath(request.path, { normalize: policy.normalize !== false }),
    query: canonicalQuery(request.query, { exclude: ['X-Amz-Signature'] }),
    headersBlock: canonicalHeaders(request.headers, signedList),
    signedHeaders,
    payloadHash: policy.payloadHash || EMPTY_SHA256,
  });
  const toSign = stringToSign(amzDate, cred.scope, canonical);
  const expected = signature(key.creds.secretAccessKey, cred.date, cred.region, cred.service, toSign);
  const given = q.get('X-Amz-Signature');
  if (!HEX64_RE.test(given) || !signaturesEqual(expected, given)) {
    return mismatch(canonical, toSign, token);
  }
  return { ok: true, accessKeyId: cred.accessKeyId, temporary: Boolean(key.creds.sessionToken) };
}

// Node's rawHeaders ([n1, v1, n2, v2, ...]) as [[name, value], ...].
function pairHeaders(rawHeaders) {
  const out = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) out.push([rawHeaders[i], rawHeaders[i + 1]]);
  return out;
}

module.exports = {
  ALGORITHM,
  EMPTY_SHA256,
  sha256Hex,
  uriEncode,
  uriEncodeBytes,
  percentDecode,
  canonicalPath,
  canonicalQuery,
  canonicalHeaders,
  canonicalRequest,
  stringToSign,
  signingKey,
  signature,
  signaturesEqual,
  parseAmzDate,
  formatAmzDate,
  queryParams,
  pairHeaders,
  verifyHeaderAuth,
  verifyQueryAuth,
};
