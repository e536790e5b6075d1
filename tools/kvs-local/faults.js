'use strict';
// Fault knobs (docs/emulator.md, "Test API"). One mutable set, replaced by
// merge; `decide(operation)` draws the faults of one call.
//
// A call of an affected operation (all when `operations` is null):
//   latencyMs  waits that long before it is handled;
//   then at most one of, in this order of precedence:
//   reset      the socket is destroyed with no answer
//   stall      (stallMs > 0) no answer; the socket is destroyed after stallMs
//   throttle   the service's throttling error
//   error      500 InternalFailure / 503 ServiceUnavailable, alternately
//   garbage    the call is handled, then answered 200 with a body that is
//              neither JSON nor XML
//   truncate   the call is handled, then answered 200 with a body cut short
//              (Content-Length larger than what is sent)
// `quotas` (default: --quotas) switches on the documented request-rate
// quotas (quotas.js), each TPS multiplied by `quotaScale`; they apply to
// every operation, whatever `operations` says.

const RATE_KEYS = ['throttleRate', 'errorRate', 'resetRate', 'garbageRate', 'truncateRate'];
const MS_KEYS = ['latencyMs', 'stallMs', 'createDelayMs', 'deleteDelayMs'];
const MAX_MS = 10 * 60 * 1000;
const MAX_QUOTA_SCALE = 1000;

function defaults(base) {
  return {
    throttleRate: 0,
    errorRate: 0,
    resetRate: 0,
    latencyMs: 0,
    stallMs: 0,
    garbageRate: 0,
    truncateRate: 0,
    operations: null,
    iceTtl: base.iceTtl,
    credentialTtl: base.credentialTtl,
    rejectWebIdentity: false,
    createDelayMs: 0,
    deleteDelayMs: 0,
    clockSkewS: 0,
    quotas: base.quotas === true,
    quotaScale: 1,
  };
}

class Faults {
  // base: {iceTtl, credentialTtl, quotas} from the command line; operations: the
  // known operation names (for validation).
  constructor(base, operations, random = Math.random) {
    this.base = base;
    this.knownOperations = operations;
    this.random = random;
    this.nextErrorStatus = 500;
    this.reset();
  }

  reset() {
    this.current = defaults(this.base);
    this.explicit = new Set();
    this.nextErrorStatus = 500;
  }

  get() {
    return { ...this.current, operations: this.current.operations ? [...this.current.operations] : null };
  }

  // Whether a knob was set explicitly (so it overrides a per-request value).
  isSet(key) {
    return this.explicit.has(key);
  }

  // Validates `patch` and merges it in; throws Error(message) when invalid, in
  // which case nothing changes. A null value puts a knob back to its default.
  merge(patch) {
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
      throw new Error('fault knobs must be a JSON object');
    }
    const next = { ...this.current };
    const explicit = new Set(this.explicit);
    const def = defaults(this.base);
    for (const [key, value] of Object.entries(patch)) {
      if (!(key in def)) throw new Error(`unknown fault knob ${JSON.stringify(key)}`);
      if (value === null) {
        next[key] = def[key];
        explicit.delete(key);
        continue;
      }
      if (RATE_KEYS.includes(key)) {
        if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw new Error(`${key} must be a number in 0..1`);
      } else if (MS_KEYS.includes(key)) {
        if (!Number.isInteger(value) || value < 0 || value > MAX_MS) throw new Error(`${key} must be an integer in 0..${MAX_MS}`);
      } else if (key === 'iceTtl') {
        if (!Number.isInteger(value) || value < 1 || value > 86400) throw new Error('iceTtl must be an integer in 1..86400');
      } else if (key === 'credentialTtl') {
        if (!Number.isInteger(value) || value < 1 || value > 129600) throw new Error('credentialTtl must be an integer in 1..129600');
      } else if (key === 'clockSkewS') {
        if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > 366 * 86400) {
          throw new Error('clockSkewS must be a number of seconds within one year');
        }
      } else if (key === 'rejectWebIdentity' || key === 'quotas') {
        if (typeof value !== 'boolean') throw new Error(`${key} must be a boolean`);
      } else if (key === 'quotaScale') {
        if (typeof value !== 'number' || !Number.isFinite(value) || !(value > 0) || value > MAX_QUOTA_SCALE) {
          throw new Error(`quotaScale must be a number greater than 0 and at most ${MAX_QUOTA_SCALE}`);
        }
      } else if (key === 'operations') {
        if (!Array.isArray(value) || value.some((op) => !this.knownOperations.includes(op))) {
          throw new Error(`operations must be a list of: ${this.knownOperations.join(', ')}`);
        }
      }
      next[key] = key === 'operations' ? [...value] : value;
      explicit.add(key);
    }
    this.current = next;
    this.explicit = explicit;
  }

  clockSkewMs() {
    return this.current.clockSkewS * 1000;
  }

  applies(operation) {
    return !this.current.operations || this.current.operations.includes(operation);
  }

  // The faults of one call of `operation`.
  decide(operation) {
    const f = this.current;
    const out = { latencyMs: 0, action: null, stallMs: 0, errorStatus: 0 };
    if (!this.applies(operation)) return out;
    out.latencyMs = f.latencyMs;
    const hit = (rate) => rate > 0 && this.random() < rate;
    if (hit(f.resetRate)) out.action = 'reset';
    else if (f.stallMs > 0) {
      out.action = 'stall';
      out.stallMs = f.stallMs;
    } else if (hit(f.throttleRate)) out.action = 'throttle';
    else if (hit(f.errorRate)) {
      out.action = 'error';
      out.errorStatus = this.nextErrorStatus;
      this.nextErrorStatus = this.nextErrorStatus === 500 ? 503 : 500;
    } else if (hit(f.garbageRate)) out.action = 'garbage';
    else if (hit(f.truncateRate)) out.action = 'truncate';
    return out;
  }
}

module.exports = { Faults };
