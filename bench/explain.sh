#!/usr/bin/env bash
# EXPLAIN ANALYZE of the hot queries on the bench database (run bench/run.sh first).
set -euo pipefail
PG=${PG:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_DB:-canopy_bench}
explain() { echo "### $1"; psql -qAt "$PG/$DB" -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) $2"; echo; }
IDS="ARRAY(SELECT generate_series(26001::bigint, 26520::bigint))"
explain "session with the viewer's grants" "SELECT s.id, u.*, home.id, g.id FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN accounts home ON home.id = u.home_account_id AND home.status = 'ACTIVE' LEFT JOIN group_members gm ON gm.user_id = u.id LEFT JOIN groups g ON g.id = gm.group_id WHERE s.token_hash = 'x' AND s.revoked_at IS NULL AND s.expires_at > now()"
explain "page of 20 mains with the first 25 secondaries of each and their counts" "SELECT * FROM (SELECT accounts.*, (SELECT COUNT(c.id) FROM accounts c WHERE c.parent_id = accounts.id) AS n, 0 AS r FROM accounts WHERE parent_id IS NULL AND id > 26000 ORDER BY id LIMIT 21) p UNION ALL (SELECT * FROM (SELECT accounts.*, 0, ROW_NUMBER() OVER (PARTITION BY parent_id ORDER BY id) AS r FROM accounts WHERE parent_id IN (SELECT id FROM accounts WHERE parent_id IS NULL AND id > 26000 ORDER BY id LIMIT 21)) q WHERE r <= 26)"
explain "groups of 520 accounts" "SELECT * FROM groups WHERE id = ANY(ARRAY(SELECT generate_series(1001::bigint, 1020::bigint)))"
explain "open balances of 520 accounts" "SELECT account_id, currency, SUM(total_cents) FROM invoices WHERE account_id = ANY($IDS) AND status = 'OPEN' GROUP BY account_id, currency"
explain "latest 5 invoices of 520 accounts (LATERAL)" "SELECT i.* FROM unnest($IDS) AS a(id) CROSS JOIN LATERAL (SELECT * FROM invoices i WHERE i.account_id = a.id AND i.id < 9223372036854775807 ORDER BY i.id DESC LIMIT 6) AS i"
explain "open items of a family by due date" "SELECT * FROM invoices WHERE account_id IN (SELECT id FROM accounts WHERE id = 1 OR parent_id = 1) AND status = 'OPEN' ORDER BY due_at, id LIMIT 21"
