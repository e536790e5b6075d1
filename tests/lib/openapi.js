'use strict';
// Holds responses against openapi.yaml: status listed for the operation,
// content type, body schema (JSON Schema 2020-12 via ajv), required headers.
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');
const Ajv2020 = require('ajv/dist/2020');
const addFormats = require('ajv-formats');
const env = require('./env');

const specPath = path.join(env.sourceDir, 'openapi.yaml');
const spec = YAML.parse(fs.readFileSync(specPath, 'utf8'));

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: 'openapi.yaml', components: spec.components });

function resolve(obj) {
  while (obj && obj.$ref) {
    const parts = obj.$ref.replace(/^#\//, '').split('/');
    obj = parts.reduce((o, p) => o[p], spec);
  }
  return obj;
}

const validators = new Map();
function validatorFor(schema) {
  const key = JSON.stringify(schema);
  if (!validators.has(key)) {
    // Rewrite local refs so they resolve inside the 'openapi.yaml' schema.
    const rewritten = JSON.parse(key.replace(/"#\/components\//g, '"openapi.yaml#/components/'));
    validators.set(key, ajv.compile(rewritten));
  }
  return validators.get(key);
}

function findOperation(method, urlPath) {
  const m = method.toLowerCase() === 'head' ? 'get' : method.toLowerCase();
  for (const [template, item] of Object.entries(spec.paths)) {
    const re = new RegExp('^' + template.replace(/\{[^}]+\}/g, '[^/]+').replace(/\./g, '\\.') + '$');
    if (re.test(urlPath)) return { template, item, operation: item[m] || null };
  }
  return { template: null, item: null, operation: null };
}

// Throws an Error describing every mismatch. res: { status, headers (Headers or object), body (string) }
function check(method, url, res) {
  const u = new URL(url, 'http://x');
  const { template, operation } = findOperation(method, u.pathname);
  const get = (h) => (typeof res.headers.get === 'function' ? res.headers.get(h) : res.headers[h.toLowerCase()]) ?? null;
  const problems = [];
  let response;
  if (!operation) {
    // Undefined path or method: 404 / 405 problem documents.
    if (!template && res.status !== 404) problems.push(`no spec path for ${u.pathname} yet status ${res.status}`);
    if (template && res.status !== 405) problems.push(`${method} is not in the spec for ${template} yet status ${res.status}`);
    response = resolve(template ? spec.components.responses.MethodNotAllowed : spec.components.responses.NotFound);
  } else {
    response = resolve(operation.responses[String(res.status)]);
    if (!response) problems.push(`${method} ${template} does not list status ${res.status}`);
  }
  if (!get('x-request-id')) problems.push('missing X-Request-Id');
  if (response) {
    for (const [name, h] of Object.entries(response.headers || {})) {
      const header = resolve(h);
      const required = ['X-Request-Id', 'Retry-After', 'WWW-Authenticate', 'Allow', 'Cache-Control'].includes(name);
      if (required && name !== 'WWW-Authenticate' && get(name) === null)
        problems.push(`missing header ${name}`);
      if (name === 'Cache-Control' && get(name) && !get(name).includes('no-store'))
        problems.push('Cache-Control must be no-store');
      if (header && header.schema && header.schema.pattern && get(name) && !new RegExp(header.schema.pattern).test(get(name)))
        problems.push(`header ${name}=${get(name)} does not match ${header.schema.pattern}`);
    }
    const content = response.content;
    const ctype = (get('content-type') || '').split(';')[0].trim();
    if (content) {
      if (!content[ctype]) problems.push(`content type ${ctype || '(none)'} not in [${Object.keys(content)}]`);
      else if (ctype.endsWith('json') && method !== 'HEAD') {
        let body;
        try { body = JSON.parse(res.body); } catch (e) { problems.push(`body is not JSON: ${res.body.slice(0, 200)}`); }
        if (body !== undefined) {
          const validate = validatorFor(content[ctype].schema);
          if (!validate(body)) problems.push(`body does not match the schema: ${ajv.errorsText(validate.errors)}\n${res.body.slice(0, 500)}`);
          if (body && body.code && res.status >= 400 && body.status !== res.status) problems.push('problem status differs from HTTP status');
        }
      }
    } else if (res.body && res.body.length && method !== 'HEAD') {
      problems.push(`status ${res.status} has no content in the spec but a body was sent`);
    }
  }
  if (problems.length) {
    const err = new Error(`${method} ${u.pathname} -> ${res.status} breaks openapi.yaml:\n  - ${problems.join('\n  - ')}`);
    err.contract = true;
    throw err;
  }
  return { template, operation };
}

module.exports = { spec, specPath, check, findOperation };
