#!/usr/bin/env bash
# Instructions per warm viewer-info request, under callgrind (instruction
# counts do not depend on the machine's load, unlike wall time).
#
#   bench/callgrind.sh KVSGATE_BIN DRIVE_BIN OUTDIR ALG...
#
# Needs in the environment: EMU (the emulator's URL, channels WARM_PREFIX0..15
# created), KEYS (a folder with rs256.pub.pem, es256.pub.pem and
# tokens-<ALG>.txt), SECRET (the HS256 secret of the tokens). Optional:
# N (requests measured, 1000), WARM (requests before, 256), CHANNELS (16),
# WARM_PREFIX (bench-w-), KVSGATE_EXTRA_ENV (more NAME=VALUE words).
#
# Per ALG: starts kvsgate under callgrind, sends WARM requests (every token and
# channel at least once: caches warm), zeroes the counters, sends N requests on
# one keep-alive connection, dumps. Writes OUTDIR/callgrind-ALG.out (the
# profile) and OUTDIR/callgrind-ALG.txt (bench/lib/cg_top.js: top functions), and
# prints one JSON line per ALG: {"alg","requests","ir","ir_per_request"}.
# Everything in the process counts: MHD's epoll loop, kvsgate, the libraries,
# the idle background threads.
set -euo pipefail
bin=$1; drive=$2; out=$3; shift 3
: "${EMU:?}" "${KEYS:?}" "${SECRET:?}"
N=${N:-1000}; WARM=${WARM:-256}; CHANNELS=${CHANNELS:-16}; WARM_PREFIX=${WARM_PREFIX:-bench-w-}
mkdir -p "$out"
for alg in "$@"; do
    log="$out/callgrind-$alg.log"
    prof="$out/callgrind-$alg.out"
    rm -f "$prof" "$prof".*
    # shellcheck disable=SC2086
    env -i PATH="$PATH" AWS_REGION=us-west-2 AWS_ACCESS_KEY_ID=AKIDLOCAL AWS_SECRET_ACCESS_KEY=SECRETLOCAL \
        AWS_EC2_METADATA_DISABLED=true KVSGATE_KVS_ENDPOINT="$EMU" KVSGATE_STS_ENDPOINT="$EMU" \
        KVSGATE_JWT_HS256_SECRET="$SECRET" \
        KVSGATE_JWT_PUBLIC_KEY_FILE="$KEYS/rs256.pub.pem,$KEYS/es256.pub.pem" \
        KVSGATE_LISTEN=127.0.0.1:0 KVSGATE_RATE_LIMIT_RPS=0 ${KVSGATE_EXTRA_ENV:-} \
        valgrind --tool=callgrind --compress-strings=no --compress-pos=no \
            --callgrind-out-file="$prof" "$bin" serve >/dev/null 2>"$log" &
    pid=$!
    port=""
    for _ in $(seq 1 240); do
        port=$(grep -o '"event":"listening".*"port":[0-9]*' "$log" 2>/dev/null | grep -o '[0-9]*$' || true)
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
        sleep 0.5
    done
    [ -n "$port" ] || { echo "callgrind.sh: kvsgate did not start" >&2; kill "$pid"; exit 1; }
    tokens="$KEYS/tokens-$alg.txt"
    "$drive" "$port" "$WARM" "$tokens" "$WARM_PREFIX" "$CHANNELS" >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    "$drive" "$port" "$N" "$tokens" "$WARM_PREFIX" "$CHANNELS" >/dev/null
    callgrind_control -d "$pid" >/dev/null 2>&1
    kill -TERM "$pid"
    wait "$pid" || true
    part=$(ls "$prof".* | head -1)
    mv "$part" "$prof.measured"
    ir=$(awk '/^summary:/ {print $2}' "$prof.measured")
    node "$(dirname "$0")/lib/cg_top.js" "$prof.measured" "$N" 60 >"$out/callgrind-$alg.txt"
    mv "$prof.measured" "$prof"
    rm -f "$prof".[0-9]*
    printf '{"alg":"%s","requests":%s,"ir":%s,"ir_per_request":%s}\n' "$alg" "$N" "$ir" "$((ir / N))"
done
