#!/bin/sh
# The layering contract of docs/ARCHITECTURE.md, checked two ways:
#  1. includes: a file under src/<dir>/ may include a private header "<dir2>/x.h" only if
#     <dir2> is its own layer or one below it; the libraries of their own (patch, preload,
#     http, ws, zmq, pq) may include only src/base/ privately and the public headers;
#     a header marked internal in ARCHITECTURE.md is seen only by the layers listed there.
#  2. calls: no object of libgrove references a symbol (grove_* or grove__*) that only a
#     higher layer defines.
# The order comes from the "layer-order:" and "internal:" lines of docs/ARCHITECTURE.md.
# Usage: check-layers.sh SOURCE_DIR BUILD_DIR
set -eu
src=$1
build=$2
doc="$src/docs/ARCHITECTURE.md"
order=$(sed -n 's/^layer-order: *//p' "$doc")
own=$(sed -n 's/^own-libraries: *//p' "$doc")
[ -n "$order" ] || { echo "no layer-order: line in $doc"; exit 1; }
fail=0

# rank of a src/ directory: its position in the order (ctx is core's); own libraries: 100
rank() {
    d=$1
    [ "$d" = ctx ] && d=core
    i=0
    for l in $order; do
        [ "$l" = "$d" ] && { echo $i; return; }
        i=$((i + 1))
    done
    for l in $own; do
        [ "$l" = "$d" ] && { echo 100; return; }
    done
    echo -1
}

# 1. Includes.
for f in $(cd "$src/src" && find . -name '*.[ch]' | sed 's|^\./||' | sort); do
    dir=${f%%/*}
    r=$(rank "$dir")
    [ "$r" -ge 0 ] || { echo "FAIL: src/$f: directory $dir is not in ARCHITECTURE.md's layer order"; fail=1; continue; }
    for inc in $(sed -n 's/^#include "\([a-z0-9_-]*\/[a-z0-9_.-]*\)".*/\1/p' "$src/src/$f"); do
        idir=${inc%%/*}
        [ "$idir" = grove ] && continue   # the public headers are everyone's
        ir=$(rank "$idir")
        if [ "$r" = 100 ]; then
            [ "$idir" = base ] || [ "$idir" = "$dir" ] || { echo "FAIL: src/$f (a library of its own) includes private $inc"; fail=1; }
            continue
        fi
        if [ "$ir" -lt 0 ] || [ "$ir" -gt "$r" ]; then
            echo "FAIL: src/$f ($dir) includes $inc from a higher layer ($idir)"; fail=1
        fi
        allowed=$(sed -n "s|^internal: $inc *: *||p" "$doc")
        if [ -n "$allowed" ]; then
            d2=$dir; [ "$d2" = ctx ] && d2=core
            echo " $allowed " | grep -q " $d2 " || { echo "FAIL: src/$f includes $inc, internal to: $allowed"; fail=1; }
        fi
    done
done

# 2. Calls: map each defined global symbol of libgrove's objects to its layer.
objs=$(find "$build/CMakeFiles/grove_objs.dir/src" -name '*.o' | sort)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for o in $objs; do
    dir=$(echo "$o" | sed 's|.*/grove_objs.dir/src/||; s|/.*||')
    r=$(rank "$dir")
    nm --defined-only -g "$o" | awk -v r="$r" 'NF==3 && $3 ~ /^grove_/ {print $3, r}' >> "$tmp/defs"
    nm -u "$o" | awk -v r="$r" -v f="${o##*/grove_objs.dir/}" '$2 ~ /^grove_/ {print $2, r, f}' >> "$tmp/uses"
done
sort -u "$tmp/defs" > "$tmp/defs.s"
while read -r sym r file; do
    dr=$(awk -v s="$sym" '$1 == s {print $2; exit}' "$tmp/defs.s")
    [ -n "$dr" ] || continue
    if [ "$dr" -gt "$r" ]; then
        echo "FAIL: $file calls $sym, defined in a higher layer"; fail=1
    fi
done < "$tmp/uses"

[ $fail = 0 ] && echo "layers ok: $order | own libraries: $own"
exit $fail
