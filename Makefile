# kvsgate's front door. Every target installs what it needs first
# (tools/bootstrap is idempotent), so each works on a fresh Debian machine.
#
#   make build          release-with-debug-info build in build/
#   make test           build, then every test through ctest, then the unit
#                       tests again in an ASan+UBSan build (build-asan/)
#   make test-sanitize  only the sanitizer part
#   make run            kvsgate + the local KVS emulator + the demo page
#                       (tools/run.sh; KVSGATE_RUN_AWS=1 for real AWS)
#   make bench          the benchmarks (bench/run.sh, ~35 min): bench/results/<date>/
#   make clean

JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
CTEST_FLAGS ?= --output-on-failure -j $(JOBS)

.PHONY: all build test test-main test-sanitize run bench clean

all: build

build:
	tools/bootstrap build
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

test:
	tools/bootstrap test
	$(MAKE) --no-print-directory test-main test-sanitize

test-main:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)
	ctest --test-dir $(BUILD) $(CTEST_FLAGS)

test-sanitize:
	tools/bootstrap build
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKVSGATE_SANITIZE=ON \
	      -DKVSGATE_NODE_TESTS=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    ctest --test-dir $(ASAN_BUILD) -L unit $(CTEST_FLAGS)

run:
	BUILD=$(BUILD) tools/run.sh

bench:
	tools/bootstrap bench
	BENCH_BOOTSTRAP=0 bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-release
