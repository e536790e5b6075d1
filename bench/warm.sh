#!/usr/bin/env bash
# The warm viewer path against the limit, interleaved: kvsgate (HS256, 64
# subjects over 16 channels, access log on, rate limit off; as make bench) and
# the bare libmicrohttpd server answering a body of the same size, alternating
# round by round at one connection count, medians and p99s, and the ratio;
# with each the server's CPU per request (user + system of all its threads,
# from /proc around the measured run), steadier than throughput on a shared
# machine where rounds of one binary differ by half.
#
#   bench/warm.sh [-r ROUNDS] [-d SECONDS] [-c CONNECTIONS] [-R] [-P] [TARGET ...]
#
# Defaults: 5 rounds of 10 s at 64 connections, build-release/kvsgate (built if
# missing, with bench_bare_mhd). Several targets are interleaved with one
# another and the bare server (e.g. before/after a change). A target is a
# binary, optionally followed by settings: "BINARY,NAME=VALUE,...". -R starts
# a redis-server; "@redis" in a setting's value is its URL, e.g.
#   bench/warm.sh -R build-release/kvsgate \
#       "build-release/kvsgate,KVSGATE_REDIS_URL=@redis,KVSGATE_REDIS_KEY=$(openssl rand -hex 32)"
# -P pins every server (one HTTP thread) to CPU 0 and wrk to CPU 1: client and
# server no longer share CPUs, as where clients are remote; without it the
# scheduler interleaves them, and a server slower than wrk is preempted by
# wrk's wakeups (bench/README.md "What the share is made of").
# One line per run, then a JSON summary on stdout's last line: medians, the
# share of the bare server's median, and share_of_bare_paired, the median of
# each round's share of the bare run just before it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=5 duration=10 conns=64 redis=0 pin=0
while getopts 'r:d:c:RP' o; do
    case $o in
    r) rounds=$OPTARG ;; d) duration=$OPTARG ;; c) conns=$OPTARG ;; R) redis=1 ;; P) pin=1 ;;
    *) sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ ! -x build-release/bench/bench_bare_mhd ] || [ $# -eq 0 ]; then
    cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build-release -j2 --target kvsgate bench_bare_mhd >/dev/null
fi
[ $# -ge 1 ] || set -- "$PWD/build-release/kvsgate"
BARE=build-release/bench/bench_bare_mhd
WORK=$(mktemp -d /tmp/kvsgate-warm.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
. bench/lib/port_of.sh
SERVER_CPU=() CLIENT_CPU=() SERVER_THREADS=$(nproc) PIN_ENV=()
if [ "$pin" = 1 ]; then
    [ "$(nproc)" -ge 2 ] || { echo "warm: -P needs two CPUs" >&2; exit 2; }
    SERVER_CPU=(taskset -c 0) CLIENT_CPU=(taskset -c 1) SERVER_THREADS=1 PIN_ENV=(KVSGATE_HTTP_THREADS=1)
fi

REDIS_URL=""
if [ "$redis" = 1 ]; then
    rport=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
    redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 50); do grep -q "Ready to accept" "$WORK/redis.log" && break; sleep 0.1; done
    REDIS_URL="redis://127.0.0.1:$rport"
fi

node tools/kvs-local/server.js --port 0 --quiet >"$WORK/emu.out" 2>"$WORK/emu.err" &
pids+=($!)
EMU="http://127.0.0.1:$(port_of "$WORK/emu.out" "${pids[-1]}")"
SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
node bench/lib/bench.js keys "$WORK/keys" >/dev/null
node bench/lib/bench.js tokens "$WORK/keys" "$SECRET" 64 14400 >/dev/null
node bench/lib/bench.js channels "$EMU" bench-w- 16 >/dev/null 2>&1

start_gate() { # "binary[,NAME=VALUE...]"
    local target extra=()
    IFS=, read -r -a target <<<"$1"
    for kv in "${target[@]:1}"; do extra+=("${kv//@redis/$REDIS_URL}"); done
    env -i PATH="$PATH" "${PIN_ENV[@]}" "${extra[@]}" AWS_REGION=us-west-2 AWS_ACCESS_KEY_ID=AKIDLOCAL AWS_SECRET_ACCESS_KEY=SECRETLOCAL \
        AWS_EC2_METADATA_DISABLED=true KVSGATE_LISTEN=127.0.0.1:0 KVSGATE_RATE_LIMIT_RPS=0 \
        KVSGATE_KVS_ENDPOINT="$EMU" KVSGATE_STS_ENDPOINT="$EMU" KVSGATE_JWT_HS256_SECRET="$SECRET" \
        "${SERVER_CPU[@]}" "${target[0]}" serve 2> >(sed -u '/"event":"listening"/q' >"$WORK/gate.log") >/dev/null &
    GATE_PID=$!
    GATE="http://127.0.0.1:$(port_of "$WORK/gate.log" "$GATE_PID")"
    for _ in $(seq 1 100); do curl -sf "$GATE/readyz" >/dev/null && return 0; sleep 0.1; done
    echo "warm: kvsgate never became ready" >&2; return 1
}
stop_gate() { kill "$GATE_PID"; wait "$GATE_PID" 2>/dev/null || true; }

start_gate "$1"
BODY=$(curl -s -o /dev/null -w '%{size_download}' \
    -H "Authorization: Bearer $(head -1 "$WORK/keys/tokens-HS256.txt")" "$GATE/v1/channels/bench-w-0/viewer")
stop_gate
"${SERVER_CPU[@]}" "$BARE" 0 "$SERVER_THREADS" "$BODY" >"$WORK/bare.out" 2>&1 &
pids+=($!)
BARE_PID=$!
BARE_URL="http://127.0.0.1:$(port_of "$WORK/bare.out" "${pids[-1]}")/"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, all threads
run() { # label url path tokens duration server_pid -> "rps p99_ms cpu_us_per_request"
    local before after
    before=$(cpu_ticks "$6")
    BENCH_TOKENS=$4 BENCH_PATH=$3 BENCH_CHANNELS=16 \
        "${CLIENT_CPU[@]}" wrk -t2 -c"$conns" -d"$5s" --timeout 10s --latency -s bench/wrk/viewer.lua "$2" 2>&1 |
        sed -n 's/^BENCH //p' >"$WORK/run.json"
    after=$(cpu_ticks "$6")
    node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const us = (process.argv[3] - process.argv[2]) / process.argv[4] * 1e6 / r.requests;
console.log(r.rps, r.p99_us / 1000, us.toFixed(2))' "$WORK/run.json" "$before" "$after" "$(getconf CLK_TCK)"
}
echo "warm: $(git rev-parse --short HEAD), $rounds x ${duration}s at $conns connections$([ "$pin" = 1 ] && echo ', pinned'), body $BODY B, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
targets=(bare "$@")
for round in $(seq 1 "$rounds"); do
    for t in "${targets[@]}"; do
        if [ "$t" = bare ]; then
            res=$(run bare "$BARE_URL" fixed "" "$duration" "$BARE_PID")
        else
            start_gate "$t"
            run warmup "$GATE/" viewer "$WORK/keys/tokens-HS256.txt" 2 "$GATE_PID" >/dev/null
            res=$(run gate "$GATE/" viewer "$WORK/keys/tokens-HS256.txt" "$duration" "$GATE_PID")
            stop_gate
        fi
        t_label=$(sed -E 's/(KEY|PASSWORD)=[^,]*/\1=***/g; s/ /_/g' <<<"$t")
        echo "$t_label $res" >>"$WORK/runs"
        read -r rps p99 cpu <<<"$res"
        printf 'round %s  %-50s %s req/s  p99 %s ms  server CPU %s us/request  load %s\n' "$round" "$t_label" \
            "$rps" "$p99" "$cpu" "$(cut -d' ' -f1 /proc/loadavg)" >&2
    done
done
node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split(" "));
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor((s.length - 1) / 2)]; };
const by = {};
for (const [t, rps, p99, cpu] of lines) {
  const b = (by[t] = by[t] || { rps: [], p99: [], cpu: [] });
  b.rps.push(+rps), b.p99.push(+p99), b.cpu.push(+cpu);
}
const bare = { rps: med(by.bare.rps), p99_ms: med(by.bare.p99), cpu_us_per_request: med(by.bare.cpu) };
const out = { conns: +process.argv[2], pinned: process.argv[3] === "1", rounds: by.bare.rps.length, bare, kvsgate: {} };
for (const t of Object.keys(by)) if (t !== "bare") {
  const rps = med(by[t].rps), p99 = med(by[t].p99);
  // each round against the bare run just before it: steadier than the ratio of
  // medians when the load of the machine drifts between rounds
  const paired = by[t].rps.map((r, i) => r / by.bare.rps[i]);
  out.kvsgate[t] = { rps, p99_ms: p99, cpu_us_per_request: med(by[t].cpu),
    share_of_bare: +(rps / bare.rps).toFixed(3), share_of_bare_paired: +med(paired).toFixed(3),
    p99_vs_bare: +(p99 / bare.p99_ms).toFixed(2) };
}
console.log(JSON.stringify(out));' "$WORK/runs" "$conns" "$pin"
