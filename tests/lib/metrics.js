'use strict';
// Reading kvsgate's /metrics in tests.
const { client } = require('./client');

// One metric's samples: {labels string: value} ('' for a series without labels).
async function metric(gate, name) {
  const text = (await client(gate.url).get('/metrics')).text;
  const out = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{.*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out[m[2] || ''] = Number(m[3]);
  }
  return out;
}

const sum = (samples) => Object.values(samples).reduce((a, b) => a + b, 0);

module.exports = { metric, sum };
