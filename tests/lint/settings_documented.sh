#!/usr/bin/env bash
# Every setting in service/config.c's table is documented in README.md.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
missing=0
for name in $(grep -oE '^    \{"(KVSGATE|AWS)_[A-Z0-9_]+"' "$root/service/config.c" | tr -d '{" '); do
    if ! grep -q "\`$name\`" "$root/README.md"; then
        echo "README.md does not document $name"
        missing=1
    fi
done
exit $missing
