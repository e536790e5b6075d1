'use strict';
// What the Node tests need to run the C programs under a sanitizer or valgrind
// (make test-sanitize, make test-valgrind; see docs/robustness.md):
//
//   passEnv()      the ASAN_/UBSAN_/LSAN_/TSAN_OPTIONS of this process, to hand
//                  to a child whose environment is otherwise built from scratch
//   wrap(bin, a)   [command, args] with KVSGATE_TEST_WRAPPER (e.g. "valgrind
//                  --error-exitcode=99 ...") put in front, when it is set
//   slow()         how much slower the wrapped program runs (timeouts scale)
//   findReport(s)  the first sanitizer or valgrind error report in a program's
//                  stderr, or null. A program's output never holds these
//                  markers otherwise, so any hit is a real finding.

const MARKERS = [
  /^==\d+==ERROR: (AddressSanitizer|LeakSanitizer)/m,
  /^SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|ThreadSanitizer)/m,
  /: runtime error: /,
  /^WARNING: ThreadSanitizer:/m,
  // valgrind (run with -q, it prints only errors): an error kind, a definite
  // leak, or the summary line when -q is not given.
  /^==\d+== (Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|Mismatched free|Source and destination overlap|Process terminating)/m,
  /^==\d+== .* are definitely lost in loss record/m,
  /^==\d+== ERROR SUMMARY: [1-9]/m,
];

function passEnv() {
  const out = {};
  for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS', 'TSAN_OPTIONS', 'ASAN_SYMBOLIZER_PATH']) {
    if (process.env[k]) out[k] = process.env[k];
  }
  return out;
}

function wrapperArgs() {
  const w = (process.env.KVSGATE_TEST_WRAPPER || '').trim();
  return w ? w.split(/\s+/) : [];
}

function wrap(bin, args) {
  const w = wrapperArgs();
  return w.length ? [w[0], [...w.slice(1), bin, ...args]] : [bin, args];
}

function slow() {
  const w = wrapperArgs();
  if (!w.length) return 1;
  return /valgrind/.test(w[0]) ? 20 : 3;
}

function findReport(text) {
  for (const re of MARKERS) {
    const m = re.exec(text);
    if (m) {
      const start = Math.max(0, text.lastIndexOf('\n', Math.max(0, m.index - 1)));
      return text.slice(start, start + 6000);
    }
  }
  return null;
}

module.exports = { passEnv, wrap, slow, findReport };
