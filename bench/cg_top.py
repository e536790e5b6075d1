#!/usr/bin/env python3
"""Top functions of a callgrind profile, per request.

    bench/cg_top.py PROFILE REQUESTS [TOP [NAME]]

Reads a profile written with --compress-strings=no --compress-pos=no and
prints, per function, the exclusive instructions (its own) and the inclusive
ones (with what it calls; recursion counts twice), both divided by REQUESTS,
sorted by exclusive cost. With NAME: the call edges into and out of the
functions whose name contains NAME, with their inclusive cost per request. Written because callgrind_annotate 3.19 charges a
whole thread to `clone` when the profile was zeroed mid-run.
"""
import collections
import sys


def parse(path):
    excl = collections.Counter()
    incl_calls = collections.Counter()
    edges = collections.Counter()  # (caller, callee) -> inclusive cost
    callee = None
    obj_of = {}
    fn = None
    ob = None
    after_calls = False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            if line.startswith("ob="):
                ob = line[3:]
                continue
            if line.startswith("fn="):
                fn = line[3:]
                obj_of.setdefault(fn, ob)
                continue
            if line.startswith("cfn="):
                callee = line[4:]
                continue
            if line.startswith("calls="):
                after_calls = True
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                cost = int(parts[1]) if len(parts) > 1 else 0
                if after_calls:
                    incl_calls[fn] += cost
                    edges[(fn, callee)] += cost
                    after_calls = False
                elif fn is not None:
                    excl[fn] += cost
    return excl, incl_calls, obj_of, edges


def main():
    path, requests = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    excl, calls, obj_of, edges = parse(path)
    if len(sys.argv) > 4:  # callers and callees of the functions whose name holds argv[4]
        for (a, b), cost in sorted(edges.items(), key=lambda kv: -kv[1]):
            if sys.argv[4] in b and cost / requests >= 50:
                print(f"{cost / requests:10.0f}  {a} -> {b}")
        print("--")
        for (a, b), cost in sorted(edges.items(), key=lambda kv: -kv[1]):
            if sys.argv[4] in a and cost / requests >= 50:
                print(f"{cost / requests:10.0f}  {a} -> {b}")
        return
    total = sum(excl.values())
    print(f"total {total:,} Ir over {requests} requests = {total // requests:,} Ir/request")
    print(f"{'self/req':>10} {'incl/req':>10} {'self%':>6}  function [object]")
    for fn, cost in excl.most_common(top):
        obj = (obj_of.get(fn) or "").rsplit("/", 1)[-1]
        inc = cost + calls[fn]
        print(f"{cost / requests:10.0f} {inc / requests:10.0f} {100 * cost / total:6.2f}  {fn} [{obj}]")


if __name__ == "__main__":
    main()
