#!/usr/bin/env bash
# EXPLAIN ANALYZE of the hot queries on the bench database (run bench/run.sh first).
set -euo pipefail
PG=${PG:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_DB:-canopy_bench}
explain() { echo "### $1"; psql -qAt "$PG/$DB" -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) $2"; echo; }
explain "page of main accounts (viewer.accounts topLevel)" "SELECT * FROM accounts WHERE parent_id IS NULL AND id > 26000 ORDER BY id LIMIT 21"
explain "secondaries of 20 mains (window)" "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY parent_id ORDER BY id) AS r FROM accounts WHERE parent_id IN (26001,26027,26053,26079,26105,26131,26157,26183,26209,26235,26261,26287,26313,26339,26365,26391,26417,26443,26469,26495)) t WHERE r <= 26"
explain "latest 5 invoices of 20 accounts (window)" "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY account_id ORDER BY id DESC) AS r FROM invoices WHERE account_id IN (26001,26002,26003,26004,26005,26006,26007,26008,26009,26010,26011,26012,26013,26014,26015,26016,26017,26018,26019,26020)) t WHERE r <= 6"
explain "open balance of 20 accounts" "SELECT account_id, currency, SUM(total_cents) FROM invoices WHERE account_id IN (26001,26002,26003,26004,26005,26006,26007,26008,26009,26010,26011,26012,26013,26014,26015,26016,26017,26018,26019,26020) AND status = 'OPEN' GROUP BY account_id, currency"
explain "role counts" "SELECT parent_id, COUNT(id) FROM accounts WHERE parent_id IN (26001,26027,26053,26079,26105) GROUP BY parent_id"
explain "open items of a family by due date" "SELECT * FROM invoices WHERE account_id IN (SELECT id FROM accounts WHERE id = 1 OR parent_id = 1) AND status = 'OPEN' ORDER BY due_at, id LIMIT 21"
