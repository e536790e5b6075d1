# kvsgate's front door. Every target installs what it needs first
# (tools/bootstrap is idempotent), so each works on a fresh Debian machine.
#
#   make build          release-with-debug-info build in build/
#   make test           everything CI runs, in this order:
#                         test-main      build/, every test through ctest
#                         test-valgrind-routes  integration.routes again with
#                                        kvsgate under valgrind (~10 s)
#                         test-sanitize  every C and kvsgate test again in an
#                                        ASan+UBSan build (build-san/, clang-14)
#                         test-fuzz      each libFuzzer target for a few seconds
#                                        (KVSGATE_FUZZ_SMOKE_S) in that build
#                         test-tsan      the concurrency tests under TSan (build-tsan/)
#   make fuzz           every fuzz target for FUZZ_SECONDS each (default 300),
#                       corpora kept in build-san/tests/fuzz-work/, then the
#                       randomized black-box run (tests/hostile/random.test.js)
#                       as long against the ASan+UBSan daemon
#   make test-valgrind  the integration, hostile-input and fault suites with
#                       kvsgate under valgrind (not in CI: ~4.5 min; see
#                       docs/robustness.md)
#   make soak           30 minutes of mixed load with faults (tools/soak.sh)
#   make run            kvsgate + the local KVS emulator + the demo page
#                       (tools/run.sh; KVSGATE_RUN_AWS=1 for real AWS)
#   make image          the container image, built and smoke-tested (not in make test)
#   make bench          the benchmarks (bench/run.sh, ~35 min): bench/results/<date>/
#   make clean
#
# docs/robustness.md says what each of these checks and what they cost.

JOBS ?= $(shell nproc)
BUILD ?= build
SAN_BUILD ?= build-san
TSAN_BUILD ?= build-tsan
CLANG ?= clang-14
CTEST_FLAGS ?= --output-on-failure -j $(JOBS)
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_S ?= 10
SOAK_MINUTES ?= 30

SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1 \
          UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
          LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitizers/lsan.supp:print_suppressions=0
# kvsgate under valgrind (tests/lib/sanitizers.js puts KVSGATE_TEST_WRAPPER in
# front of the binary and fails a test on any report).
VALGRIND = valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
           --show-leak-kinds=definite --num-callers=30 \
           --suppressions=$(CURDIR)/tests/sanitizers/valgrind.supp
TSAN_ENV = TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/sanitizers/tsan.supp
# The concurrency tests (label `concurrency` in tests/CMakeLists.txt): C unit
# programs, and integration.resilience against a TSan-built daemon; only these
# are built in the TSan tree.
TSAN_TARGETS = kvsgate test_cache test_metrics test_credentials test_httpd test_ratelimit test_sigv4 \
               test_jwks test_jwt test_issuers test_transport test_workers test_core test_budget

.PHONY: all build test test-main test-sanitize san-build test-fuzz fuzz test-tsan \
        test-valgrind test-valgrind-routes soak run bench clean image

all: build

build:
	tools/bootstrap build
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

test:
	tools/bootstrap test
	$(MAKE) --no-print-directory test-main test-valgrind-routes test-sanitize test-fuzz test-tsan

test-main:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)
	ctest --test-dir $(BUILD) $(CTEST_FLAGS)

# One clang build serves the sanitizer run and the fuzz targets: the library is
# compiled with ASan+UBSan and libFuzzer's coverage hooks (which cost little
# outside a fuzzer), the daemon and the unit tests link it as usual.
san-build:
	tools/bootstrap test
	CC=$(CLANG) cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKVSGATE_SANITIZE=ON \
	      -DKVSGATE_FUZZ=ON -DKVSGATE_FUZZ_SMOKE_S=$(FUZZ_SMOKE_S)
	cmake --build $(SAN_BUILD) -j $(JOBS)

# Every test that runs our C code: unit, vectors, and the Node tests that start
# kvsgate or the C drivers. Left out: the emulator's own tests (they run no C)
# and bench.smoke (it runs kvsgate under callgrind, which cannot host ASan).
test-sanitize: san-build
	$(SAN_ENV) ctest --test-dir $(SAN_BUILD) -LE 'fuzz|emulator|bench' $(CTEST_FLAGS)

test-fuzz: san-build
	ctest --test-dir $(SAN_BUILD) -L fuzz $(CTEST_FLAGS)
	@for f in $(SAN_BUILD)/tests/fuzz-work/*/last.log; do \
	    printf 'fuzz %-10s %s executions\n' "$$(basename $$(dirname $$f))" \
	        "$$(sed -n 's/^stat::number_of_executed_units: *//p' $$f)"; \
	done

fuzz: san-build
	@set -e; for f in $(SAN_BUILD)/tests/fuzz_*; do \
	    n=$$(basename $$f); n=$${n#fuzz_}; \
	    tests/fuzz/run.sh $$f tests/fuzz/corpus_$$n $(SAN_BUILD)/tests/fuzz-work/$$n $(FUZZ_SECONDS); \
	done
	$(SAN_ENV) KVSGATE_BLACKBOX_S=$(FUZZ_SECONDS) ctest --test-dir $(SAN_BUILD) -R '^hostile\.random$$' \
	    --output-on-failure

test-tsan:
	tools/bootstrap test
	CC=$(CLANG) cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKVSGATE_TSAN=ON
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(TSAN_TARGETS)
	$(TSAN_ENV) ctest --test-dir $(TSAN_BUILD) -L concurrency $(CTEST_FLAGS)

# The routes suite (every route once) under valgrind: in CI, as it is quick.
test-valgrind-routes:
	KVSGATE_TEST_WRAPPER="$(VALGRIND)" ctest --test-dir $(BUILD) -R '^integration\.routes$$' \
	    --output-on-failure

test-valgrind:
	tools/bootstrap test
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)
	KVSGATE_TEST_WRAPPER="$(VALGRIND)" ctest --test-dir $(BUILD) -L 'integration|hostile|faults' \
	    --output-on-failure -j 1

soak:
	tools/bootstrap bench
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)
	tools/soak.sh --minutes $(SOAK_MINUTES) --bin $(BUILD)/kvsgate

run:
	BUILD=$(BUILD) tools/run.sh

bench:
	tools/bootstrap bench
	BENCH_BOOTSTRAP=0 bench/run.sh

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(TSAN_BUILD) build-asan build-release

# --- Container image ----------------------------------------------------------------
# make image: a local debian:bookworm-slim (debootstrap, cached), podman build
# (compiles and runs the unit tests inside), then a smoke test against the local
# KVS emulator: read-only root, non-root user, /healthz, /readyz, a viewer-info
# call. Not part of `make test` (see docs/container.md). The chart's tests
# (tests/helm) are.
.PHONY: image
image:
	tools/bootstrap image run && tools/image.sh all
