#!/bin/sh
# Builds Grove's core (with the aarch64 asm context switch) and the core, sync and pool
# tests with the aarch64 cross compiler, and runs them under qemu-aarch64. This is how
# `make test` exercises src/ctx/aarch64.S on an x86-64 machine. Missing tools fail loudly.
set -eu
src=$1
out=$2/cross-aarch64
for tool in aarch64-linux-gnu-gcc qemu-aarch64; do
    command -v $tool >/dev/null || { echo "missing $tool (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)"; exit 1; }
done
mkdir -p "$out"
cd "$src"
srcs="src/base/*.c src/core/*.c src/hub/epoll.c src/hub/fdtable.c src/hub/wakeup.c src/ctx/aarch64.S src/ctx/make.c src/debug/debug.c
      src/io/signal.c src/io/sock.c src/sync/*.c src/pool/*.c tests/cross/no-dns.c"
for t in core sync pool; do
    # shellcheck disable=SC2086
    aarch64-linux-gnu-gcc -std=c11 -O2 -g -D_GNU_SOURCE -DGROVE_CTX_ASM=1 -Wall -Wextra -Werror \
        -Wno-unused-parameter -fno-omit-frame-pointer -Iinclude -Isrc -Itests $srcs tests/test-$t.c \
        -o "$out/test-$t" -static -lpthread
    echo "== test-$t (aarch64, qemu)"
    qemu-aarch64 "$out/test-$t"
done
