# Grove's two front doors (see README.md). CMake does the building, CTest the testing.
#   make run    build and start grove-serve with the demo app on 127.0.0.1:8080
#   make test   build and run the whole suite: normal build, ASan+UBSan build (with fault
#               injection: tests/test-fault.c), the
#               portable (ucontext) context switch, and Valgrind over the core tests
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-asan test-portable test-main bench clean

all: build

deps:
	@tools/install-deps

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)
	cmake --build build -j $(JOBS)

# grove-serve with the built-in demo app: http://127.0.0.1:8080/ (status on :8081).
run: build
	./build/tools/grove-serve --bind 127.0.0.1:8080 --status 127.0.0.1:8081

test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGROVE_SANITIZE=ON -DGROVE_FAULT=ON -DGROVE_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest -j $(JOBS) --output-on-failure -LE nosan

test-portable: deps
	cmake -S . -B build-portable -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGROVE_CTX_PORTABLE=ON \
		-DGROVE_WITH_TLS=OFF -DGROVE_WITH_CARES=OFF \
		-DGROVE_BUILD_BENCH=OFF -DGROVE_BUILD_EXAMPLES=OFF $(CMAKE_FLAGS)
	cmake --build build-portable -j $(JOBS)
	cd build-portable && ctest -j $(JOBS) --output-on-failure -L portable

# The portable build is also the one without OpenSSL and c-ares (GROVE_WITH_TLS=OFF,
# GROVE_WITH_CARES=OFF): the core runs alone and DNS falls back to libc on the tpool.
# The normal build's suite runs last, so its CTest summary is the final one printed.
test-main: build
	cd build && ctest -j $(JOBS) --output-on-failure

test: test-asan test-portable test-main

bench: build
	@echo "see docs/BENCHMARKS.md for the peer comparison commands"

clean:
	rm -rf build build-asan build-portable
