#!/bin/sh
# Builds fuzz/fuzz-ws-frame.c with clang's libFuzzer (plus ASan and UBSan) and runs it for
# a bounded time over a copy of the seed corpus. Usage: run-ws-frame.sh SRCDIR BUILDDIR [SECONDS]
# A missing clang is a failure, not a skip (tools/debian-packages.txt lists it).
set -eu
src=$1
out=$2/fuzz
secs=${3:-15}
command -v clang >/dev/null || { echo "clang is not installed (apt-get install clang)"; exit 1; }
mkdir -p "$out"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/src" -I"$src/include" \
    "$src/fuzz/fuzz-ws-frame.c" "$src/src/ws/frame.c" "$src/src/ws/util.c" \
    -o "$out/fuzz-ws-frame"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$src"/fuzz/corpus/ws-frame/* "$work/"
cd "$out"
status=0
./fuzz-ws-frame -max_total_time="$secs" -max_len=4096 -dict="$src/fuzz/ws-frame.dict" \
    -print_final_stats=1 "$work" >"$work/log" 2>&1 || status=$?
grep -v '^"' "$work/log" | tail -40
exit $status
