#!/usr/bin/env bash
# `make bench`: kvsgate's warm path against the limit (bare libmicrohttpd) and
# against what users run today (the Express example), its cold path, memory
# and a soak, with the callgrind profile of a warm request. Writes
# bench/results/<date>/report.md and bench.png; see bench/README.md.
#
#   bench/run.sh            the full run (about 35 minutes on 2 cores, plus any
#                           wait for a quiet machine)
#   bench/run.sh --smoke    every section for a second or two (under a minute):
#                           checks the scripts, not the numbers; ctest runs it as
#                           bench.smoke (exit 77, skipped, when a tool is missing)
#
# Settings (environment):
#   BENCH_OUT            result folder                 (bench/results/<UTC date>; smoke: a temp dir)
#   BENCH_DURATION       seconds per wrk run           (10)
#   BENCH_REPEAT         runs per point, median kept   (3)
#   BENCH_CONNS          keep-alive connections         ("1 16 64 256")
#   BENCH_ALGS           token algorithms              ("HS256 RS256 ES256")
#   BENCH_SUBJECTS       distinct subjects per algorithm (64)
#   BENCH_WARM_CHANNELS  channels of the warm path     (16)
#   BENCH_COLD_CHANNELS  first requests for distinct channels (500)
#   BENCH_COLD_LATENCY_MS emulator latency per AWS call on the cold path (20)
#   BENCH_MEM_CHANNELS   channels cached for the memory figure (10000)
#   BENCH_SOAK_S         soak length                   (600)
#   BENCH_SOAK_SAMPLE_S  RSS sample period             (10)
#   BENCH_SOAK_WARMUP_S  soak samples before this are left out of first/last/max (60)
#   BENCH_CALLGRIND_N    requests measured under callgrind (1000)
#   BENCH_BEFORE_REV     revision profiled for "before" (bd2eaca, main before this
#                        work); empty: skip
#   BENCH_MAX_LOAD       wait for a 1-minute load average below this before the
#                        timed sections (1.0); BENCH_WAIT_MAX_S bounds the wait
#                        (7200), BENCH_WAIT=0 skips it
#   BENCH_BOOTSTRAP=0    skip tools/bootstrap bench
#   BENCH_GATE_ENV       extra kvsgate settings, "NAME=VALUE ..." (to measure a knob;
#                        recorded in raw.jsonl)
#   BENCH_BIN_DIR        use kvsgate, bench_bare_mhd, bench_drive from this build
#                        folder instead of building build-release/ (the smoke test)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

smoke=0
[ "${1:-}" = "--smoke" ] && smoke=1

if [ "$smoke" = 1 ]; then
    DURATION=${BENCH_DURATION:-1}; REPEAT=${BENCH_REPEAT:-1}; CONNS=${BENCH_CONNS:-"1 16"}
    COLD_N=${BENCH_COLD_CHANNELS:-20}; MEM_N=${BENCH_MEM_CHANNELS:-100}
    SOAK_S=${BENCH_SOAK_S:-6}; SOAK_SAMPLE_S=${BENCH_SOAK_SAMPLE_S:-2}; SOAK_WARMUP_S=${BENCH_SOAK_WARMUP_S:-2}
    CG_N=${BENCH_CALLGRIND_N:-30}; CG_WARM=20; BEFORE_REV=${BENCH_BEFORE_REV-}
    WAIT=${BENCH_WAIT:-0}; SUBJECTS=${BENCH_SUBJECTS:-4}; WARMUP_S=1
else
    DURATION=${BENCH_DURATION:-10}; REPEAT=${BENCH_REPEAT:-3}; CONNS=${BENCH_CONNS:-"1 16 64 256"}
    COLD_N=${BENCH_COLD_CHANNELS:-500}; MEM_N=${BENCH_MEM_CHANNELS:-10000}
    SOAK_S=${BENCH_SOAK_S:-600}; SOAK_SAMPLE_S=${BENCH_SOAK_SAMPLE_S:-10}; SOAK_WARMUP_S=${BENCH_SOAK_WARMUP_S:-60}
    CG_N=${BENCH_CALLGRIND_N:-1000}; CG_WARM=256; BEFORE_REV=${BENCH_BEFORE_REV-bd2eaca}
    WAIT=${BENCH_WAIT:-1}; SUBJECTS=${BENCH_SUBJECTS:-64}; WARMUP_S=3
fi
ALGS=${BENCH_ALGS:-"HS256 RS256 ES256"}
WARM_CH=${BENCH_WARM_CHANNELS:-16}
COLD_LATENCY_MS=${BENCH_COLD_LATENCY_MS:-20}
MAX_LOAD=${BENCH_MAX_LOAD:-1.0}
WAIT_MAX_S=${BENCH_WAIT_MAX_S:-7200}
SECRET="kvsgate-bench-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

stamp=$(date -u +%Y-%m-%d)
OUT_TEMP=0
if [ -n "${BENCH_OUT:-}" ]; then OUT=$BENCH_OUT
elif [ "$smoke" = 1 ]; then OUT=$(mktemp -d /tmp/kvsgate-bench-smoke.XXXXXX); OUT_TEMP=1
else OUT="$here/bench/results/$stamp"; fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/kvsgate-bench.XXXXXX) # keys, tokens, logs: never committed
RAW="$OUT/raw.jsonl"
: >"$RAW"

say() { printf '%s bench: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }
load1() { cut -d' ' -f1 /proc/loadavg; }
loads() { cut -d' ' -f1-3 /proc/loadavg; }
record() { printf '%s\n' "$1" >>"$RAW"; }
json_str() { node -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$1"; }

# ---- processes we start, and their cleanup (by PID only) ---------------------
pids=()
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local p
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]:-}"; do
        [ -n "$p" ] || continue
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
    if [ $status = 0 ] && [ "$OUT_TEMP" = 1 ]; then
        rm -rf "$OUT" # a smoke run's numbers mean nothing
    elif [ $status != 0 ]; then
        say "stopped with status $status; partial results in $OUT"
    fi
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM
stop_pid() { # pid
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
# Reads "port":N from a file written by a starting server; waits up to 20 s.
wait_port() { # file pid
    local port=""
    for _ in $(seq 1 200); do
        port=$(grep -o '"port":[0-9]*' "$1" 2>/dev/null | head -1 | cut -d: -f2 || true)
        [ -n "$port" ] && { echo "$port"; return 0; }
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    cat "$1" >&2 || true
    return 1
}

# ---- install, build ---------------------------------------------------------------
if [ "${BENCH_BOOTSTRAP:-1}" != 0 ] && [ "$smoke" = 0 ]; then
    tools/bootstrap bench
fi
for tool in wrk gnuplot valgrind callgrind_control node curl; do
    if ! command -v "$tool" >/dev/null; then
        say "$tool is missing (tools/bootstrap bench installs it)"
        [ "$smoke" = 1 ] && exit 77 # ctest: skipped, not failed
        exit 1
    fi
done
if [ -n "${BENCH_BIN_DIR:-}" ]; then
    BIN_DIR=$BENCH_BIN_DIR
    KVSGATE=$BIN_DIR/kvsgate; BARE=$BIN_DIR/bench/bench_bare_mhd; DRIVE=$BIN_DIR/bench/bench_drive
else
    say "building the Release binary in build-release/"
    cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >"$WORK/build.log" 2>&1 &&
        cmake --build build-release -j "$(nproc)" --target kvsgate bench_bare_mhd bench_drive \
            >>"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; die "build failed"; }
    KVSGATE=$here/build-release/kvsgate; BARE=$here/build-release/bench/bench_bare_mhd
    DRIVE=$here/build-release/bench/bench_drive
fi
for b in "$KVSGATE" "$BARE" "$DRIVE"; do [ -x "$b" ] || die "$b was not built"; done
REV=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
DIRTY=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo "+local changes" || true)

# ---- the machine -------------------------------------------------------------------
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem_total=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
os_name=$( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || uname -s)
record "$(printf '{"kind":"machine","nproc":%s,"cpu":%s,"memory":%s,"kernel":%s,"os":%s,"revision":%s,"node":%s,"wrk":%s,"mhd":%s,"openssl":%s,"load_at_start":%s,"gate_env":%s,"smoke":%s,"started":%s}' \
    "$(nproc)" "$(json_str "$cpu_model")" "$(json_str "$mem_total")" "$(json_str "$(uname -r)")" \
    "$(json_str "$os_name")" "$(json_str "$REV$DIRTY")" "$(json_str "$(node --version)")" \
    "$(json_str "$(wrk --version 2>&1 | head -1 | cut -d' ' -f2)")" \
    "$(json_str "$(pkg-config --modversion libmicrohttpd 2>/dev/null || echo '?')")" \
    "$(json_str "$(openssl version 2>/dev/null | cut -d' ' -f2 || echo '?')")" \
    "$(json_str "$(loads)")" "$(json_str "${BENCH_GATE_ENV:-}")" "$smoke" "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")")"
say "results in $OUT; machine: $(nproc) cores, $cpu_model, load $(loads)"

# ---- the emulator, keys, tokens, channels ----------------------------------------------
node tools/kvs-local/server.js --port 0 --quiet --max-channels $((MEM_N + COLD_N + 1000)) \
    >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
pids+=($!)
EMU_PORT=$(wait_port "$WORK/emulator.out" "${pids[-1]}") || die "the emulator did not start"
EMU="http://127.0.0.1:$EMU_PORT"
emu_api() { curl -sf -X "$1" -H 'content-type: application/json' ${3:+--data "$3"} "$EMU$2"; }

node bench/lib/bench.js keys "$WORK/keys" >/dev/null
node bench/lib/bench.js tokens "$WORK/keys" "$SECRET" "$SUBJECTS" 14400 >"$WORK/tokens.json"
cat "$WORK"/keys/tokens-*.txt >"$WORK/keys/tokens-mixed.txt"
say "creating $WARM_CH warm and $MEM_N memory/cold channels on the emulator"
node bench/lib/bench.js channels "$EMU" bench-w- "$WARM_CH" 2>/dev/null >/dev/null
node bench/lib/bench.js channels "$EMU" bench-m- "$MEM_N" 2>/dev/null >"$WORK/channels.json"
[ "$COLD_N" -le "$MEM_N" ] || die "BENCH_COLD_CHANNELS must not exceed BENCH_MEM_CHANNELS"

GATE_SETTINGS=(AWS_REGION=us-west-2 AWS_ACCESS_KEY_ID=AKIDLOCAL AWS_SECRET_ACCESS_KEY=SECRETLOCAL
    AWS_EC2_METADATA_DISABLED=true KVSGATE_LISTEN=127.0.0.1:0 KVSGATE_RATE_LIMIT_RPS=0)
# BENCH_GATE_ENV: more settings for kvsgate, to measure a knob (NAME=VALUE ...).
read -r -a gate_extra <<<"${BENCH_GATE_ENV:-}"
GATE_SETTINGS+=("${gate_extra[@]}")
# kvsgate as deployed, but: the rate limit is off (0) so that a load test measures
# the service, not the limiter; everything else (access log, log level info,
# caches, threads = nproc) is the default.
start_gate() { # name
    local log="$WORK/$1.start.log"
    # The log goes to a reader that stops after the "listening" line: every
    # access-log line is still formatted and written (one write(2) per
    # request), it just goes nowhere, as it would to /dev/null.
    env -i PATH="$PATH" "${GATE_SETTINGS[@]}" KVSGATE_KVS_ENDPOINT="$EMU" KVSGATE_STS_ENDPOINT="$EMU" \
        KVSGATE_JWT_HS256_SECRET="$SECRET" \
        KVSGATE_JWT_PUBLIC_KEY_FILE="$WORK/keys/rs256.pub.pem,$WORK/keys/es256.pub.pem" \
        "$KVSGATE" serve 2> >(sed -u '/"event":"listening"/q' >"$log") >/dev/null &
    GATE_PID=$!
    pids+=("$GATE_PID")
    GATE_PORT=$(wait_port "$log" "$GATE_PID") || die "kvsgate did not start"
    GATE="http://127.0.0.1:$GATE_PORT"
    for _ in $(seq 1 100); do curl -sf "$GATE/readyz" >/dev/null && return 0; sleep 0.1; done
    die "kvsgate never became ready"
}
rss_of() { node bench/lib/bench.js rss "$1"; }
gate_cache_entries() { curl -sf "$GATE/metrics" | awk '/^kvsgate_cache_entries\{/ {sub(/.*cache="/, ""); sub(/"\}/, ""); printf "%s\"%s\":%s", (n++ ? "," : "{"), $1, $2} END {print (n ? "}" : "{}")}'; }

# ---- wait for a quiet machine ---------------------------------------------------------
wait_quiet() { # section
    [ "$WAIT" = 1 ] || return 0
    local waited=0
    while awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN {exit !(l >= m)}'; do
        if [ $waited -ge "$WAIT_MAX_S" ]; then
            say "load $(loads) still >= $MAX_LOAD after ${waited}s; measuring $1 anyway (noted in the report)"
            record "$(printf '{"kind":"note","text":%s}' "$(json_str "$1 started at load $(loads) after waiting ${waited}s")")"
            return 0
        fi
        say "load $(loads) >= $MAX_LOAD: waiting before $1 (${waited}s so far)"
        sleep 60
        waited=$((waited + 60))
    done
}

# ---- 1. callgrind: instructions per warm request -----------------------------------------
say "callgrind: $CG_N warm viewer-info requests per algorithm"
cg_env=(EMU="$EMU" KEYS="$WORK/keys" SECRET="$SECRET" N="$CG_N" WARM="$CG_WARM" CHANNELS="$WARM_CH")
CG_ALGS=$ALGS
[ "$smoke" = 1 ] && CG_ALGS=${ALGS%% *} # the smoke profiles one algorithm
env "${cg_env[@]}" bench/callgrind.sh "$KVSGATE" "$DRIVE" "$OUT/callgrind" $CG_ALGS >"$WORK/cg-after.jsonl"
while read -r line; do record "{\"kind\":\"callgrind\",\"build\":\"this\",\"revision\":\"$REV$DIRTY\",${line#\{}"; done <"$WORK/cg-after.jsonl"
rm -f "$OUT"/callgrind/*.out "$OUT"/callgrind/*.log # large; the .txt summaries stay
if [ -n "$BEFORE_REV" ]; then
    if git cat-file -e "$BEFORE_REV^{commit}" 2>/dev/null; then
        say "callgrind: building $BEFORE_REV (before) for comparison"
        mkdir -p "$WORK/before"
        git archive "$BEFORE_REV" | tar -x -C "$WORK/before"
        (cmake -S "$WORK/before" -B "$WORK/before/build" -DCMAKE_BUILD_TYPE=Release -DKVSGATE_NODE_TESTS=OFF &&
            cmake --build "$WORK/before/build" -j "$(nproc)" --target kvsgate) >"$WORK/before-build.log" 2>&1 ||
            { tail -20 "$WORK/before-build.log" >&2; die "building $BEFORE_REV failed"; }
        env "${cg_env[@]}" bench/callgrind.sh "$WORK/before/build/kvsgate" "$DRIVE" "$WORK/cg-before" $CG_ALGS >"$WORK/cg-before.jsonl"
        before_short=$(git rev-parse --short=12 "$BEFORE_REV")
        while read -r line; do record "{\"kind\":\"callgrind\",\"build\":\"before\",\"revision\":\"$before_short\",${line#\{}"; done <"$WORK/cg-before.jsonl"
    else
        say "callgrind: $BEFORE_REV is not in this clone; no before column"
    fi
fi

# ---- 2. cold path, then memory with many channels cached ----------------------------------
start_gate gate
record "$(printf '{"kind":"rss","phase":"idle","load":"%s",%s' "$(loads)" "$(rss_of "$GATE_PID" | cut -c2-)")"
wait_quiet "the cold path"
say "cold path: first requests for $COLD_N channels, ${COLD_LATENCY_MS} ms per AWS call"
emu_api PUT /_emulator/faults "{\"latencyMs\":$COLD_LATENCY_MS}" >/dev/null
cold_run() { # target url route
    emu_api POST /_emulator/counters/reset >/dev/null
    local l0; l0=$(loads)
    local res; res=$(node bench/lib/bench.js get "$2" bench-m- "$COLD_N" 64 "$WORK/keys/tokens-HS256.txt" "$3")
    local counters; counters=$(emu_api GET /_emulator/counters)
    record "$(printf '{"kind":"cold","target":"%s","latency_ms":%s,"channels":%s,"load_before":"%s","load_after":"%s","cmd":%s,"result":%s,"counters":%s}' \
        "$1" "$COLD_LATENCY_MS" "$COLD_N" "$l0" "$(loads)" \
        "$(json_str "node bench/lib/bench.js get <url> bench-m- $COLD_N 64 tokens-HS256.txt $3")" "$res" "$counters")"
}
cold_run kvsgate "$GATE" viewer
cold_run kvsgate-again "$GATE" viewer # the same channels once more: all cached
node bench/baseline-express/server.js --kvs "$EMU" >"$WORK/express.out" 2>"$WORK/express.err" &
EXPRESS_PID=$!
pids+=("$EXPRESS_PID")
EXPRESS_PORT=$(wait_port "$WORK/express.out" "$EXPRESS_PID") || die "the Express baseline did not start"
EXPRESS="http://127.0.0.1:$EXPRESS_PORT"
cold_run express "$EXPRESS" express
emu_api PUT /_emulator/faults '{"latencyMs":null}' >/dev/null

say "memory: caching $MEM_N channels' viewer info"
node bench/lib/bench.js get "$GATE" bench-m- "$MEM_N" 64 "$WORK/keys/tokens-HS256.txt" >"$WORK/mem-warm.json"
record "$(printf '{"kind":"rss","phase":"channels","channels":%s,"load":"%s","caches":%s,"warm":%s,%s' \
    "$MEM_N" "$(loads)" "$(gate_cache_entries)" "$(cat "$WORK/mem-warm.json")" "$(rss_of "$GATE_PID" | cut -c2-)")"

# ---- 3. the warm path: kvsgate, the bare server, the Express baseline ---------------------------
BODY_BYTES=$(curl -s -o /dev/null -w '%{size_download}' \
    -H "Authorization: Bearer $(head -1 "$WORK/keys/tokens-HS256.txt")" "$GATE/v1/channels/bench-w-0/viewer")
[ "${BODY_BYTES:-0}" -gt 0 ] || die "no viewer-info answer from kvsgate"
"$BARE" 0 "$(nproc)" "$BODY_BYTES" >"$WORK/bare.out" 2>&1 &
BARE_PID=$!
pids+=("$BARE_PID")
BARE_PORT=$(wait_port "$WORK/bare.out" "$BARE_PID") || die "the bare server did not start"
record "$(printf '{"kind":"setup","body_bytes":%s,"threads":%s,"warm_channels":%s,"subjects":%s,"duration_s":%s,"repeat":%s,"token_bytes":%s}' \
    "$BODY_BYTES" "$(nproc)" "$WARM_CH" "$SUBJECTS" "$DURATION" "$REPEAT" "$(cat "$WORK/tokens.json")")"

# One wrk run; appends a record. target: bare | express | kvsgate; alg: token algorithm or "-".
wrk_run() { # target alg conns duration record(1/0) [label]
    local target=$1 alg=$2 c=$3 d=$4 keep=$5 url path tokens=""
    case "$target" in
        bare) url="http://127.0.0.1:$BARE_PORT/"; path=fixed ;;
        express) url="$EXPRESS/"; path=express; tokens="$WORK/keys/tokens-HS256.txt" ;;
        kvsgate) url="$GATE/"; path=viewer; tokens="$WORK/keys/tokens-$alg.txt" ;;
    esac
    local threads=2; [ "$c" -lt 2 ] && threads=1
    local l0; l0=$(loads)
    local out
    out=$(BENCH_TOKENS=$tokens BENCH_PATH=$path BENCH_CHANNELS=$WARM_CH \
        wrk -t"$threads" -c"$c" -d"${d}s" --timeout 10s --latency -s bench/wrk/viewer.lua "$url" 2>&1) ||
        die "wrk failed: $out"
    local res; res=$(printf '%s\n' "$out" | sed -n 's/^BENCH //p')
    [ -n "$res" ] || die "wrk printed no result: $out"
    if [ "$keep" = 1 ]; then
        record "$(printf '{"kind":"wrk","target":"%s","alg":"%s","conns":%s,"threads":%s,"duration_s":%s,"label":"%s","load_before":"%s","load_after":"%s","cmd":%s,"result":%s}' \
            "$target" "$alg" "$c" "$threads" "$d" "${6:-}" "$l0" "$(loads)" \
            "$(json_str "BENCH_TOKENS=${tokens:+$(basename "$tokens")} BENCH_PATH=$path BENCH_CHANNELS=$WARM_CH wrk -t$threads -c$c -d${d}s --timeout 10s --latency -s bench/wrk/viewer.lua http://127.0.0.1:PORT/")" "$res")"
    fi
}

say "warm-up: token caches, TURN caches, Node's JIT"
for alg in $ALGS; do wrk_run kvsgate "$alg" 64 "$WARMUP_S" 0; done
wrk_run bare - 64 "$WARMUP_S" 0
wrk_run express - 16 "$WARMUP_S" 0

# RSS under load: sampled every second during the kvsgate runs at the two largest counts.
sample_rss_bg() { # seconds label
    ( for _ in $(seq 1 "$1"); do sleep 1; printf '%s\n' "$(rss_of "$GATE_PID")"; done ) >"$WORK/rss-$2.jsonl" &
    RSS_SAMPLER=$!
}

wait_quiet "the warm path"
for c in $CONNS; do
    for r in $(seq 1 "$REPEAT"); do
        say "warm path: $c connections, run $r of $REPEAT (load $(loads))"
        wrk_run bare - "$c" "$DURATION" 1
        for alg in $ALGS; do
            sample_rss_bg "$DURATION" "$c-$alg-$r"
            wrk_run kvsgate "$alg" "$c" "$DURATION" 1
            wait "$RSS_SAMPLER" 2>/dev/null || true
        done
        wrk_run express - "$c" "$DURATION" 1
    done
done
max_rss=$(cat "$WORK"/rss-*.jsonl 2>/dev/null | sed -n 's/.*"rss_kb":\([0-9]*\).*/\1/p' | sort -n | tail -1)
record "$(printf '{"kind":"rss","phase":"load","rss_kb":%s,"note":"max of 1 s samples during every kvsgate warm-path run"}' "${max_rss:-0}")"
stop_pid "$EXPRESS_PID"
stop_pid "$BARE_PID"

# ---- 4. soak: RSS must not grow ----------------------------------------------------------
say "soak: ${SOAK_S}s at 64 connections, HS256/RS256/ES256 tokens mixed, RSS every ${SOAK_SAMPLE_S}s"
( BENCH_TOKENS="$WORK/keys/tokens-mixed.txt" BENCH_PATH=viewer BENCH_CHANNELS=$WARM_CH \
    wrk -t2 -c64 -d"${SOAK_S}s" --timeout 10s -s bench/wrk/viewer.lua "$GATE/" >"$WORK/soak.out" 2>&1 ) &
SOAK_WRK=$!
soak_l0=$(loads)
t=0
while [ $t -lt "$SOAK_S" ]; do
    sleep "$SOAK_SAMPLE_S"
    t=$((t + SOAK_SAMPLE_S))
    kill -0 "$GATE_PID" 2>/dev/null || die "kvsgate died during the soak"
    record "$(printf '{"kind":"soak_sample","t_s":%s,"load":"%s",%s' "$t" "$(loads)" "$(rss_of "$GATE_PID" | cut -c2-)")"
done
wait "$SOAK_WRK" || true
soak_res=$(sed -n 's/^BENCH //p' "$WORK/soak.out")
[ -n "$soak_res" ] || die "the soak's wrk printed no result: $(cat "$WORK/soak.out")"
record "$(printf '{"kind":"soak","duration_s":%s,"sample_s":%s,"warmup_s":%s,"load_before":"%s","load_after":"%s","cmd":%s,"result":%s,"caches":%s}' \
    "$SOAK_S" "$SOAK_SAMPLE_S" "$SOAK_WARMUP_S" "$soak_l0" "$(loads)" \
    "$(json_str "BENCH_TOKENS=tokens-mixed.txt BENCH_PATH=viewer BENCH_CHANNELS=$WARM_CH wrk -t2 -c64 -d${SOAK_S}s --timeout 10s -s bench/wrk/viewer.lua http://127.0.0.1:PORT/")" \
    "$soak_res" "$(gate_cache_entries)")"
curl -sf "$GATE/metrics" | grep -E '^kvsgate_(jwt_cache|cache_requests|http_requests_total|upstream)' >"$OUT/metrics-after-soak.txt" || true

# ---- 5. the report and the plot --------------------------------------------------------------
node bench/lib/report.js "$OUT"
gnuplot -e "outdir='$OUT'" bench/plot.gp
for f in report.md bench.png throughput.dat soak.dat; do [ -s "$OUT/$f" ] || die "$f was not written"; done
grep -q '^## Warm path' "$OUT/report.md" && grep -q '^## Cold path' "$OUT/report.md" &&
    grep -q '^## Soak' "$OUT/report.md" && grep -q '^## Instructions per warm request' "$OUT/report.md" ||
    die "the report lacks a section"
say "done: $OUT/report.md, $OUT/bench.png (load now $(loads))"
