#!/bin/bash
# grove-serve against the bare grove-http server (docs/BENCHMARKS.md): wrk on CPU 1, the
# server on CPU 0, 100 connections, SECONDS each; then wrk with 100 connections for 10 s
# while grove-serve reloads every second (SIGHUP), with its latency percentiles and errors.
# Usage: bench/serve.sh [BUILD_DIR] [SECONDS]. Servers are stopped by PID.
set -eu
build=${1:-build}
secs=${2:-5}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_of() {   # utime+stime (clock ticks) of a process tree
    local t=0
    for p in $(pgrep -P "$1") "$1"; do
        [ -r /proc/$p/stat ] && t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat)))
    done
    echo $t
}
run() {   # name pid url
    local name=$1 pid=$2 url=$3
    taskset -c 1 wrk -t1 -c100 -d1s "$url" >/dev/null 2>&1   # warm-up
    local c0; c0=$(cpu_of "$pid")
    local out; out=$(taskset -c 1 wrk --latency -t1 -c100 -d"${secs}s" "$url")
    local c1; c1=$(cpu_of "$pid")
    local rps; rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    local n; n=$(echo "$out" | awk '/requests in/ {print $1}')
    local us; us=$(python3 -c "print('%.2f' % (($c1 - $c0) * 1e6 / $(getconf CLK_TCK) / $n))")
    echo "$name: requests/s=$rps server_cpu_us_per_request=$us p99=$(echo "$out" | awk '/ 99%/ {print $2}')"
}
p1=$(port)
taskset -c 0 "$build/bench/grove-http" "$p1" >/dev/null 2>&1 &
h=$!
p2=$(port)
taskset -c 0 "$build/tools/grove-serve" --bind "127.0.0.1:$p2" --workers 1 >/dev/null 2>&1 &
s=$!
trap 'kill -TERM $h $s 2>/dev/null; sleep 1; kill -KILL $h $s 2>/dev/null || true' EXIT
sleep 1
run grove-http "$h" "http://127.0.0.1:$p1/"
run grove-serve "$s" "http://127.0.0.1:$p2/hello"
# A reload every second under load.
( for i in $(seq 9); do sleep 1; kill -HUP "$s"; done ) &
out=$(taskset -c 1 wrk --latency -t1 -c100 -d10s "http://127.0.0.1:$p2/hello")
echo "grove-serve, 9 reloads in 10 s under load:"
echo "$out" | grep -E "Latency|50%|75%|90%|99%|requests in|Socket errors|Non-2xx|Requests/sec"
