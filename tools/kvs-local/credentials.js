'use strict';
// The keys the emulator knows: static pairs from the command line, and
// temporary credentials it issued (STS, container, IMDS), each with a session
// token and an expiry. Expired temporary keys are kept (up to a bound) so that
// a request signed with one is refused as expired rather than as unknown.

const crypto = require('node:crypto');

const MAX_ISSUED = 20000;
const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function randomFrom(alphabet, length) {
  const bytes = crypto.randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[bytes[i] % alphabet.length];
  return out;
}

class CredentialStore {
  // pairs: [{accessKeyId, secretAccessKey}]; nowMs: () => number
  constructor(pairs, nowMs) {
    this.static = new Map(pairs.map((p) => [p.accessKeyId, { secretAccessKey: p.secretAccessKey }]));
    this.nowMs = nowMs;
    this.issued = new Map();
  }

  // {secretAccessKey, sessionToken?, expiresAtMs?} or null.
  lookup(accessKeyId) {
    return this.static.get(accessKeyId) || this.issued.get(accessKeyId) || null;
  }

  // New temporary credentials valid ttlS seconds from the emulator's now.
  // The session token is long and holds '+', '/' and '=' like real ones, so
  // clients must encode it.
  issue(ttlS) {
    const accessKeyId = 'ASIA' + randomFrom(KEY_ALPHABET, 16);
    const secretAccessKey = crypto.randomBytes(30).toString('base64');
    const sessionToken = 'IQoJb3JpZ2luX2VjE' + crypto.randomBytes(300).toString('base64').replace(/=+$/, '') + '+/==';
    const expiresAtMs = Math.floor(this.nowMs()) + ttlS * 1000;
    if (this.issued.size >= MAX_ISSUED) {
      // Maps iterate in insertion order: drop the oldest.
      this.issued.delete(this.issued.keys().next().value);
    }
    this.issued.set(accessKeyId, { secretAccessKey, sessionToken, expiresAtMs });
    return { accessKeyId, secretAccessKey, sessionToken, expiresAtMs };
  }

  reset() {
    this.issued.clear();
  }
}

// ISO 8601 without milliseconds, as STS and IMDS write it (rounded down, so
// the advertised expiry is never later than the real one).
function isoSeconds(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

module.exports = { CredentialStore, isoSeconds, randomFrom };
