#!/usr/bin/env bash
# Writes under contention (issue 18, item 3). Seeds PostgreSQL with 1,000 families, starts
# the release server with rate limits lifted, and drives payInvoices, linkAccount and
# detachAccount from 32 connections (bench/writes.py): each mutation alone, then the three
# mixed, with deliberate contention (a hot set of families, racing links of one account,
# replayed idempotency keys). Every phase ends with a consistency check in SQL
# (bench/writes_check.sql: no invoice paid twice, no account in two families, audit rows
# equal to the successful mutations) that fails the bench if anything is off. Then
# pgbench runs the same transactions (bench/writes_*.sql, prepared, 32 clients) on an
# identical copy of the freshly seeded database: the database's own ceiling. Each run
# starts from a freshly seeded database. Writes bench/results/writes.md (median of RUNS runs).
#
#   BIN=path/to/canopy bench/writes.sh       # a prebuilt binary; about 8 minutes
#   bench/writes.sh                                  # builds target/release/canopy first
#   DURATION=30 RUNS=5 bench/writes.sh               # longer phases, more runs
#   CAPTURE=1 BIN=... bench/writes.sh                # log the SQL of one of each mutation
#                                                    # to bench/results/writes-statements.md
#
# Needs PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres), psql, pgbench and
# python3 (standard library only). Drops and recreates the databases canopy_bench_writes
# and canopy_bench_writes_pgbench.
set -euo pipefail
cd "$(dirname "$0")/.."

PG=${PG:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_DB:-canopy_bench_writes}
PGB_DB=${DB}_pgbench
FAMILIES=${FAMILIES:-1000}
SECONDARIES=${SECONDARIES:-25}
INVOICES=${INVOICES:-12}
STANDALONE=${STANDALONE:-2000}
DURATION=${DURATION:-15}
RUNS=${RUNS:-3}
WORKERS=${WORKERS:-32}
PORT=${PORT:-18121}
CAPTURE=${CAPTURE:-0}
OUT=bench/results
RUNS_DIR=$OUT/writes-runs
mkdir -p "$OUT"
TMP=$(mktemp -d)
PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | tail -1)
PGLOG=${PGLOG:-$(ls /var/log/postgresql/postgresql-*-main.log 2>/dev/null | tail -1)}
FAMILY_SIZE=$((SECONDARIES + 1))
LAST_FAMILY_ID=$((FAMILIES * FAMILY_SIZE))
export CANOPY_SECRET=bench-secret-bench-secret-bench-secret

if [ -z "${BIN:-}" ]; then
  echo "== build"
  cargo build --release --quiet
  BIN=target/release/canopy
fi

SERVER=
stop_server() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  SERVER=
}
cleanup() {
  stop_server
  if [ "$CAPTURE" = 1 ]; then psql -Xq "$PG/postgres" -c "ALTER DATABASE $DB RESET log_statement" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

q() { psql -XAtq "$PG/$DB" -c "$1"; }

# A fresh database: the families first (ids 1 .. FAMILIES * FAMILY_SIZE, every
# FAMILY_SIZE-th a main), then the standalone accounts that links attach ("families" of
# one account with their own Default Group, as adminCreateAccount makes them), a staff
# login, and an owner per family (its home account is the main, so it has every right on
# the family) with the staff login's password hash and a session each: the bearer token
# is cnp_bench_<salt>_<main id>, stored as its SHA-256 hex as open_session stores tokens.
# This skips 1,000 argon2 hashes at enroll; nothing else differs from an enrolled owner.
# Then an identical copy for pgbench.
SALT=$(python3 -c 'import secrets; print(secrets.token_hex(8))')
fresh_database() {
  psql -Xq "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "DROP DATABASE IF EXISTS $PGB_DB WITH (FORCE)" \
    -c "CREATE DATABASE $DB"
  DATABASE_URL="$PG/$DB" "$BIN" migrate >/dev/null
  DATABASE_URL="$PG/$DB" "$BIN" seed --mains "$FAMILIES" --secondaries "$SECONDARIES" --invoices "$INVOICES" >/dev/null
  DATABASE_URL="$PG/$DB" "$BIN" seed --mains "$STANDALONE" --secondaries 0 --invoices "$INVOICES" >/dev/null
  printf 'bench-password-2026' | DATABASE_URL="$PG/$DB" "$BIN" create-staff --login bench --password-stdin >/dev/null
  q "INSERT INTO users (login_name, login_key, email, password_hash, is_staff, home_account_id, notifications_enabled, created_at, password_changed_at)
     SELECT 'benchowner' || a.id, 'benchowner' || a.id, 'owner' || a.id || '@example.com', s.password_hash, false, a.id, true, now(), now()
       FROM accounts a, users s WHERE s.login_key = 'bench' AND a.parent_id IS NULL AND a.id <= $LAST_FAMILY_ID ORDER BY a.id"
  q "INSERT INTO sessions (user_id, token_hash, created_at, last_seen_at, expires_at)
     SELECT u.id, encode(sha256(convert_to('cnp_bench_${SALT}_' || u.home_account_id, 'UTF8')), 'hex'), now(), now(), now() + interval '7 days'
       FROM users u WHERE u.login_key LIKE 'benchowner%'"
  psql -Xq "$PG/$DB" -c "VACUUM ANALYZE"
  psql -Xq "$PG/postgres" -c "CREATE DATABASE $PGB_DB TEMPLATE $DB"
}

URL="http://127.0.0.1:$PORT/graphql"
start_server() {
  # Rate limits lifted as in run.sh. The proof lockout (5 wrong proofs per target and
  # client in 15 minutes) stays on: a correct proof is not a failure, and the racing
  # links that lose with INVALID_PROOF are few per account; proof_failures is emptied
  # before each phase so that phases do not inherit each other's.
  CANOPY_RATE_PER_CLIENT=1000000 CANOPY_RATE_PER_USER=1000000 RUST_LOG=${RUST_LOG:-warn} DATABASE_URL="$PG/$DB" \
    "$BIN" serve --no-demo --listen "127.0.0.1:$PORT" >> "$OUT/writes-server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 50); do curl -sf "127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
  STAFF=$(curl -sf "$URL" -H 'content-type: application/json' \
    -d '{"query":"mutation { login(input: {loginName: \"bench\", password: \"bench-password-2026\"}) { token } }"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["login"]["token"])')
}

# PostgreSQL on this machine runs with autovacuum off; a deployment's would not. Each
# phase leaves tens of thousands of dead row versions (accounts, invoices, proof
# failures), so every phase is followed by a VACUUM, outside the measured time, here and
# for pgbench alike.
vacuum() { psql -Xq "$PG/$1" -c "VACUUM ANALYZE"; }

drive() { # label phase duration dir: dir/label.json, then the consistency check
  local label=$1 phase=$2 duration=$3 dir=$4
  q "DELETE FROM proof_failures"
  local audit_from payment_from paid_before
  audit_from=$(q "SELECT coalesce(max(id), 0) FROM audit_events")
  payment_from=$(q "SELECT coalesce(max(id), 0) FROM payments")
  paid_before=$(q "SELECT count(*) FROM invoices WHERE status = 'PAID'")
  python3 bench/writes.py --url "$URL" --db "$PG/$DB" --owner-salt "$SALT" --staff-token "$STAFF" \
    --phases "$phase" --duration "$duration" --workers "$WORKERS" --out "$dir/$label.json"
  check "$dir/$label.json" "$audit_from" "$payment_from" "$paid_before"
  vacuum "$DB"
}

check() { # driver-json audit_from payment_from paid_before
  local vars problems
  vars=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
t = r["totals"]
print(t["payment.settled"], t["account.linked"], t["account.detached"], t["invoices_paid"], len(r["violations"]))
for v in r["violations"][:20]:
    print("driver:", v, file=sys.stderr)' "$1")
  read -r settled linked detached invoices_paid driver_violations <<< "$vars"
  problems=$(psql -XAtq -v audit_from="$2" -v payment_from="$3" -v paid_before="$4" -v settled="$settled" \
    -v linked="$linked" -v detached="$detached" -v invoices_paid="$invoices_paid" -f bench/writes_check.sql "$PG/$DB")
  if [ -n "$problems" ] || [ "$driver_violations" != 0 ]; then
    echo "CONSISTENCY CHECK FAILED ($driver_violations idempotency violations seen by the driver):" >&2
    printf '%s\n' "$problems" | head -50 >&2
    exit 1
  fi
  echo "   consistency check passed: $settled payments ($invoices_paid invoices), $linked links, $detached detaches = audit rows; no invoice paid twice, depth one everywhere"
}

: > "$OUT/writes-server.log"
if [ "$CAPTURE" = 1 ]; then
  # One worker, one second of each mutation, with every statement logged.
  echo "== capture: database $DB"
  fresh_database
  psql -Xq "$PG/postgres" -c "ALTER DATABASE $DB SET log_statement = 'all'"
  start_server
  START_LINE=$(($(wc -l < "$PGLOG") + 1))
  for phase in detach link pay; do WORKERS=1 drive "capture-$phase" "$phase" 1 "$TMP"; done
  sleep 1
  tail -n +"$START_LINE" "$PGLOG" | grep -F "@$DB " > "$TMP/statements.log" || true
  python3 bench/writes_report.py --statements "$TMP/statements.log" > "$OUT/writes-statements.md"
  echo "== wrote $OUT/writes-statements.md"
  exit 0
fi

# pgbench: the same transactions as prepared statements at the same concurrency, with
# random ids of the seeded shape. One family owner's session is looked up (the session
# statement costs the same for any row). Appends "run phase tx/s p50_ms p99_ms changes"
# to writes-runs/pgbench.txt, percentiles from pgbench's per-transaction log; changes =
# the audit rows it wrote (the transactions that took the success path).
audit_count() { psql -XAtq "$PG/$PGB_DB" -c "SELECT count(*) FROM audit_events WHERE action IN ('payment.settled', 'account.linked', 'account.detached')"; }
ceiling() { # run phase script[@weight]...
  local run=$1 phase=$2; shift 2
  local files=() before stats owner_uid owner_hash
  for f in "$@"; do files+=(-f "$PWD/bench/$f"); done
  owner_uid=$(psql -XAtq "$PG/$PGB_DB" -c "SELECT id FROM users WHERE login_key = 'benchowner1'")
  owner_hash=$(printf '%s' "cnp_bench_${SALT}_1" | sha256sum | cut -d' ' -f1)
  rm -f "$TMP"/pgb.*
  before=$(audit_count)
  (cd "$TMP" && "$PGBENCH" -n -M prepared -c "$WORKERS" -j 2 -T "$DURATION" -l --log-prefix=pgb \
    -D families="$FAMILIES" -D family_size="$FAMILY_SIZE" -D invoices="$INVOICES" -D offset=$((RANDOM % FAMILIES)) \
    -D last_family_id="$LAST_FAMILY_ID" -D last_account=$((LAST_FAMILY_ID + STANDALONE)) \
    -D uid="$owner_uid" -D hash="$owner_hash" "${files[@]}" "$PG/$PGB_DB" > pgbench.out 2>&1) \
    || { cat "$TMP/pgbench.out" >&2; exit 1; }
  stats=$(python3 bench/writes_report.py --pgbench "$TMP")
  echo "$run $phase $stats $(( $(audit_count) - before ))" | tee -a "$RUNS_DIR/pgbench.txt" | sed 's/^/   pgbench: /'
  vacuum "$PGB_DB"
}

rm -rf "$RUNS_DIR" && mkdir -p "$RUNS_DIR"
for run in $(seq 1 "$RUNS"); do
  echo "== run $run/$RUNS: fresh database $DB: $FAMILIES families of 1 + $SECONDARIES accounts, $STANDALONE standalone accounts, $INVOICES invoices each"
  fresh_database
  start_server
  echo "== run $run/$RUNS: server, $WORKERS connections, ${DURATION}s per phase (after a 3 s warm-up, checked too)"
  drive "warmup$run" mixed 3 "$TMP"
  for phase in detach link pay mixed; do drive "run$run-$phase" "$phase" "$DURATION" "$RUNS_DIR"; done
  stop_server
  echo "== run $run/$RUNS: pgbench, $WORKERS clients, ${DURATION}s per phase, on $PGB_DB (a copy of the fresh database)"
  ceiling "$run" detach writes_detach.sql
  ceiling "$run" link writes_link.sql
  ceiling "$run" pay writes_pay.sql
  ceiling "$run" mixed writes_pay.sql@2 writes_link.sql@1 writes_detach.sql@1
done

grep -E ' (ERROR|WARN) ' "$OUT/writes-server.log" > "$RUNS_DIR/server-warnings.txt" || true
python3 bench/writes_report.py --runs-dir "$RUNS_DIR" --runs "$RUNS" --duration "$DURATION" --workers "$WORKERS" \
  --families "$FAMILIES" --secondaries "$SECONDARIES" --invoices "$INVOICES" --standalone "$STANDALONE" \
  --command "BIN=${BIN} bench/writes.sh  # DURATION=$DURATION RUNS=$RUNS" | tee "$OUT/writes.md"
