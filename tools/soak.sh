#!/usr/bin/env bash
# Soak test: kvsgate and the local KVS emulator under mixed load (valid and
# invalid tokens, every route, channel churn, hostile raw requests) while the
# emulator's faults change every minute; RSS and descriptors sampled every
# 10 s into a CSV. Not part of CI (it takes 30 minutes); see docs/robustness.md.
#
#   tools/soak.sh [--minutes 30] [--bin build/kvsgate] [--out build/soak.csv]
#                 [--concurrency 16] [--rss-tolerance-kb 16384] [--fd-tolerance 16]
#
# Exits non-zero when RSS or descriptors grow past the tolerance after the
# warm-up (the first 5 minutes), when kvsgate dies or /healthz stops answering.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
args=("$@")
have_out=0
for a in "${args[@]}"; do [ "$a" = "--out" ] && have_out=1; done
[ "$have_out" = 1 ] || args+=(--out "$here/build/soak.csv")
mkdir -p "$here/build"
exec node "$here/tools/soak.js" "${args[@]}"
