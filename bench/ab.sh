#!/usr/bin/env bash
# A/B of kvsgate settings on the warm path: the same viewer-info load against
# kvsgate started once per variant, variants interleaved round by round so
# that the machine's drifting load hits each alike.
#
#   bench/ab.sh [-r ROUNDS] [-d SECONDS] [-c CONNECTIONS] 'NAME=VALUE ...' ['NAME=VALUE ...' ...]
#   bench/ab.sh -r 3 'KVSGATE_MAX_HEADER_BYTES=32768' 'KVSGATE_MAX_HEADER_BYTES=16384'
#
# One variant is one quoted list of settings ('' is the defaults). Prints one
# line per run (req/s, p50, p99, load average) and the median per variant.
# Uses build-release/kvsgate (make bench builds it; KVSGATE_BIN overrides),
# the local KVS emulator, one HS256 token and one channel; the rate limit is
# off as in make bench. Ports come from the kernel.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rounds=3 duration=10 conns=64
while getopts 'r:d:c:' o; do
    case $o in
    r) rounds=$OPTARG ;;
    d) duration=$OPTARG ;;
    c) conns=$OPTARG ;;
    *) sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2; }
BIN=${KVSGATE_BIN:-build-release/kvsgate}
[ -x "$BIN" ] || { echo "ab: $BIN missing (make bench, or cmake -B build-release -DCMAKE_BUILD_TYPE=Release)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/kvsgate-ab.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

. bench/lib/port_of.sh

node tools/kvs-local/server.js --port 0 --quiet >"$WORK/emu.out" 2>"$WORK/emu.err" &
pids+=($!)
EMU="http://127.0.0.1:$(port_of "$WORK/emu.out" "${pids[-1]}")"
SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
COMMON=(PATH="$PATH" AWS_REGION=us-west-2 AWS_ACCESS_KEY_ID=AKIDLOCAL AWS_SECRET_ACCESS_KEY=SECRETLOCAL
    AWS_EC2_METADATA_DISABLED=true KVSGATE_LISTEN=127.0.0.1:0 KVSGATE_RATE_LIMIT_RPS=0
    KVSGATE_KVS_ENDPOINT="$EMU" KVSGATE_STS_ENDPOINT="$EMU" KVSGATE_JWT_HS256_SECRET="$SECRET")
TOKEN=$(env -i "${COMMON[@]}" "$BIN" token --sub ab-user --viewer 'ab-*' --manage 'ab-*')

start() { # settings...
    env -i "${COMMON[@]}" "$@" "$BIN" serve 2> >(sed -u '/"event":"listening"/q' >"$WORK/gate.log") >/dev/null &
    GATE_PID=$!
    GATE="http://127.0.0.1:$(port_of "$WORK/gate.log" "$GATE_PID")"
    for _ in $(seq 1 100); do curl -sf "$GATE/readyz" >/dev/null && return 0; sleep 0.1; done
    echo "ab: kvsgate never became ready" >&2
    return 1
}
stop() { kill "$GATE_PID"; wait "$GATE_PID" 2>/dev/null || true; }

start
curl -sf -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{}' \
    "$GATE/v1/channels/ab-1" >/dev/null
stop

for round in $(seq 1 "$rounds"); do
    for i in $(seq 1 $#); do
        read -r -a settings <<<"${!i}"
        start "${settings[@]}"
        url="$GATE/v1/channels/ab-1/viewer"
        wrk -t2 -c"$conns" -d3s -H "Authorization: Bearer $TOKEN" "$url" >/dev/null
        out=$(wrk -t2 -c"$conns" -d"${duration}s" --latency -H "Authorization: Bearer $TOKEN" "$url")
        stop
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        echo "$rps" >>"$WORK/v$i"
        printf 'round %s  %-40s %10s req/s  p50 %-8s p99 %-8s load %s\n' "$round" "${!i:-defaults}" "$rps" \
            "$(awk '$1=="50%" {print $2}' <<<"$out")" "$(awk '$1=="99%" {print $2}' <<<"$out")" \
            "$(cut -d' ' -f1 /proc/loadavg)"
    done
done
for i in $(seq 1 $#); do
    printf 'median %-40s %10s req/s\n' "${!i:-defaults}" "$(sort -n "$WORK/v$i" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
done
