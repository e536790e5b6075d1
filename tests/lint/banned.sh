#!/usr/bin/env bash
# Fails when service code calls a banned function (curl's list, plus the
# non-reentrant time and token functions): use snprintf/kg_buf, memcpy with a
# checked length, strtok_r, strtoll with checks, gmtime_r.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
pattern='\b(sprintf|vsprintf|strcpy|strcat|strncat|strtok|atoi|atol|atoll|gmtime|localtime|ctime|asctime|gets|tmpnam|alloca)[[:space:]]*\('
dirs=()
for d in core aws auth api service; do [ -d "$root/$d" ] && dirs+=("$root/$d"); done
if hits=$(grep -rnE "$pattern" --include='*.c' --include='*.h' "${dirs[@]}"); then
    echo "banned functions in use:"
    echo "$hits"
    exit 1
fi
echo "no banned function in ${dirs[*]}"
