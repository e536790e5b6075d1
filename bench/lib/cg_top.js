#!/usr/bin/env node
'use strict';
// Top functions of a callgrind profile, per request.
//
//   node bench/lib/cg_top.js PROFILE REQUESTS [TOP [NAME]]
//
// Reads a profile written with --compress-strings=no --compress-pos=no and
// prints, per function, the exclusive instructions (its own) and the inclusive
// ones (with what it calls; recursion counts twice), divided by REQUESTS,
// sorted by exclusive cost. With NAME: the call edges into and out of the
// functions whose name contains NAME, inclusive cost per request. Written
// because callgrind_annotate 3.19 charges a whole thread to `clone` when the
// profile was zeroed mid-run.
const fs = require('node:fs');

function parse(path) {
  const excl = new Map(), callsIncl = new Map(), objOf = new Map(), edges = new Map();
  let fn = null, ob = null, callee = null, afterCalls = false;
  const add = (m, k, v) => m.set(k, (m.get(k) || 0) + v);
  for (const line of fs.readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    if (line.startsWith('ob=')) { ob = line.slice(3); continue; }
    if (line.startsWith('fn=')) { fn = line.slice(3); if (!objOf.has(fn)) objOf.set(fn, ob); continue; }
    if (line.startsWith('cfn=')) { callee = line.slice(4); continue; }
    if (line.startsWith('calls=')) { afterCalls = true; continue; }
    const c = line[0];
    if ((c >= '0' && c <= '9') || c === '+' || c === '-' || c === '*') {
      const parts = line.split(/\s+/);
      const cost = parts.length > 1 ? Number(parts[1]) : 0;
      if (afterCalls) {
        add(callsIncl, fn, cost);
        add(edges, `${fn}\u0000${callee}`, cost);
        afterCalls = false;
      } else if (fn !== null) {
        add(excl, fn, cost);
      }
    }
  }
  return { excl, callsIncl, objOf, edges };
}

function main() {
  const [path, reqArg, topArg, name] = process.argv.slice(2);
  if (!path || !reqArg) {
    process.stderr.write('usage: cg_top.js PROFILE REQUESTS [TOP [NAME]]\n');
    process.exit(2);
  }
  const requests = Number(reqArg), top = Number(topArg || 40);
  const { excl, callsIncl, objOf, edges } = parse(path);
  const total = [...excl.values()].reduce((a, b) => a + b, 0);
  const f = (n) => (n / requests).toFixed(0).padStart(10);
  if (name) {
    const list = [...edges.entries()].sort((a, b) => b[1] - a[1]);
    for (const [k, v] of list) { const [a, b] = k.split('\u0000'); if (b.includes(name) && v / requests >= 50) console.log(`${f(v)}  ${a} -> ${b}`); }
    console.log('--');
    for (const [k, v] of list) { const [a, b] = k.split('\u0000'); if (a.includes(name) && v / requests >= 50) console.log(`${f(v)}  ${a} -> ${b}`); }
    return;
  }
  console.log(`total ${total.toLocaleString('en')} Ir over ${requests} requests = ${Math.floor(total / requests).toLocaleString('en')} Ir/request`);
  console.log(`${'self/req'.padStart(10)} ${'incl/req'.padStart(10)} ${'self%'.padStart(6)}  function [object]`);
  const rows = [...excl.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [fn, cost] of rows) {
    const obj = (objOf.get(fn) || '').split('/').pop();
    console.log(`${f(cost)} ${f(cost + (callsIncl.get(fn) || 0))} ${(100 * cost / total).toFixed(2).padStart(6)}  ${fn} [${obj}]`);
  }
}

if (require.main === module) main();
else module.exports = { parse };
