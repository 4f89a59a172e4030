#!/usr/bin/env bash
# Compares two orbit-server builds under the same redis-benchmark load, alternating them
# so that drift of the machine hits both: durable (`--durability always`) SET, INCR and
# LPUSH, 50 clients, pipeline 16, 300,000 requests per test, five rounds.
#
#   scripts/ab-resp.sh A=/path/to/orbit-server B=/path/to/other/orbit-server
#
# Build each commit with `cargo build --release -p orbit-server -p orbit-benchmarks` (in a
# `git worktree`) and copy its binary aside first. Needs redis-benchmark and redis-cli
# (scripts/install-deps.sh --peers).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 NAME=BINARY NAME=BINARY..." >&2; exit 2; }
rounds=${ROUNDS:-5}
port=17003
for round in $(seq "$rounds"); do
  for spec in "$@"; do
    name=${spec%%=*}; bin=${spec#*=}
    dir=$(mktemp -d)
    "$bin" --data-dir "$dir" --durability always --grpc-addr 127.0.0.1:17001 \
      --http-addr 127.0.0.1:17002 --resp-addr 127.0.0.1:$port --pg-addr 127.0.0.1:17004 \
      >"$dir.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
    result=$(redis-benchmark -p $port -c 50 -n 300000 -P 16 -t set,incr,lpush -q 2>/dev/null \
      | tr '\r' '\n' | grep "requests per second" | awk '{printf "%s %s ", $1, $2}')
    echo "$name round $round: $result"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$dir" "$dir.log"
  done
done
