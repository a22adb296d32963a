#!/bin/bash
# PostgreSQL benchmark (docs/BENCHMARKS.md): a private server on 127.0.0.1 (initdb in a
# temporary directory; as the postgres user when run as root), then, in one run, 100
# clients over 10 connections with grove-pq (green threads; then the same with the pool's
# pipelining on), psycopg2 under gevent, and 10 OS threads with a blocking connection each,
# for SELECT 1 and a parameterised query.
# Usage: bench/pq.sh [BUILD_DIR] [SECONDS]. The server is stopped by PID at the end.
set -eu
build=${1:-build}
secs=${2:-5}
bin=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
dir=$(mktemp -d /tmp/grove-pqbench-XXXXXX)
as=()
if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
    as=(setpriv --reuid="$(id -u postgres)" --regid="$(id -g postgres)" --init-groups --)
fi
"${as[@]}" "$bin/initdb" -D "$dir/data" -A trust -U grove --no-sync >"$dir/initdb.log" 2>&1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${as[@]}" "$bin/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 -c fsync=off \
    -c max_connections=150 >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; sleep 1; kill -KILL $pid 2>/dev/null; rm -rf "$dir"' EXIT
ci="host=127.0.0.1 port=$port user=grove dbname=postgres"
for _ in $(seq 100); do
    "$bin/pg_isready" -h 127.0.0.1 -p "$port" -q && break
    sleep 0.1
done
for q in ${PQ_QUERIES:-select1 param}; do
    "$build/bench/grove-pq" green "$ci" 100 10 "$secs" "$q" >/dev/null
    "$build/bench/grove-pq" pipeline "$ci" 100 10 "$secs" "$q" >/dev/null
    /usr/bin/python3 "$(dirname "$0")/pq_gevent.py" "$ci" 100 10 "$secs" "$q" >/dev/null
    "$build/bench/grove-pq" threads "$ci" 100 10 "$secs" "$q" >/dev/null
done
