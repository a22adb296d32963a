#!/bin/sh
# Builds fuzz/fuzz-ws-conn.c (a whole WebSocket server connection over an in-memory
# stream) with clang's libFuzzer, ASan and UBSan, linked with the normal build's
# libgrove.a, and runs it for a bounded time over a copy of the seed corpus.
# Usage: run-ws-conn.sh SRCDIR BUILDDIR [SECONDS]. A missing clang is a failure.
set -eu
src=$1
build=$2
out=$build/fuzz
secs=${3:-15}
command -v clang >/dev/null || { echo "clang is not installed (apt-get install clang)"; exit 1; }
[ -f "$build/libgrove.a" ] || { echo "$build/libgrove.a is missing: build the project first"; exit 1; }
mkdir -p "$out"
clang -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/src" -I"$src/include" \
    "$src/fuzz/fuzz-ws-conn.c" "$src/src/ws/frame.c" "$src/src/ws/util.c" "$src/src/ws/ws.c" \
    "$src/src/ws/handshake.c" "$build/libgrove.a" $(pkg-config --libs openssl libcares zlib) -lpthread -ldl \
    -o "$out/fuzz-ws-conn"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$src"/fuzz/corpus/ws-conn/* "$work/"
cd "$out"
status=0
ASAN_OPTIONS=detect_leaks=1 ./fuzz-ws-conn -max_total_time="$secs" -max_len=8192 \
    -dict="$src/fuzz/ws-frame.dict" -print_final_stats=1 "$work" >"$work/log" 2>&1 || status=$?
grep -v '^"' "$work/log" | tail -40
exit $status
