'use strict';
// Small HTTP helpers shared by the services: bounded body reading, AWS error
// bodies, and the response descriptor every handler returns:
//   {status, headers: {name: value}, body: string | Buffer}

const crypto = require('node:crypto');

const MAX_BODY_BYTES = 1024 * 1024;
// What the garbage fault answers: neither JSON nor XML.
const GARBAGE = Buffer.from('\u0000\u00ff%garbage%<<{{ not json, not xml ]]>', 'latin1');
const KVS_ERROR_NAMESPACE = 'http://internal.amazon.com/coral/com.amazonaws.kinesisvideo.v20170930/';
const CORAL_ERROR_NAMESPACE = 'http://internal.amazon.com/coral/com.amazon.coral.service/';
// Errors raised by the authentication layer rather than the service model.
const CORAL_ERRORS = new Set(['UnrecognizedClientException', 'InvalidSignatureException',
  'IncompleteSignatureException', 'MissingAuthenticationTokenException', 'ExpiredTokenException',
  'SerializationException', 'UnknownOperationException', 'InternalFailure', 'ServiceUnavailable',
  'RequestEntityTooLargeException']);

// Resolves {body: Buffer} or {tooLarge: true}; rejects (err.clientGone) when
// the client aborts or the socket fails before the body is complete.
function readBody(req, limit = MAX_BODY_BYTES) {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      resolve({ tooLarge: true });
      return;
    }
    const chunks = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        resolve({ tooLarge: true });
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) {
        done = true;
        resolve({ body: Buffer.concat(chunks) });
      }
    });
    const gone = (err) => {
      if (!done) {
        done = true;
        reject(Object.assign(err || new Error('the client went away'), { clientGone: true }));
      }
    };
    req.on('error', gone);
    req.on('close', () => gone());
  });
}

function requestId() {
  return crypto.randomUUID();
}

// A rest-json error as KVS answers it: x-amzn-ErrorType header and a JSON body.
function jsonError(status, type, message) {
  const namespace = CORAL_ERRORS.has(type) ? CORAL_ERROR_NAMESPACE : KVS_ERROR_NAMESPACE;
  return {
    status,
    headers: { 'content-type': 'application/json', 'x-amzn-errortype': `${type}:${namespace}` },
    body: JSON.stringify({ __type: type, message }),
    errorType: type,
  };
}

function json(status, value) {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) };
}

function text(status, body, contentType = 'text/plain') {
  return { status, headers: { 'content-type': contentType }, body };
}

function xmlEscape(s) {
  return String(s).replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]);
}

// Maps a sigv4.js failure code to the kinesisvideo JSON error.
function kvsAuthError(failure) {
  const type = {
    Missing: 'MissingAuthenticationTokenException',
    Incomplete: 'IncompleteSignatureException',
    SignatureMismatch: 'InvalidSignatureException',
    SignatureExpired: 'InvalidSignatureException',
    WrongScope: 'InvalidSignatureException',
    UnsignedToken: 'InvalidSignatureException',
    UnknownKey: 'UnrecognizedClientException',
    BadToken: 'UnrecognizedClientException',
    ExpiredToken: 'ExpiredTokenException',
  }[failure.code] || 'InvalidSignatureException';
  let message = failure.message;
  if (failure.canonicalRequest) {
    message += `\n\nThe Canonical String for this request should have been\n'${failure.canonicalRequest}'\n\n` +
      `The String-to-Sign should have been\n'${failure.stringToSign}'\n`;
  }
  return jsonError(403, type, message);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

module.exports = {
  MAX_BODY_BYTES,
  GARBAGE,
  readBody,
  requestId,
  jsonError,
  json,
  text,
  xmlEscape,
  kvsAuthError,
  sleep,
};
