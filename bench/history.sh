#!/usr/bin/env bash
# Instructions per warm viewer-info request for a list of revisions: each is
# exported with git archive, built (Release) in a temporary folder and run
# under bench/callgrind.sh against one emulator with the same keys, tokens and
# channels. Prints a Markdown table; bench/README.md's history comes from it.
#
#   bench/history.sh REV...          e.g. bench/history.sh bd2eaca f775737 HEAD
#
# Settings: N (requests measured, 1000), ALGS ("HS256 RS256 ES256"). Needs a
# build of bench_drive in build-release/ (make bench or cmake --build
# build-release --target bench_drive). Takes about a minute per revision.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
[ $# -ge 1 ] || { echo "usage: bench/history.sh REV..." >&2; exit 2; }
N=${N:-1000}
ALGS=${ALGS:-"HS256 RS256 ES256"}
DRIVE=$here/build-release/bench/bench_drive
[ -x "$DRIVE" ] || { echo "history: build bench_drive first (cmake --build build-release --target bench_drive)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/kvsgate-history.XXXXXX)
emu_pid=""
cleanup() {
    [ -n "$emu_pid" ] && kill -TERM "$emu_pid" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

node tools/kvs-local/server.js --port 0 --quiet >"$WORK/emu.out" 2>/dev/null &
emu_pid=$!
port=""
for _ in $(seq 1 100); do
    port=$(grep -o '"port":[0-9]*' "$WORK/emu.out" 2>/dev/null | cut -d: -f2 || true)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { echo "history: the emulator did not start" >&2; exit 1; }
EMU="http://127.0.0.1:$port"
SECRET="kvsgate-history-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
node bench/lib/bench.js keys "$WORK/keys" >/dev/null
node bench/lib/bench.js tokens "$WORK/keys" "$SECRET" 64 14400 >/dev/null
node bench/lib/bench.js channels "$EMU" bench-w- 16 >/dev/null 2>&1

printf '| revision | subject |'; for a in $ALGS; do printf ' %s Ir/request |' "$a"; done; printf '\n'
printf '|---|---|'; for _ in $ALGS; do printf -- '---|'; done; printf '\n'
for rev in "$@"; do
    short=$(git rev-parse --short=7 "$rev")
    subject=$(git log -1 --format=%s "$rev" | cut -c1-90 | sed 's/|/\\|/g')
    src="$WORK/src-$short"
    mkdir -p "$src"
    git archive "$rev" | tar -x -C "$src"
    (cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DKVSGATE_NODE_TESTS=OFF &&
        cmake --build "$src/build" -j "$(nproc)" --target kvsgate) >"$WORK/build-$short.log" 2>&1 ||
        { tail -20 "$WORK/build-$short.log" >&2; echo "history: building $rev failed" >&2; exit 1; }
    printf '| %s | %s |' "$short" "$subject"
    EMU="$EMU" KEYS="$WORK/keys" SECRET="$SECRET" N="$N" \
        bench/callgrind.sh "$src/build/kvsgate" "$DRIVE" "$WORK/cg-$short" $ALGS |
        while read -r line; do
            ir=$(printf '%s' "$line" | sed 's/.*"ir_per_request":\([0-9]*\).*/\1/')
            printf ' %s |' "$(printf "%'d" "$ir" 2>/dev/null || echo "$ir")"
        done
    printf '\n'
    rm -rf "$src"
done
