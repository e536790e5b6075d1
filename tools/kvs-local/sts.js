'use strict';
// STS (query protocol, XML answers): AssumeRoleWithWebIdentity (unsigned) and
// AssumeRole (SigV4, service "sts"). Both hand out temporary credentials from
// the credential store.

const { xmlEscape, requestId } = require('./http-util');
const { isoSeconds, randomFrom } = require('./credentials');

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const ROLE_ARN_RE = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const SESSION_NAME_RE = /^[\w+=,.@-]{2,64}$/;
const EXTERNAL_ID_RE = /^[\w+=,.@:/-]{2,1224}$/;
const JWT_RE = /^[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+$/;
const ACTIONS = { AssumeRoleWithWebIdentity: 'AssumeRoleWithWebIdentity', AssumeRole: 'AssumeRole' };

function xmlError(status, type, code, message) {
  const id = requestId();
  return {
    status,
    headers: { 'content-type': 'text/xml', 'x-amzn-requestid': id },
    body: `<ErrorResponse xmlns="${NS}">\n  <Error>\n    <Type>${type}</Type>\n    <Code>${xmlEscape(code)}</Code>\n` +
      `    <Message>${xmlEscape(message)}</Message>\n  </Error>\n  <RequestId>${id}</RequestId>\n</ErrorResponse>\n`,
    errorType: code,
  };
}

const validation = (message) => xmlError(400, 'Sender', 'ValidationError', message);

// Maps a sigv4.js failure code to STS's XML error.
function stsAuthError(failure) {
  const code = {
    Missing: 'MissingAuthenticationToken',
    Incomplete: 'IncompleteSignature',
    SignatureMismatch: 'SignatureDoesNotMatch',
    SignatureExpired: 'SignatureDoesNotMatch',
    WrongScope: 'SignatureDoesNotMatch',
    UnsignedToken: 'SignatureDoesNotMatch',
    UnknownKey: 'InvalidClientTokenId',
    BadToken: 'InvalidClientTokenId',
    ExpiredToken: 'ExpiredToken',
  }[failure.code] || 'SignatureDoesNotMatch';
  let message = failure.message;
  if (failure.canonicalRequest) {
    message += `\n\nThe Canonical String for this request should have been\n'${failure.canonicalRequest}'\n\n` +
      `The String-to-Sign should have been\n'${failure.stringToSign}'\n`;
  }
  return xmlError(403, 'Sender', code, message);
}

function parseForm(body) {
  const params = new URLSearchParams(body.toString('utf8'));
  const map = new Map();
  for (const [k, v] of params) if (!map.has(k)) map.set(k, v);
  return map;
}

// The operation a form body asks for, or null.
function operationOf(form) {
  const action = form.get('Action');
  return Object.prototype.hasOwnProperty.call(ACTIONS, action) ? ACTIONS[action] : null;
}

function roleParts(roleArn) {
  const account = roleArn.split(':')[4];
  const roleName = roleArn.slice(roleArn.indexOf(':role/') + 6).split('/').pop();
  return { account, roleName, partition: roleArn.split(':')[1] };
}

class StsService {
  // options: {credentials: CredentialStore, faults, nowMs, externalId}
  constructor(options) {
    this.credentials = options.credentials;
    this.faults = options.faults;
    this.nowMs = options.nowMs;
    this.externalId = options.externalId;
  }

  // STS answers for an action that is missing or unknown.
  static unknownAction(form) {
    const action = form.get('Action');
    if (!action) return xmlError(400, 'Sender', 'MissingAction', 'Missing Action');
    return xmlError(400, 'Sender', 'InvalidAction', `Could not find operation ${action} for version ${form.get('Version') || 'NO_VERSION_SPECIFIED'}`);
  }

  // Common parameter checks; returns an error response or {roleArn, sessionName, ttlS}.
  common(form) {
    if (form.get('Version') !== '2011-06-15') {
      return { error: xmlError(400, 'Sender', 'InvalidAction', `Could not find operation ${form.get('Action')} for version ${form.get('Version') || 'NO_VERSION_SPECIFIED'}`) };
    }
    const roleArn = form.get('RoleArn');
    if (!roleArn) return { error: validation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null") };
    if (roleArn.length < 20 || roleArn.length > 2048 || !ROLE_ARN_RE.test(roleArn)) {
      return { error: validation(`${roleArn} is invalid`) };
    }
    const sessionName = form.get('RoleSessionName');
    if (!sessionName) return { error: validation("1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null") };
    if (!SESSION_NAME_RE.test(sessionName)) {
      return { error: validation(`1 validation error detected: Value '${sessionName}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`) };
    }
    let durationS;
    if (form.has('DurationSeconds')) {
      const d = form.get('DurationSeconds');
      if (!/^\d{1,6}$/.test(d) || Number(d) < 900 || Number(d) > 43200) {
        return { error: validation(`1 validation error detected: Value '${d}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200`) };
      }
      durationS = Number(d);
    }
    // The credentialTtl knob, when set, wins (tests use it for short-lived
    // credentials); otherwise DurationSeconds, otherwise --credential-ttl.
    const ttlS = this.faults.isSet('credentialTtl') || durationS === undefined ? this.faults.get().credentialTtl : durationS;
    return { roleArn, sessionName, ttlS };
  }

  issue(action, c, extra) {
    const creds = this.credentials.issue(c.ttlS);
    const { account, roleName, partition } = roleParts(c.roleArn);
    const roleId = 'AROA' + randomFrom('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 17);
    const id = requestId();
    const body = `<${action}Response xmlns="${NS}">\n  <${action}Result>\n` +
      (extra.before || '') +
      `    <AssumedRoleUser>\n      <AssumedRoleId>${roleId}:${xmlEscape(c.sessionName)}</AssumedRoleId>\n` +
      `      <Arn>arn:${partition}:sts::${account}:assumed-role/${xmlEscape(roleName)}/${xmlEscape(c.sessionName)}</Arn>\n    </AssumedRoleUser>\n` +
      `    <Credentials>\n      <AccessKeyId>${creds.accessKeyId}</AccessKeyId>\n` +
      `      <SecretAccessKey>${xmlEscape(creds.secretAccessKey)}</SecretAccessKey>\n` +
      `      <SessionToken>${xmlEscape(creds.sessionToken)}</SessionToken>\n` +
      `      <Expiration>${isoSeconds(creds.expiresAtMs)}</Expiration>\n    </Credentials>\n` +
      (extra.after || '') +
      `  </${action}Result>\n  <ResponseMetadata>\n    <RequestId>${id}</RequestId>\n  </ResponseMetadata>\n</${action}Response>\n`;
    return { status: 200, headers: { 'content-type': 'text/xml', 'x-amzn-requestid': id }, body };
  }

  AssumeRoleWithWebIdentity(form) {
    const c = this.common(form);
    if (c.error) return c.error;
    const token = form.get('WebIdentityToken');
    if (!token) return validation("1 validation error detected: Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null");
    if (token.length < 4 || token.length > 20000) {
      return validation("1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length between 4 and 20000");
    }
    const m = JWT_RE.exec(token);
    let claims = null;
    if (m) {
      try {
        claims = JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8'));
      } catch (e) {
        claims = null;
      }
    }
    if (!claims || typeof claims !== 'object' || Array.isArray(claims)) {
      return xmlError(400, 'Sender', 'InvalidIdentityToken', 'The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)');
    }
    if (this.faults.get().rejectWebIdentity) {
      return xmlError(400, 'Sender', 'InvalidIdentityToken', 'Couldn\'t retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements');
    }
    if (typeof claims.exp === 'number' && claims.exp * 1000 <= this.nowMs()) {
      return xmlError(400, 'Sender', 'ExpiredTokenException',
        `Token expired: current date/time ${Math.floor(this.nowMs() / 1000)} must be before the expiration date/time ${claims.exp}`);
    }
    const sub = typeof claims.sub === 'string' ? claims.sub : '';
    const aud = Array.isArray(claims.aud) ? claims.aud[0] : claims.aud;
    const iss = typeof claims.iss === 'string' ? claims.iss.replace(/^https:\/\//, '') : 'kvs-local';
    return this.issue('AssumeRoleWithWebIdentity', c, {
      before: '',
      after: `    <SubjectFromWebIdentityToken>${xmlEscape(sub)}</SubjectFromWebIdentityToken>\n` +
        `    <Audience>${xmlEscape(typeof aud === 'string' ? aud : '')}</Audience>\n` +
        `    <Provider>${xmlEscape(iss)}</Provider>\n`,
    });
  }

  // Called after the request's SigV4 (service sts) has been verified.
  AssumeRole(form) {
    const c = this.common(form);
    if (c.error) return c.error;
    const externalId = form.get('ExternalId');
    if (externalId !== undefined && !EXTERNAL_ID_RE.test(externalId)) {
      return validation(`1 validation error detected: Value '${externalId}' at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:/-]*`);
    }
    if (this.externalId && externalId !== this.externalId) {
      return xmlError(403, 'Sender', 'AccessDenied', `User is not authorized to perform: sts:AssumeRole on resource: ${c.roleArn}`);
    }
    return this.issue('AssumeRole', c, {});
  }
}

module.exports = { StsService, stsAuthError, xmlError, parseForm, operationOf };
