#!/bin/sh
# Smoke run of one bench program (CTest, see CMakeLists.txt): it must exit 0 and print a
# number as the last line of stdout, as ../shared/peers/run.sh expects. A timing is never
# checked: the machine's speed is no test.
#   smoke.sh PROGRAM N
out=$("$1" "$2" 2>/dev/null) || { echo "$1 $2: exit status $?"; exit 1; }
last=$(printf '%s\n' "$out" | tail -n 1)
if printf '%s\n' "$last" | grep -Eq '^-?[0-9]+(\.[0-9]+)?$'; then
    echo "$1 $2: $last"
    exit 0
fi
echo "$1 $2: last line of stdout is '$last', not a number"
exit 1
