#!/usr/bin/env bash
# `make run`: kvsgate, the local KVS emulator and the demo page, on loopback.
#
#   make run                       emulator mode (no AWS account needed)
#   KVSGATE_RUN_AWS=1 AWS_REGION=eu-west-1 make run
#                                  real AWS: no emulator; kvsgate uses the AWS
#                                  credential chain of this environment
#
# Installs what is missing (tools/bootstrap run), builds kvsgate, starts the
# emulator (unless real AWS), kvsgate and the demo's static server, creates a
# demo channel, mints a master and a viewer token with `kvsgate token` (HS256,
# with a secret generated at every start) and prints the links. Ctrl-C stops
# everything. Logs, the secret and the tokens live in .run/ (git-ignored); the
# secret and tokens are removed on exit.
#
# Settings (environment):
#   RUN_HOST        address everything listens on        (127.0.0.1)
#   KVSGATE_PORT    kvsgate                                (8080)
#   EMULATOR_PORT   the local KVS emulator                 (4566)
#   DEMO_PORT       the demo page                          (8000)
#   DEMO_CHANNEL    channel to create and join             (demo; kvsgate-demo on AWS)
#   TOKEN_TTL_S     lifetime of the printed tokens         (28800)
#   BUILD           build folder                           (build)
#   RUN_BOOTSTRAP   0 = skip tools/bootstrap (dependencies managed elsewhere, e.g.
#                   a node_modules shared between worktrees, which `npm ci` would replace)
#   KVSGATE_RUN_AWS 1 = real AWS (needs AWS_REGION and credentials)
#   Other KVSGATE_* settings are passed to kvsgate (e.g. KVSGATE_LOG_LEVEL=debug).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

host=${RUN_HOST:-127.0.0.1}
gate_port=${KVSGATE_PORT:-8080}
emu_port=${EMULATOR_PORT:-4566}
demo_port=${DEMO_PORT:-8000}
ttl=${TOKEN_TTL_S:-28800}
build=${BUILD:-build}
aws=0
case "${KVSGATE_RUN_AWS:-0}" in
    1|true|yes) aws=1 ;;
    0|false|no|"") aws=0 ;;
    *) echo "run: KVSGATE_RUN_AWS must be 1 or 0, not '${KVSGATE_RUN_AWS}'" >&2; exit 2 ;;
esac
if [ "$aws" = 1 ]; then
    channel=${DEMO_CHANNEL:-kvsgate-demo}
    region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
    if [ -z "$region" ]; then
        echo "run: KVSGATE_RUN_AWS=1 needs AWS_REGION (e.g. AWS_REGION=us-west-2)" >&2
        exit 2
    fi
else
    channel=${DEMO_CHANNEL:-demo}
    region=us-west-2
fi
url_host=$host
case "$host" in *:*) url_host="[$host]" ;; esac
gate_url="http://$url_host:$gate_port"
emu_url="http://$url_host:$emu_port"
demo_url="http://$url_host:$demo_port"
run_dir="$here/.run"
bin="$here/$build/kvsgate"

say() { printf '%s\n' "$*"; }
die() { printf 'run: %s\n' "$*" >&2; exit 1; }

# ---- install and build ------------------------------------------------------
if [ "${RUN_BOOTSTRAP:-1}" != 0 ]; then
    tools/bootstrap run
else
    [ -f node_modules/amazon-kinesis-video-streams-webrtc/dist/kvs-webrtc.min.js ] ||
        die "RUN_BOOTSTRAP=0 but node_modules lacks the KVS WebRTC SDK; run tools/bootstrap run"
fi
say "run: building kvsgate in $build/ (log: .run/build.log)"
mkdir -p "$run_dir"
chmod 700 "$run_dir"
{
    if [ -f "$build/CMakeCache.txt" ]; then cmake -S . -B "$build"
    else cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo; fi
    cmake --build "$build" -j "$(nproc)" --target kvsgate
} >"$run_dir/build.log" 2>&1 || { tail -n 30 "$run_dir/build.log" >&2; die "the build failed (full log: .run/build.log)"; }

# ---- ports -------------------------------------------------------------------
# Binding is the only reliable test (something may listen on 0.0.0.0 only).
port_free() {
    node -e 'const s = require("net").createServer();
             s.once("error", () => process.exit(1));
             s.listen(Number(process.argv[2]), process.argv[1], () => s.close(() => process.exit(0)));' "$1" "$2"
}
check_port() { # name port variable
    port_free "$host" "$2" || die "port $2 on $host is already in use, so $1 cannot listen there. Stop what uses it (ss -ltnp 'sport = :$2' shows it) or pick another port: $3=NNNN make run"
}
check_port kvsgate "$gate_port" KVSGATE_PORT
check_port "the demo server" "$demo_port" DEMO_PORT
[ "$aws" = 1 ] || check_port "the KVS emulator" "$emu_port" EMULATOR_PORT

# ---- processes and their cleanup --------------------------------------------
pids=()
names=()
stopping=0
cleanup() {
    local status=$?
    trap - INT TERM HUP EXIT
    stopping=1
    if [ ${#pids[@]} -gt 0 ]; then
        say ""
        say "run: stopping ${names[*]}"
        # kvsgate first (it drains), then the demo server, then the emulator;
        # each is the leader of its own process group (setsid below).
        local i
        for ((i=${#pids[@]}-1; i>=0; i--)); do kill -TERM -- "-${pids[i]}" 2>/dev/null || true; done
        local deadline=$((SECONDS + 10))
        for ((i=${#pids[@]}-1; i>=0; i--)); do
            while kill -0 "${pids[i]}" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
            if kill -0 "${pids[i]}" 2>/dev/null; then
                say "run: ${names[i]} did not stop in time; killing it"
                kill -KILL -- "-${pids[i]}" 2>/dev/null || true
            fi
            wait "${pids[i]}" 2>/dev/null || true
        done
    fi
    rm -f "$run_dir/jwt-secret" "$run_dir"/*.jwt
    say "run: stopped"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 0' INT TERM HUP

# Every process starts in its own session (setsid), so Ctrl-C reaches only
# make and this script, whose trap stops them in order and waits for them.
started() { pids+=("$1"); names+=("$2"); }

# Waits until FILE has a line (a ready line) while PID lives.
wait_line() { # file pid seconds
    local end=$((SECONDS + $3))
    while [ $SECONDS -lt $end ]; do
        [ -s "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
failed_to_start() { # name log
    tail -n 20 "$2" >&2 || true
    die "$1 did not start (log: ${2#"$here"/})"
}

# ---- the emulator -----------------------------------------------------------
if [ "$aws" = 0 ]; then
    : >"$run_dir/emulator.ready"
    setsid node tools/kvs-local/server.js --host "$host" --port "$emu_port" --region "$region" \
        >"$run_dir/emulator.ready" 2>"$run_dir/emulator.log" &
    started $! "the KVS emulator"
    wait_line "$run_dir/emulator.ready" "$!" 15 || failed_to_start "the KVS emulator" "$run_dir/emulator.log"
fi

# ---- kvsgate ------------------------------------------------------------------
umask 077
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$run_dir/jwt-secret"
umask 022
gate_env=(PATH="$PATH" HOME="${HOME:-/tmp}")
for name in $(compgen -e); do
    case "$name" in
        KVSGATE_PORT|KVSGATE_RUN_AWS|KVSGATE_LISTEN|KVSGATE_CORS_ORIGINS|KVSGATE_JWT_HS256_SECRET|KVSGATE_JWT_HS256_SECRET_FILE) ;;
        KVSGATE_KVS_ENDPOINT|KVSGATE_STS_ENDPOINT) [ "$aws" = 1 ] && gate_env+=("$name=${!name}") ;;
        KVSGATE_*) gate_env+=("$name=${!name}") ;;
        AWS_*) [ "$aws" = 1 ] && gate_env+=("$name=${!name}") ;;
    esac
done
origins="http://127.0.0.1:$demo_port,http://localhost:$demo_port"
case "$host" in 127.0.0.1|localhost) ;; *) origins="$origins,$demo_url" ;; esac
gate_env+=(KVSGATE_LISTEN="$url_host:$gate_port" KVSGATE_CORS_ORIGINS="$origins"
           KVSGATE_JWT_HS256_SECRET_FILE="$run_dir/jwt-secret" AWS_REGION="$region")
if [ "$aws" = 0 ]; then
    # The emulator's static key pair; nothing from this shell's AWS setup.
    gate_env+=(KVSGATE_KVS_ENDPOINT="$emu_url" KVSGATE_STS_ENDPOINT="$emu_url"
               AWS_ACCESS_KEY_ID=AKIDLOCAL AWS_SECRET_ACCESS_KEY=SECRETLOCAL AWS_EC2_METADATA_DISABLED=true)
fi
setsid env -i "${gate_env[@]}" "$bin" serve 2>"$run_dir/kvsgate.log" &
gate_pid=$!
started "$gate_pid" kvsgate
ready=0
for _ in $(seq 1 300); do
    kill -0 "$gate_pid" 2>/dev/null || break
    if curl -fsS -o /dev/null "$gate_url/readyz" 2>/dev/null; then ready=1; break; fi
    sleep 0.1
done
if [ "$ready" = 0 ]; then
    if [ "$aws" = 1 ] && kill -0 "$gate_pid" 2>/dev/null; then
        curl -sS "$gate_url/readyz" >&2 || true
        say "" >&2
        die "kvsgate is up but not ready after 30 s: are AWS credentials available (environment, web identity, container or IMDS)? See .run/kvsgate.log"
    fi
    failed_to_start kvsgate "$run_dir/kvsgate.log"
fi

# ---- the demo page ------------------------------------------------------------
: >"$run_dir/demo.ready"
setsid node demo/server.js --host "$host" --port "$demo_port" >"$run_dir/demo.ready" 2>"$run_dir/demo.log" &
started $! "the demo server"
wait_line "$run_dir/demo.ready" "$!" 15 || failed_to_start "the demo server" "$run_dir/demo.log"

# ---- channel and tokens -------------------------------------------------------
token() { KVSGATE_JWT_HS256_SECRET_FILE="$run_dir/jwt-secret" "$bin" token "$@"; }
admin=$(token --sub demo-admin --manage "$channel" --ttl 300)
code=$(curl -sS -o "$run_dir/channel.json" -w '%{http_code}' -X PUT \
    -H "Authorization: Bearer $admin" "$gate_url/v1/channels/$channel") || true
case "$code" in
    201) created="created" ;;
    200) created="already existed" ;;
    *) cat "$run_dir/channel.json" >&2 2>/dev/null || true; say "" >&2
       die "creating channel $channel answered HTTP $code (log: .run/kvsgate.log)" ;;
esac
# A new channel on AWS is CREATING for a few seconds.
for _ in $(seq 1 60); do
    grep -q '"status":"ACTIVE"' "$run_dir/channel.json" 2>/dev/null && break
    sleep 0.5
    curl -sS -o "$run_dir/channel.json" -H "Authorization: Bearer $admin" "$gate_url/v1/channels/$channel" || true
done
grep -q '"status":"ACTIVE"' "$run_dir/channel.json" || die "channel $channel is not ACTIVE: $(cat "$run_dir/channel.json")"

# With the emulator, a second channel that records to a stream (WebRTC
# ingestion: the demo's "Ingest media" joins its storage session).
recorded=""
if [ "$aws" = 0 ]; then
    recorded="$channel-recorded"
    admin2=$(token --sub demo-admin --manage "$recorded" --ttl 300)
    curl -sS -o /dev/null -X PUT -H "Authorization: Bearer $admin2" "$gate_url/v1/channels/$recorded" || true
    NODE_NO_WARNINGS=1 node -e '
const kv = require("@aws-sdk/client-kinesis-video");
const c = new kv.KinesisVideoClient({ region: process.argv[2], endpoint: process.argv[1], maxAttempts: 1,
  credentials: { accessKeyId: "AKIDLOCAL", secretAccessKey: "SECRETLOCAL" } });
c.send(new kv.CreateStreamCommand({ StreamName: process.argv[3], DataRetentionInHours: 1 }))
  .catch((e) => { if (e.name !== "ResourceInUseException") { console.error(e.message); process.exit(1); } });
' "$emu_url" "$region" "$recorded-video" || die "could not create the stream $recorded-video in the emulator"
    code=$(curl -sS -o "$run_dir/storage.json" -w '%{http_code}' -X PUT -H "Authorization: Bearer $admin2" \
        -H 'Content-Type: application/json' -d "{\"enabled\":true,\"streamName\":\"$recorded-video\"}" \
        "$gate_url/v1/channels/$recorded/media-storage") || true
    [ "$code" = 200 ] || die "recording $recorded answered HTTP $code: $(cat "$run_dir/storage.json")"
fi

umask 077
token --sub demo-master --master "$channel" --ttl "$ttl" >"$run_dir/master.jwt"
token --sub demo-viewer --viewer "$channel" --ttl "$ttl" >"$run_dir/viewer.jwt"
if [ -n "$recorded" ]; then
    token --sub demo-master --master "$recorded" --ttl "$ttl" >"$run_dir/rec-master.jwt"
    token --sub demo-viewer --viewer "$recorded" --ttl "$ttl" >"$run_dir/rec-viewer.jwt"
fi
umask 022
master_tok=$(cat "$run_dir/master.jwt")
viewer_tok=$(cat "$run_dir/viewer.jwt")
# One self-check through the API before printing the links.
check=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $viewer_tok" \
    "$gate_url/v1/channels/$channel/viewer") || true
[ "$check" = 200 ] || die "the viewer's connection info answered HTTP $check (log: .run/kvsgate.log)"

link() { printf '%s/#kvsgate=%s&channel=%s&role=%s&start=1&token=%s' "$demo_url" "$gate_url" "${3:-$channel}" "$1" "$2"; }
rec_lines=""
if [ -n "$recorded" ]; then
    printf -v rec_lines '\nA channel that records to a stream (WebRTC ingestion: master and viewer join\nthe emulator'"'"'s storage session through kvsgate; "Ingest media" is on):\n\n  master  %s\n\n  viewer  %s\n' \
        "$(link master "$(cat "$run_dir/rec-master.jwt")" "$recorded")" "$(link viewer "$(cat "$run_dir/rec-viewer.jwt")" "$recorded")"
fi
if [ "$aws" = 1 ]; then
    mode="real AWS, region $region"
    emu_line=""
else
    mode="local KVS emulator, no AWS account needed"
    emu_line=$(printf '\n  emulator   %s    log: .run/emulator.log' "$emu_url")
fi
cat <<EOF

kvsgate demo is running ($mode)

  kvsgate    $gate_url    log: .run/kvsgate.log$emu_line
  demo page  $demo_url
  channel    $channel ($created)

Open the master in one tab and the viewer in another (tokens valid $((ttl / 3600)) h,
until this stops; each tab asks kvsgate for a fresh signed URL):

  master  $(link master "$master_tok")

  viewer  $(link viewer "$viewer_tok")
${rec_lines}
The API (what the page does):

  curl -s -H "Authorization: Bearer \$(cat $run_dir/viewer.jwt)" \\
       $gate_url/v1/channels/$channel/viewer

More tokens (e.g. a second viewer):

  KVSGATE_JWT_HS256_SECRET_FILE=$run_dir/jwt-secret $bin token --sub bob --viewer $channel

EOF
if [ "$aws" = 1 ]; then
    say "The channel stays in your account after this stops (aws kinesisvideo delete-signaling-channel removes it)."
    say ""
fi
say "Ctrl-C stops everything."

# ---- run until Ctrl-C or until one of them dies ---------------------------------
set +e
wait -n "${pids[@]}"
status=$?
[ "$stopping" = 1 ] && exit 0
for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[i]}" 2>/dev/null; then
        say "run: ${names[i]} exited unexpectedly (status $status); see .run/" >&2
    fi
done
exit 1
