'use strict';
// One JSON object per line on stderr. Callers pass only fields that are safe
// to log: never a secret key, session token, signature, TURN password,
// metadata token or a request's query string (presigned URLs carry the
// signature and the token there).

function createLogger({ quiet = false, stream = process.stderr } = {}) {
  function write(level, msg, fields) {
    stream.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + '\n');
  }
  return {
    info: (msg, fields = {}) => {
      if (!quiet) write('info', msg, fields);
    },
    warn: (msg, fields = {}) => write('warn', msg, fields),
    error: (msg, fields = {}) => write('error', msg, fields),
    // One line per AWS operation call; quiet mode leaves them out.
    request: (fields) => {
      if (!quiet) write('info', 'request', fields);
    },
  };
}

module.exports = { createLogger };
