#!/bin/sh
# What libgrove exports and calls (the layering contract in docs/ARCHITECTURE.md):
#  1. libgrove.so's dynamic symbol table and libgrove.a's global definitions hold only
#     grove_* names: linking libgrove never changes libc's behaviour.
#  2. No object of libgrove calls a libc name that the patch layer interposes: Grove's own
#     system calls go through src/base/sys.h (the names are read from libgrove-patch, so
#     a new interposer is covered at once).
#  3. A static program that only calls grove_sleep defines none of those names.
#  4. libgrove-patch exports the interposers and grove_patch, and nothing else.
# Usage: check-symbols.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
fail=0
bad() { echo "FAIL: $*"; fail=1; }

interposed=$(nm -g --defined-only "$build/libgrove-patch.a" | awk 'NF==3 && $2 ~ /[TW]/ {print $3}' | grep -v '^grove_' | sort -u)
[ -n "$interposed" ] || bad "no interposers found in libgrove-patch.a"
echo "interposed names: $(echo $interposed | wc -w)"

# 1. Exports.
x=$(nm -D --defined-only "$build/libgrove.so" | awk 'NF==3 {print $3}' | grep -v '^grove_' || true)
[ -z "$x" ] || bad "libgrove.so exports non-grove_ symbols: $x"
x=$(nm -g --defined-only "$build/libgrove.a" 2>/dev/null | awk 'NF==3 {print $3}' | grep -v '^grove_' || true)
[ -z "$x" ] || bad "libgrove.a defines non-grove_ globals: $x"
n=$(nm -D --defined-only "$build/libgrove.so" | grep -c ' T grove_' || true)
[ "$n" -gt 100 ] || bad "libgrove.so exports only $n grove_ functions"

# 2. Calls: undefined references of every object in libgrove.a.
undef=$(nm -u "$build/libgrove.a" 2>/dev/null | awk '{print $2}' | sed 's/@.*//' | sort -u)
for s in $interposed; do
    if echo "$undef" | grep -qx "$s"; then
        who=$(nm -A -u "$build/libgrove.a" 2>/dev/null | grep -w "U $s" | sed 's/^[^:]*:\([^:]*\):.*/\1/' | tr '\n' ' ')
        bad "libgrove calls interposed libc name $s (in $who); use src/base/sys.h"
    fi
done

# 3. A static program that only sleeps.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/sleeper.c" <<'C'
#include <grove.h>
int main(void) { return grove_sleep(GROVE_MS(1)) == 0 ? 0 : 1; }
C
libs=$(sed -n 's/^Requires.private: //p' "$build/grove.pc" | tr ',' ' ')
cc -o "$tmp/sleeper" "$tmp/sleeper.c" -I"$src/include" "$build/libgrove.a" \
   $( [ -n "$libs" ] && pkg-config --libs $libs ) -lpthread -ldl
"$tmp/sleeper" || bad "the sleeper program failed"
defined=$(nm --defined-only "$tmp/sleeper" | awk 'NF==3 {print $3}')
for s in $interposed; do
    echo "$defined" | grep -qx "$s" && bad "a program linked with libgrove.a defines $s"
done

# 4. libgrove-patch.so.
x=$(nm -D --defined-only "$build/libgrove-patch.so" | awk 'NF==3 {print $3}' | grep -v '^grove_patch' | sort -u)
[ "$x" = "$interposed" ] || bad "libgrove-patch.so exports differ from its interposers: $(echo "$x" | tr '\n' ' ')"

[ $fail = 0 ] && echo "symbols ok"
exit $fail
