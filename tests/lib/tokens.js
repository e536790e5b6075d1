'use strict';
// Tokens minted with an independent library (jose), never with kvsgate's code.
const crypto = require('node:crypto');
const { SignJWT, exportJWK, exportSPKI, generateKeyPair } = require('jose');
const { DEV_SECRET } = require('./kvsgate');

const ALGS = {
  HS256: null,
  RS256: ['RS256', { modulusLength: 2048 }],
  RS384: ['RS384', { modulusLength: 2048 }],
  RS512: ['RS512', { modulusLength: 2048 }],
  PS256: ['PS256', { modulusLength: 2048 }],
  ES256: ['ES256', {}],
  ES384: ['ES384', {}],
};

// Node KeyObjects (not WebCrypto keys): an RSA key then signs RS256/384/512
// and PS256 alike, as a PEM public key verifies all of them.
async function keyPair(alg) {
  if (alg.startsWith('RS') || alg.startsWith('PS'))
    return crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  if (alg === 'ES256') return crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  if (alg === 'ES384') return crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
  return generateKeyPair(ALGS[alg][0], { ...ALGS[alg][1], extractable: true });
}

// claims: { sub, kvs: {...}, ...}; options: { alg, key, kid, expiresIn, header }
async function mint(claims, options = {}) {
  const alg = options.alg || 'HS256';
  const key = options.key || new TextEncoder().encode(DEV_SECRET);
  const now = Math.floor(Date.now() / 1000);
  const body = { iat: now, exp: now + (options.ttl ?? 600), ...claims };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  const jwt = new SignJWT(body).setProtectedHeader({ alg, ...(options.kid ? { kid: options.kid } : {}), ...(options.header || {}) });
  return jwt.sign(key);
}

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

// Hand-built tokens for attacks jose refuses to produce.
function unsigned(header, payload, signature = '') {
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${signature}`;
}

function hmacToken(header, payload, secret) {
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const sig = crypto.createHmac(header.alg === 'HS512' ? 'sha512' : 'sha256', secret).update(signingInput).digest();
  return `${signingInput}.${b64url(sig)}`;
}

module.exports = { mint, keyPair, unsigned, hmacToken, exportJWK, exportSPKI, ALGS, b64url };
