#!/usr/bin/env bash
# Redis shared by the replicas (docs/redis.md), measured:
#  1. the warm viewer path with Redis configured against the same binary
#     without it, interleaved with the bare server (bench/warm.sh -R);
#  2. the cold path's AWS calls per channel with 1, 2 and 3 replicas, alone
#     and sharing Redis (bench/lib/cold.js).
# Writes bench/results/<UTC date>/redis-warm.json and redis-cold.json
# (BENCH_OUT overrides the folder). See bench/README.md, "Redis".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${BENCH_OUT:-bench/results/$(date -u +%F)}
mkdir -p "$out"
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DKVSGATE_NODE_TESTS=OFF >/dev/null
cmake --build build-release -j2 --target kvsgate bench_bare_mhd >/dev/null
bin=$PWD/build-release/kvsgate
key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
bench/warm.sh -R -r "${BENCH_ROUNDS:-5}" -d "${BENCH_SECONDS:-10}" "$bin" \
    "$bin,KVSGATE_REDIS_URL=@redis,KVSGATE_REDIS_KEY=$key" | tail -1 >"$out/redis-warm.json"
node bench/lib/cold.js "$out/redis-cold.json" "$bin"
cat "$out/redis-warm.json"
