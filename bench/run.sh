#!/usr/bin/env bash
# Canopy's benchmark: seeds PostgreSQL, starts the server (production profile), drives it with wrk at
# concurrency 1 and 32, measures the database's own ceiling with pgbench running the same
# statements, and writes a table (median of RUNS runs) to bench/results/latest.md.
#
#   bench/run.sh                      # 2,000 mains x 25 secondaries x 12 invoices
#   MAINS=40000 bench/run.sh          # the 1,000,000-account variant
#   BIN=path/to/canopy bench/run.sh   # a binary built elsewhere
#
# Needs PostgreSQL on 127.0.0.1:5432 (trust auth); installs wrk from Debian if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PG=${PG:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_DB:-canopy_bench}
MAINS=${MAINS:-2000}
SECONDARIES=25
INVOICES=12
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
PORT=${PORT:-18099}
OUT=bench/results
mkdir -p "$OUT"
# The standard size writes latest.md; other sizes keep their own file.
RESULT=$OUT/latest.md
[ "$MAINS" = 2000 ] || RESULT=$OUT/latest-$MAINS-mains.md
export MAINS FAMILY_SIZE=$((SECONDARIES + 1))

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | tail -1)

echo "== build"
# BIN=path/to/canopy runs a binary built elsewhere; otherwise build this checkout with
# the production profile, what is deployed (into CARGO_TARGET_DIR when that is set).
if [ -z "${BIN:-}" ]; then
  cargo build --profile production --quiet
  BIN=${CARGO_TARGET_DIR:-target}/production/canopy
fi

echo "== database $DB"
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
export DATABASE_URL="$PG/$DB" CANOPY_SECRET=bench-secret-bench-secret-bench-secret
$BIN migrate
SEED_START=$(date +%s.%N)
$BIN seed --mains "$MAINS" --secondaries "$SECONDARIES" --invoices "$INVOICES"
SEED_SECONDS=$(python3 -c "import time; print(round(time.time() - $SEED_START, 1))")
# Settle the fresh rows before measuring (hint bits, visibility map), as a database that
# has been running would be; otherwise the first runs pay for it, the server's more than
# pgbench's, which runs after them.
psql -q "$PG/$DB" -c "VACUUM ANALYZE"
printf 'bench-password-2026' | $BIN create-staff --login bench --password-stdin >/dev/null
# 100 more logins with the same password hash: the login storm spreads over them, as many
# users would (one login tried by 32 parallel requests is what the lockout stops).
psql -q "$PG/$DB" -c "INSERT INTO users (login_name, login_key, email, password_hash, is_staff, notifications_enabled, created_at, password_changed_at)
  SELECT 'bench' || g, 'bench' || g, email, password_hash, true, true, now(), now() FROM users, generate_series(1, 100) g WHERE login_key = 'bench'"

echo "== server"
CANOPY_RATE_PER_CLIENT=1000000 CANOPY_RATE_PER_USER=1000000 RUST_LOG=warn \
  $BIN serve --no-demo --listen "127.0.0.1:$PORT" > "$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf "127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done

gql() { curl -sf "127.0.0.1:$PORT/graphql" -H 'content-type: application/json' ${2:+-H "authorization: Bearer $2"} -d "$1"; }
TOKEN=$(gql '{"query":"mutation { login(input: {loginName: \"bench\", password: \"bench-password-2026\"}) { token } }"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["login"]["token"])')
# A family owner for openItems: enroll the first main account.
ENROLL_TOKEN=$(gql '{"query":"{ account(customerNumber: \"9000000001\") { enrollmentToken } }"}' "$TOKEN" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["account"]["enrollmentToken"])')
OWNER=$(gql "{\"query\":\"mutation { enroll(input: {customerNumber: \\\"9000000001\\\", enrollmentToken: \\\"$ENROLL_TOKEN\\\", loginName: \\\"owner\\\", password: \\\"bench-password-2026\\\", email: \\\"o@example.com\\\"}) { token } }\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["enroll"]["token"])')
UID_STAFF=$(psql -tA "$PG/$DB" -c "SELECT id FROM users WHERE login_key = 'bench'")
UID_OWNER=$(psql -tA "$PG/$DB" -c "SELECT id FROM users WHERE login_key = 'owner'")
hash() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# wrk: prints "rps p50_ms p99_ms bad"
load() { # script token concurrency
  TOKEN=$2 wrk -t"$(( $3 < 2 ? $3 : 2 ))" -c"$3" -d"${DURATION}s" --latency -s "bench/$1.lua" "http://127.0.0.1:$PORT/graphql" | python3 -c '
import re, sys
text = sys.stdin.read()
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", text)
p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
bad = int(re.search(r"bad_responses (\d+)", text).group(1))
print(f"{rps:.1f} {ms(*p50.groups()):.1f} {ms(*p99.groups()):.1f} {bad}")'
}
ceiling() { # script concurrency uid token
  # Prepared statements, as the server's driver uses them.
  "$PGBENCH" -n -M prepared -c "$2" -j "$(( $2 < 2 ? $2 : 2 ))" -T "$DURATION" -D mains="$MAINS" -D home=1 -D uid="$3" -D hash="$(hash "$4")" -f "bench/$1.sql" "$PG/$DB" 2>/dev/null \
    | python3 -c 'import re,sys; print(re.search(r"tps = ([\d.]+)", sys.stdin.read()).group(1))'
}
median() { python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print(round(statistics.median(v), 1))' "$@"; }

echo "== warm up"
load tree "$TOKEN" 8 >/dev/null; load open_items "$OWNER" 8 >/dev/null

declare -A R
for run in $(seq 1 "$RUNS"); do
  echo "== run $run/$RUNS"
  for c in 1 32; do
    read -r R[tree_rps_${c}_$run] R[tree_p50_${c}_$run] R[tree_p99_${c}_$run] bad < <(load tree "$TOKEN" "$c")
    [ "$bad" = 0 ] || echo "WARNING: $bad bad tree responses"
    R[tree_pg_${c}_$run]=$(ceiling tree "$c" "$UID_STAFF" "$TOKEN")
    read -r R[items_rps_${c}_$run] R[items_p50_${c}_$run] R[items_p99_${c}_$run] bad < <(load open_items "$OWNER" "$c")
    [ "$bad" = 0 ] || echo "WARNING: $bad bad openItems responses"
    R[items_pg_${c}_$run]=$(ceiling open_items "$c" "$UID_OWNER" "$OWNER")
    read -r R[login_rps_${c}_$run] R[login_p50_${c}_$run] R[login_p99_${c}_$run] bad < <(load login "" "$c")
    [ "$bad" = 0 ] || echo "WARNING: $bad refused logins"
  done
  # The tree query while a storm of logins (argon2) runs beside it.
  load login "" 32 > /dev/null &
  STORM=$!
  sleep 1
  read -r R[storm_rps_$run] R[storm_p50_$run] R[storm_p99_$run] bad < <(load tree "$TOKEN" 32)
  wait $STORM || true
done

m() { local key=$1; shift; local vals=(); for run in $(seq 1 "$RUNS"); do vals+=("${R[${key}_$run]}"); done; median "${vals[@]}"; }
PEAK_KB=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status")
{
  echo "# Canopy benchmark ($(date -u +%Y-%m-%d), $(nproc) cores, median of $RUNS runs of ${DURATION}s)"
  echo
  echo "Data: $((MAINS * (SECONDARIES + 1))) accounts, $((MAINS * (SECONDARIES + 1) * INVOICES)) invoices; seeded in ${SEED_SECONDS} s."
  echo "Server, wrk and PostgreSQL share the machine. Ceiling: pgbench running the same statements."
  echo
  echo "| workload | concurrency | server req/s | p50 ms | p99 ms | pgbench ceiling tx/s | server / ceiling |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  for c in 1 32; do
    for w in tree items; do
      rps=$(m ${w}_rps_$c); pg=$(m ${w}_pg_$c)
      name=$([ $w = tree ] && echo "tree query (20 mains x 25 secondaries x 5 invoices)" || echo "openItems (a family owner, first 20)")
      echo "| $name | $c | $rps | $(m ${w}_p50_$c) | $(m ${w}_p99_$c) | $pg | $(python3 -c "print(f'{$rps / $pg:.0%}')") |"
    done
    echo "| login (argon2id m=19 MiB t=2 p=1) | $c | $(m login_rps_$c) | $(m login_p50_$c) | $(m login_p99_$c) | | |"
  done
  echo "| tree query during a login storm (32 + 32) | 32 | $(m storm_rps) | $(m storm_p50) | $(m storm_p99) | | p99 vs alone: $(python3 -c "print(f'{$(m storm_p99) / $(m tree_p99_32):.2f}x')") |"
  echo
  echo "Peak server memory (VmHWM): $((PEAK_KB / 1024)) MB."
} | tee "$RESULT"
