#!/usr/bin/env node
'use strict';
// The demo's static server (Node.js built-ins only). Serves the page, its
// script and style, and the official KVS WebRTC SDK browser bundle from
// node_modules, and nothing else: a fixed table of files, so no path from the
// request ever reaches the file system.
//
//   node demo/server.js [--port 8000] [--host 127.0.0.1] [--quiet]
//
// Prints one JSON line on stdout when it listens, like the emulator:
//   {"event":"ready","port":8000,"url":"http://127.0.0.1:8000"}
// then one line per request on stderr (unless --quiet). SIGINT and SIGTERM
// stop it. The page holds no configuration: kvsgate's address, the channel and
// the caller's token come from the page URL's fragment or the form.

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');

const here = __dirname;
const sdkPath = path.join(here, '..', 'node_modules', 'amazon-kinesis-video-streams-webrtc', 'dist',
  'kvs-webrtc.min.js');

const FILES = {
  '/': [path.join(here, 'index.html'), 'text/html; charset=utf-8'],
  '/index.html': [path.join(here, 'index.html'), 'text/html; charset=utf-8'],
  '/demo.js': [path.join(here, 'demo.js'), 'text/javascript; charset=utf-8'],
  '/demo.css': [path.join(here, 'demo.css'), 'text/css; charset=utf-8'],
  '/vendor/kvs-webrtc.min.js': [sdkPath, 'text/javascript; charset=utf-8'],
};

// The page talks to kvsgate and to signaling endpoints on other origins
// (http(s) and ws(s)); everything else comes from here.
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; connect-src 'self' http: https: ws: wss:; " +
    "media-src 'self' blob: mediastream:; img-src 'self' data:; object-src 'none'; base-uri 'none'; " +
    "form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'permissions-policy': 'camera=(self), microphone=(self)',
};

function parseArgs(argv) {
  const opts = { port: 8000, host: '127.0.0.1', quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quiet') opts.quiet = true;
    else if (a === '--port' && i + 1 < argv.length) opts.port = Number(argv[++i]);
    else if (a === '--host' && i + 1 < argv.length) opts.host = argv[++i];
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node demo/server.js [--port 8000] [--host 127.0.0.1] [--quiet]\n');
      process.exit(0);
    } else {
      process.stderr.write(`demo/server.js: unknown or incomplete argument ${a}\n`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    process.stderr.write('demo/server.js: --port must be 0..65535\n');
    process.exit(2);
  }
  return opts;
}

function createServer({ quiet = false } = {}) {
  return http.createServer((req, res) => {
    const q = req.url.indexOf('?');
    const p = q < 0 ? req.url : req.url.slice(0, q);
    const entry = Object.prototype.hasOwnProperty.call(FILES, p) ? FILES[p] : null;
    const done = (status) => {
      if (!quiet) process.stderr.write(JSON.stringify({ method: req.method, path: p.slice(0, 200), status }) + '\n');
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('method not allowed\n');
      return done(405);
    }
    if (!entry) {
      res.writeHead(404, { 'content-type': 'text/plain', ...SECURITY_HEADERS });
      res.end('not found\n');
      return done(404);
    }
    fs.readFile(entry[0], (err, data) => {
      if (err) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(entry[0] === sdkPath ? 'the KVS SDK bundle is missing: run tools/bootstrap run\n' : 'read error\n');
        return done(500);
      }
      res.writeHead(200, { 'content-type': entry[1], 'content-length': data.length, ...SECURITY_HEADERS });
      res.end(req.method === 'HEAD' ? undefined : data);
      done(200);
    });
  });
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const server = createServer(opts);
  server.on('error', (e) => {
    const why = e.code === 'EADDRINUSE' ? 'the port is already in use' : e.message;
    process.stderr.write(`demo/server.js: cannot listen on ${opts.host}:${opts.port}: ${why}\n`);
    process.exit(1);
  });
  server.listen(opts.port, opts.host, () => {
    const port = server.address().port;
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    process.stdout.write(JSON.stringify({ event: 'ready', port, url: `http://${host}:${port}` }) + '\n');
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) main();

module.exports = { createServer, FILES };
