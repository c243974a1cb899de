#!/usr/bin/env bash
# Events across replicas (issue 18, item 4). One PostgreSQL database, two `canopy serve`
# processes on two ports, SUBSCRIBERS graphql-transport-ws sockets split evenly between
# them, each a user of its own (a member of one family's Default Group, signed in with a
# session of its own) subscribed to that family's `accountTreeChanged`. The family's
# owner then renames a secondary through the first server EVENTS times, PAUSE seconds
# apart (each a RENAMED event that reaches the second server by LISTEN/NOTIFY), and
# bench/events.py measures when every socket receives each event, each server's memory
# per open socket, and the CPU the deliveries cost (every delivery checks the
# subscriber's session again). Writes bench/results/events.md.
#
#   BIN=path/to/canopy bench/events.sh        # a prebuilt binary; about a minute
#   bench/events.sh                                   # builds target/release/canopy first
#   SUBSCRIBERS=2000 EVENTS=50 bench/events.sh
#
# Needs PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres), psql, python3 (installs
# the `websockets` package with pip if missing). Uses (drops and recreates) the database
# canopy_bench_events.
set -euo pipefail
cd "$(dirname "$0")/.."

PG=${PG:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_DB:-canopy_bench_events}
SUBSCRIBERS=${SUBSCRIBERS:-1000}
EVENTS=${EVENTS:-20}
PAUSE=${PAUSE:-1}
PORT=${PORT:-18131}
PORT2=$((PORT + 1))
OUT=bench/results
mkdir -p "$OUT/events-runs"
TMP=$(mktemp -d)
python3 -c 'import websockets' 2>/dev/null || python3 -m pip install -q 'websockets>=13'
# Each socket is a file descriptor in the driver and in a server: raise the soft limit.
HARD=$(ulimit -Hn)
if [ "$HARD" = unlimited ] || [ "$HARD" -ge 65536 ]; then ulimit -n 65536; else ulimit -n "$HARD"; fi

if [ -z "${BIN:-}" ]; then
  echo "== build"
  cargo build --release --quiet
  BIN=target/release/canopy
fi

SERVERS=()
cleanup() {
  for pid in "${SERVERS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
q() { psql -XAtq "$PG/$DB" -c "$1"; }

echo "== database $DB"
psql -Xq "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
export DATABASE_URL="$PG/$DB" CANOPY_SECRET=bench-secret-bench-secret-bench-secret
"$BIN" migrate
"$BIN" seed --mains 1000 --secondaries 5 --invoices 2
printf 'bench-password-2026' | "$BIN" create-staff --login bench --password-stdin >/dev/null
# Family 1 (main account 1, secondaries 2..6): its owner makes the changes; SUBSCRIBERS
# users in its Default Group watch it. Sessions inserted directly (token
# cnp_bench_<salt>_<user id>, stored as its SHA-256 hex as open_session stores it), which
# skips an argon2 hash per user.
MAIN=1
ACCOUNT=2
SALT=$(python3 -c 'import secrets; print(secrets.token_hex(8))')
q "INSERT INTO users (login_name, login_key, email, password_hash, is_staff, home_account_id, notifications_enabled, created_at, password_changed_at)
   SELECT 'benchowner', 'benchowner', 'owner@example.com', password_hash, false, $MAIN, true, now(), now() FROM users WHERE login_key = 'bench'"
q "INSERT INTO users (login_name, login_key, email, password_hash, is_staff, home_account_id, notifications_enabled, created_at, password_changed_at)
   SELECT 'watcher' || g, 'watcher' || g, 'watcher' || g || '@example.com', password_hash, false, NULL, false, now(), now()
     FROM users, generate_series(1, $SUBSCRIBERS) g WHERE login_key = 'bench'"
q "INSERT INTO group_members (group_id, user_id, created_at)
   SELECT g.id, u.id, now() FROM groups g, users u WHERE g.main_account_id = $MAIN AND g.is_default AND u.login_key LIKE 'watcher%'"
q "INSERT INTO sessions (user_id, token_hash, created_at, last_seen_at, expires_at)
   SELECT id, encode(sha256(convert_to('cnp_bench_${SALT}_' || id, 'UTF8')), 'hex'), now(), now(), now() + interval '7 days'
     FROM users WHERE login_key = 'benchowner' OR login_key LIKE 'watcher%'"
q "SELECT 'cnp_bench_${SALT}_' || id FROM users WHERE login_key LIKE 'watcher%' ORDER BY id" > "$TMP/tokens"
OWNER_TOKEN=cnp_bench_${SALT}_$(q "SELECT id FROM users WHERE login_key = 'benchowner'")
psql -Xq "$PG/$DB" -c "VACUUM ANALYZE"

echo "== two servers on :$PORT and :$PORT2"
for port in "$PORT" "$PORT2"; do
  CANOPY_RATE_PER_CLIENT=1000000 CANOPY_RATE_PER_USER=1000000 RUST_LOG=${RUST_LOG:-warn} \
    "$BIN" serve --no-demo --listen "127.0.0.1:$port" > "$OUT/events-server-$port.log" 2>&1 &
  SERVERS+=($!)
done
for port in "$PORT" "$PORT2"; do
  for _ in $(seq 1 50); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
done

echo "== $SUBSCRIBERS subscribers, $EVENTS events ${PAUSE}s apart"
python3 bench/events.py drive --http "http://127.0.0.1:$PORT/graphql" \
  --ws "ws://127.0.0.1:$PORT/graphql,ws://127.0.0.1:$PORT2/graphql" --pids "${SERVERS[0]},${SERVERS[1]}" \
  --db "$PG/$DB" --tokens "$TMP/tokens" --owner-token "$OWNER_TOKEN" --main-id "$MAIN" --account-id "$ACCOUNT" \
  --events "$EVENTS" --pause "$PAUSE" --out "$OUT/events-runs/latest.json"
# The database's share of a delivery: its two statements under pgbench, as many clients
# as the two servers' pools have connections (8 each on 2 cores).
PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | tail -1)
read -r FIRST_SID LAST_SID < <(q "SELECT min(s.id), max(s.id) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.login_key LIKE 'watcher%'" | tr '|' ' ')
"$PGBENCH" -n -M prepared -c 16 -j 2 -T 10 -D first_sid="$FIRST_SID" -D last_sid="$LAST_SID" -D main="$MAIN" -D account="$ACCOUNT" \
  -f bench/events_delivery.sql "$PG/$DB" 2>&1 | python3 -c '
import re, sys
out = sys.stdin.read()
m = re.search(r"tps = ([\d.]+)", out)
lat = re.search(r"latency average = ([\d.]+) ms", out)
if not m:
    sys.exit("pgbench failed:\n" + out)
print(m.group(1), lat.group(1) if lat else "", "")' > "$OUT/events-runs/pgbench.txt"
cat "$OUT"/events-server-*.log | grep -E ' (ERROR|WARN) ' > "$OUT/events-runs/server-warnings.txt" || true
python3 bench/events.py report --json "$OUT/events-runs/latest.json" --warnings "$OUT/events-runs/server-warnings.txt" \
  --pgbench "$OUT/events-runs/pgbench.txt" \
  --command "BIN=${BIN} bench/events.sh  # SUBSCRIBERS=$SUBSCRIBERS EVENTS=$EVENTS PAUSE=$PAUSE" | tee "$OUT/events.md"
python3 - "$OUT/events-runs/latest.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
if r["deliveries_missing"] or r["deliveries_received"] != r["deliveries_expected"]:
    sys.exit(f"EVENTS BENCH FAILED: {r['deliveries_received']} of {r['deliveries_expected']} deliveries arrived")
EOF
