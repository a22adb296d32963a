#!/bin/sh
# Installs the build into a temporary prefix, then builds and runs a consumer two ways:
# CMake find_package(grove) and pkg-config (static and shared).
set -eu
build=$1
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
"$tmp/consumer/consumer"
"$tmp/consumer/consumer-http"
libdir=$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -1)
export PKG_CONFIG_PATH="$libdir"
cc -o "$tmp/pc-shared" "$src/consumer.c" $(pkg-config --cflags --libs grove) -Wl,-rpath,"$(dirname "$libdir")"
"$tmp/pc-shared"
cc -o "$tmp/pc-static" "$src/consumer.c" $(pkg-config --cflags --static grove) \
   "$(dirname "$libdir")/libgrove.a" $(pkg-config --libs --static grove | sed 's/-lgrove//')
"$tmp/pc-static"
cc -o "$tmp/pc-http" "$src/consumer-http.c" $(pkg-config --cflags --libs grove-http) -Wl,-rpath,"$(dirname "$libdir")"
"$tmp/pc-http"
echo "install check ok"
