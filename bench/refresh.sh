#!/usr/bin/env bash
# Refresh-ahead against today's code: `bench/refresh.sh` builds this tree and
# BENCH_BEFORE_REV (Release, kvsgate only), runs bench/lib/refresh.js on both
# side by side for BENCH_REFRESH_S (600) with BENCH_CHANNELS (200) channels in
# use, BENCH_AWS_LATENCY_MS (50) added to every AWS call and TURN credentials
# living BENCH_ICE_TTL_S (300), and writes bench/results/<UTC date>/refresh.json
# (BENCH_OUT overrides the folder). See bench/README.md, "Refresh-ahead".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
before=${BENCH_BEFORE_REV:-17a0fe6}
out=${BENCH_OUT:-bench/results/$(date -u +%F)}
mkdir -p "$out"

cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DKVSGATE_NODE_TESTS=OFF >/dev/null
cmake --build build-release -j2 --target kvsgate >/dev/null
before_bin=$PWD/build-before/kvsgate-$before
if [ ! -x "$before_bin" ]; then
    wt=$(mktemp -d /tmp/kvsgate-before.XXXXXX)
    trap 'git worktree remove --force "$wt" >/dev/null 2>&1 || true' EXIT
    git worktree add --detach "$wt" "$before" >/dev/null 2>&1
    cmake -S "$wt" -B "$wt/build" -DCMAKE_BUILD_TYPE=Release -DKVSGATE_NODE_TESTS=OFF >/dev/null
    cmake --build "$wt/build" -j2 --target kvsgate >/dev/null
    mkdir -p build-before
    cp "$wt/build/kvsgate" "$before_bin"
fi

echo "refresh: $(git rev-parse --short HEAD) against $before, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
node bench/lib/refresh.js "$out/refresh.json" \
    "before=$before_bin" "after=$PWD/build-release/kvsgate"
echo "refresh: load after $(cut -d' ' -f1-3 /proc/loadavg)" >&2
