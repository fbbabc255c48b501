# fedrouter: thin wrapper around CMake. The two commands: `make demo` and `make test`.
ASAN_DIR    ?= build/asan
RELEASE_DIR ?= build/release
FUZZ_DIR    ?= build/fuzz
JOBS        ?= $(shell nproc)
DEMO_ARGS   ?=

.PHONY: all deps build release asan test demo fuzz clean

all: release

deps:
	@tools/setup-deps

release: deps
	cmake -S . -B $(RELEASE_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(RELEASE_DIR) -j $(JOBS)

asan: deps
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DRT_SANITIZE="address;undefined" -DRT_WERROR=ON >/dev/null
	cmake --build $(ASAN_DIR) -j $(JOBS)

build: release

# The whole suite, under ASan+UBSan, through ctest.
test: asan
	ctest --test-dir $(ASAN_DIR) --output-on-failure -j $(JOBS) --timeout 600

# Two routers on 127.0.0.1 and 127.0.0.2 exchanging messages between many hosted domains.
demo: release
	tools/demo.sh $(RELEASE_DIR) $(DEMO_ARGS)

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=Debug -DRT_FUZZ=ON -DRT_FUZZING=ON >/dev/null
	cmake --build $(FUZZ_DIR) -j $(JOBS)

clean:
	rm -rf build
