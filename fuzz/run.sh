#!/bin/sh
# Builds the libFuzzer target for the HTTP request path with clang and runs it for a bounded
# time over a copy of the seed corpus (the tree's corpus is never written to).
#   fuzz/run.sh BUILD_DIR [SECONDS]
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
out=$1/fuzz
secs=${2:-25}
command -v clang >/dev/null || { echo "clang is not installed (apt-get install clang)"; exit 1; }
[ -f /usr/share/llhttp/llhttp.c ] || { echo "llhttp sources missing (apt-get install node-llhttp)"; exit 1; }
mkdir -p "$out"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -DLLHTTP_STRICT_MODE=1 \
    -D_GNU_SOURCE -I"$src/include" -I"$src/src" -I/usr/share/include/llhttp \
    "$src/fuzz/fuzz-http-request.c" "$src/src/http/parse.c" \
    /usr/share/llhttp/llhttp.c /usr/share/llhttp/api.c /usr/share/llhttp/http.c \
    -o "$out/fuzz-http-request"
rm -rf "$out/corpus"
cp -r "$src/fuzz/corpus/http-request" "$out/corpus"
cd "$out"
exec ./fuzz-http-request -max_total_time="$secs" -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 \
    -dict="$src/fuzz/http.dict" corpus
