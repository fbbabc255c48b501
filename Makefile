# fedrouter: thin wrapper around CMake. The two commands: `make demo` and `make test`.
ASAN_DIR    ?= build/asan
TSAN_DIR    ?= build/tsan
RELEASE_DIR ?= build/release
FUZZ_DIR    ?= build/fuzz
JOBS        ?= $(shell nproc)
DEMO_ARGS   ?=

.PHONY: all deps build release asan tsan test demo fuzz clean bench

all: release

deps:
	@tools/setup-deps

release: deps
	cmake -S . -B $(RELEASE_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(RELEASE_DIR) -j $(JOBS)

asan: deps
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DRT_SANITIZE="address;undefined" -DRT_WERROR=ON \
	  -DRT_TSAN_FEDROUTER=$(abspath $(TSAN_DIR))/router/fedrouter >/dev/null
	cmake --build $(ASAN_DIR) -j $(JOBS)

# ThreadSanitizer: the daemon (driven by a multi-worker integration test) and the threaded tests.
tsan: deps
	cmake -S . -B $(TSAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DRT_SANITIZE=thread -DRT_WERROR=ON >/dev/null
	cmake --build $(TSAN_DIR) -j $(JOBS) --target fedrouter unit_pool_verdict_threads

build: release

# The whole suite through ctest: everything under ASan+UBSan, the threaded parts under TSan too.
test: tsan asan
	ctest --test-dir $(TSAN_DIR) --output-on-failure -R '^unit_pool_verdict_threads$$' --timeout 600
	ctest --test-dir $(ASAN_DIR) --output-on-failure -j $(JOBS) --timeout 600

# Two routers on 127.0.0.1 and 127.0.0.2 exchanging messages between many hosted domains.
demo: release
	tools/demo.sh $(RELEASE_DIR) $(DEMO_ARGS)

# fedbench against fedrouter and Prosody, side by side; the report goes to bench/report/.
BENCH_DIR  ?= build/bench
BENCH_ARGS ?=
bench: deps
	@bench/setup
	cmake -S . -B $(BENCH_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BENCH_DIR) -j $(JOBS) --target fedrouter fedbench
	bench/run.py --build $(BENCH_DIR) --report bench/report --quiet $(BENCH_ARGS)

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=Debug -DRT_FUZZ=ON -DRT_FUZZING=ON >/dev/null
	cmake --build $(FUZZ_DIR) -j $(JOBS)

clean:
	rm -rf build
