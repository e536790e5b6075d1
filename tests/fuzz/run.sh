#!/usr/bin/env bash
# Runs one libFuzzer target for a while and prints what it did.
#
#   tests/fuzz/run.sh FUZZER SEED_DIR WORK_DIR SECONDS [libFuzzer flags...]
#
# The checked-in seeds (SEED_DIR) are only read; inputs the fuzzer finds go to
# WORK_DIR/corpus and a crashing input to WORK_DIR/crash-* (the path is
# printed). Exits non-zero when the fuzzer found a crash, a leak, a timeout or
# a failed invariant. ctest's fuzz.* tests and `make fuzz` call this.
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4
shift 4
mkdir -p "$work/corpus"
name=$(basename "$fuzzer")
log="$work/last.log"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
"$fuzzer" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="$work/" "$@" "$work/corpus" "$seeds" >"$log" 2>&1 || status=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
corpus=$(find "$work/corpus" -type f | wc -l)
if [ "$status" -ne 0 ]; then
    # The report: sanitizer output or the failed invariant, and the input's path.
    grep -v '^#[0-9]' "$log" | tail -60 >&2
    echo "fuzz $name: FAILED (exit $status) after ${execs:-?} executions; see $log" >&2
    exit "$status"
fi
echo "fuzz $name: ${execs:-0} executions in ${seconds} s (${rate:-0}/s), corpus $corpus new + $(find "$seeds" -type f | wc -l) seeds"
