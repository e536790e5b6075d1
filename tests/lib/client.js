'use strict';
// The HTTP client every integration test uses: each response is held against
// openapi.yaml (tests/lib/openapi.js) before the test sees it, so the contract
// is checked on everything the tests exercise.
const openapi = require('./openapi');

let checked = 0;

function client(baseUrl, defaults = {}) {
  async function request(method, path, { token, body, headers = {}, raw, contract = true } = {}) {
    const h = { ...defaults.headers, ...headers };
    const t = token === undefined ? defaults.token : token;
    if (t) h.authorization = `Bearer ${t}`;
    let payload;
    if (raw !== undefined) payload = raw;
    else if (body !== undefined) {
      payload = JSON.stringify(body);
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
    }
    const res = await fetch(baseUrl + path, { method, headers: h, body: payload });
    const text = await res.text();
    const out = { status: res.status, headers: res.headers, text, json: null };
    try { out.json = text ? JSON.parse(text) : null; } catch { out.json = null; }
    if (contract) {
      openapi.check(method, baseUrl + path, { status: res.status, headers: res.headers, body: text });
      checked++;
    }
    return out;
  }
  return {
    request,
    get: (p, o) => request('GET', p, o),
    put: (p, o) => request('PUT', p, o),
    del: (p, o) => request('DELETE', p, o),
    options: (p, o) => request('OPTIONS', p, o),
  };
}

module.exports = { client, checkedCount: () => checked };
