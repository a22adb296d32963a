#!/bin/sh
# The tree follows .clang-format (the house style): fails listing the files that do not.
# Usage: check-format.sh SOURCE_DIR
set -eu
cd "$1"
command -v clang-format >/dev/null || { echo "clang-format is not installed (apt-get install clang-format)"; exit 1; }
files=$(git ls-files '*.c' '*.h' 2>/dev/null | grep -v '^fuzz/corpus' || find src include tests examples bench tools fuzz -name '*.[ch]')
bad=""
for f in $files; do
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
    echo "not formatted with clang-format (run: clang-format -i FILE):$bad"
    exit 1
fi
echo "format ok: $(echo $files | wc -w) files"
