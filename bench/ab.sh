#!/usr/bin/env bash
# Two builds of the server, alternately, on the database bench/run.sh left seeded: the
# tree query's req/s at concurrency 1 and 32, and the server's CPU per request at c=1
# (utime+stime from /proc, which the machine's other load moves far less than req/s).
#
#   bench/run.sh                                   # seeds canopy_bench (and builds HEAD)
#   bench/ab.sh path/to/before/canopy target/production/canopy [rounds]
#   SCRIPT=open_items LOGIN=owner bench/ab.sh before after   # openItems (run.sh enrolls owner)
set -uo pipefail
cd "$(dirname "$0")/.."
BEFORE=$1 AFTER=$2 ROUNDS=${3:-3} SCRIPT=${SCRIPT:-tree} LOGIN=${LOGIN:-bench}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
export DATABASE_URL="$PG/${BENCH_DB:-canopy_bench}" CANOPY_SECRET=bench-secret-bench-secret-bench-secret
export MAINS=${MAINS:-2000} FAMILY_SIZE=26
PORT=${PORT:-18111}
TICKS=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # binary label
  CANOPY_RATE_PER_CLIENT=1000000 CANOPY_RATE_PER_USER=1000000 RUST_LOG=warn \
    "$1" serve --no-demo --listen "127.0.0.1:$PORT" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 50); do curl -sf "127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
  local token
  token=$(curl -sf "127.0.0.1:$PORT/graphql" -H 'content-type: application/json' \
    -d "{\"query\":\"mutation { login(input: {loginName: \\\"$LOGIN\\\", password: \\\"bench-password-2026\\\"}) { token } }\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["login"]["token"])')
  TOKEN=$token wrk -t2 -c8 -d3s -s bench/$SCRIPT.lua "http://127.0.0.1:$PORT/graphql" >/dev/null
  for c in 1 32; do
    local before_cpu out after_cpu
    before_cpu=$(cpu $pid)
    out=$(TOKEN=$token wrk -t"$(( c < 2 ? c : 2 ))" -c$c -d10s -s bench/$SCRIPT.lua "http://127.0.0.1:$PORT/graphql")
    after_cpu=$(cpu $pid)
    python3 -c "
import re
out = '''$out'''
n = int(re.search(r'(\d+) requests in', out).group(1))
rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
print('$2', 'c=$c', 'req/s', rps, 'cpu_ms_per_request', round(($after_cpu - $before_cpu) * 1000 / $TICKS / n, 2))"
  done
  kill $pid; wait $pid 2>/dev/null
}
for _ in $(seq 1 "$ROUNDS"); do
  run "$BEFORE" before
  run "$AFTER" after
done
