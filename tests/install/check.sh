#!/bin/sh
# Installs the build into a temporary prefix, moves it (the package must be relocatable),
# then builds and runs consumers: CMake find_package(grove) and pkg-config, static and
# shared, for libgrove and for libgrove-patch.
set -eu
build=$1
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/first" >/dev/null
mv "$tmp/first" "$tmp/prefix"
# Nothing installed may name a directory of this machine: imported targets and ${pcfiledir}.
if grep -rlE "/usr/lib|/usr/include|$tmp|$build" "$tmp/prefix/lib"*/cmake "$tmp/prefix/lib"*/pkgconfig; then
    echo "installed package files name absolute paths"; exit 1
fi
cmake -S "$src" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
"$tmp/consumer/consumer"
"$tmp/consumer/consumer-patch"
"$tmp/consumer/consumer-http"
libdir=$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -1)
export PKG_CONFIG_PATH="$libdir"
lib=$(dirname "$libdir")
cc -o "$tmp/pc-shared" "$src/consumer.c" $(pkg-config --cflags --libs grove) -Wl,-rpath,"$lib"
"$tmp/pc-shared"
cc -o "$tmp/pc-static" "$src/consumer.c" $(pkg-config --cflags --static grove) \
   "$lib/libgrove.a" $(pkg-config --libs --static grove | sed 's/-lgrove//')
"$tmp/pc-static"
cc -o "$tmp/pc-patch-shared" "$src/consumer-patch.c" $(pkg-config --cflags --libs grove-patch) -Wl,-rpath,"$lib"
"$tmp/pc-patch-shared"
cc -o "$tmp/pc-patch-static" "$src/consumer-patch.c" $(pkg-config --cflags grove-patch) \
   "$lib/libgrove-patch.a" "$lib/libgrove.a" $(pkg-config --libs --static grove | sed 's/-lgrove//')
"$tmp/pc-patch-static"
cc -o "$tmp/pc-http" "$src/consumer-http.c" $(pkg-config --cflags --libs grove-http) -Wl,-rpath,"$(dirname "$libdir")"
"$tmp/pc-http"
echo "install check ok"
