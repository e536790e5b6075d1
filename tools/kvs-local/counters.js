'use strict';
// Calls per operation, by outcome. Every call that reaches an operation counts
// once in `total` and once in exactly one outcome:
//   ok         a real success answer (2xx, or the WebSocket upgrade)
//   error      a real error answer (4xx/5xx: auth, validation, not found ...)
//              or an injected 5xx
//   throttled  an injected throttle
//   limited    a documented quota exceeded (the `quotas` knob, quotas.js)
//   reset      an injected connection reset
//   stalled    an injected stall
//   garbage    an injected garbage body
//   truncated  an injected truncated body

const OUTCOMES = ['ok', 'throttled', 'limited', 'error', 'reset', 'stalled', 'garbage', 'truncated'];

class Counters {
  constructor() {
    this.reset();
  }

  reset() {
    this.operations = new Map();
  }

  // Counts one call of `operation` ending with `outcome`.
  record(operation, outcome) {
    if (!OUTCOMES.includes(outcome)) throw new Error(`unknown outcome ${outcome}`);
    let entry = this.operations.get(operation);
    if (!entry) {
      entry = { total: 0 };
      for (const o of OUTCOMES) entry[o] = 0;
      this.operations.set(operation, entry);
    }
    entry.total += 1;
    entry[outcome] += 1;
  }

  toJSON() {
    const operations = {};
    for (const name of [...this.operations.keys()].sort()) operations[name] = { ...this.operations.get(name) };
    return { operations };
  }
}

module.exports = { Counters, OUTCOMES };
