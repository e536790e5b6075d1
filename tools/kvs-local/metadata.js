'use strict';
// Credential endpoints of the compute platforms:
//   container credentials (ECS / EKS Pod Identity): GET /container-credentials
//     with "Authorization: <token>"
//   EC2 IMDSv2: PUT /latest/api/token, then GET
//     /latest/meta-data/iam/security-credentials/[ROLE] with the token.
// Both answer fresh temporary credentials from the credential store.

const crypto = require('node:crypto');
const { json, text } = require('./http-util');
const { isoSeconds } = require('./credentials');

const ROLE_NAME = 'kvs-local-role';
const MAX_TOKENS = 10000;
const CREDENTIALS_PREFIX = '/latest/meta-data/iam/security-credentials';

function tokensEqual(a, b) {
  const x = crypto.createHash('sha256').update(String(a)).digest();
  const y = crypto.createHash('sha256').update(String(b)).digest();
  return crypto.timingSafeEqual(x, y);
}

class MetadataService {
  // options: {credentials, faults, nowMs, containerToken}
  constructor(options) {
    this.credentials = options.credentials;
    this.faults = options.faults;
    this.nowMs = options.nowMs;
    this.containerToken = options.containerToken;
    this.imdsTokens = new Map(); // token -> expiry ms
  }

  reset() {
    this.imdsTokens.clear();
  }

  // The operation a metadata request is, or null when the path is not one.
  static operationFor(method, path) {
    if (path === '/container-credentials') return method === 'GET' ? 'ContainerCredentials' : null;
    if (path === '/latest/api/token') return method === 'PUT' ? 'IMDSToken' : null;
    if (path === CREDENTIALS_PREFIX || path.startsWith(CREDENTIALS_PREFIX + '/')) {
      return method === 'GET' ? 'IMDSCredentials' : null;
    }
    return null;
  }

  ttlS() {
    return this.faults.get().credentialTtl;
  }

  ContainerCredentials(req) {
    const auth = req.headers.authorization;
    if (!auth || !tokensEqual(auth, this.containerToken)) {
      return json(401, { code: 'AccessDenied', message: 'The Authorization header is missing or does not hold the container authorization token.' });
    }
    const c = this.credentials.issue(this.ttlS());
    return json(200, {
      AccessKeyId: c.accessKeyId,
      SecretAccessKey: c.secretAccessKey,
      Token: c.sessionToken,
      Expiration: isoSeconds(c.expiresAtMs),
    });
  }

  IMDSToken(req) {
    if (req.headers['x-forwarded-for']) return text(403, 'Forbidden\n');
    const ttl = req.headers['x-aws-ec2-metadata-token-ttl-seconds'];
    if (!ttl || !/^\d{1,5}$/.test(ttl) || Number(ttl) < 1 || Number(ttl) > 21600) {
      return text(400, 'Bad Request\n');
    }
    if (this.imdsTokens.size >= MAX_TOKENS) this.imdsTokens.delete(this.imdsTokens.keys().next().value);
    const token = 'AQAEA' + crypto.randomBytes(39).toString('base64url');
    this.imdsTokens.set(token, this.nowMs() + Number(ttl) * 1000);
    const r = text(200, token);
    r.headers['x-aws-ec2-metadata-token-ttl-seconds'] = ttl;
    return r;
  }

  validImdsToken(token) {
    if (!token) return false;
    const expiry = this.imdsTokens.get(token);
    return expiry !== undefined && this.nowMs() < expiry;
  }

  IMDSCredentials(req, path) {
    if (!this.validImdsToken(req.headers['x-aws-ec2-metadata-token'])) return text(401, 'Unauthorized\n');
    const rest = path.slice(CREDENTIALS_PREFIX.length).replace(/^\//, '');
    if (rest === '') return text(200, ROLE_NAME);
    if (rest !== ROLE_NAME) return text(404, 'Not Found\n');
    const c = this.credentials.issue(this.ttlS());
    return json(200, {
      Code: 'Success',
      LastUpdated: isoSeconds(this.nowMs()),
      Type: 'AWS-HMAC',
      AccessKeyId: c.accessKeyId,
      SecretAccessKey: c.secretAccessKey,
      Token: c.sessionToken,
      Expiration: isoSeconds(c.expiresAtMs),
    });
  }
}

module.exports = { MetadataService, ROLE_NAME };
