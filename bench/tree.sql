-- The statements Canopy issues for one tree query (see tree.lua), as pgbench runs them:
-- the session with the viewer's grants; the page of 20 mains with the first 25
-- secondaries of each and their counts; then one statement per relation for all 520
-- accounts: groups, open balances, latest invoices. Id arrays the server sends as one
-- parameter are built here with generate_series over the same ids (the bulk data numbers
-- family k as ids 26k+1 .. 26k+26, and its default group k+1).
\set k random(0, :mains - 21)
\set lo :k * 26 + 1
\set hi :lo + 20 * 26 - 1
SELECT s.id, s.created_at, s.last_seen_at, home.id, g.id, g.main_account_id, g.permissions, u.* FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN accounts home ON home.id = u.home_account_id AND home.status = 'ACTIVE' LEFT JOIN group_members gm ON gm.user_id = u.id LEFT JOIN groups g ON g.id = gm.group_id WHERE s.token_hash = :hash AND s.revoked_at IS NULL AND s.expires_at > now();
SELECT * FROM (SELECT accounts.*, (SELECT COUNT(c.id) FROM accounts c WHERE c.parent_id = accounts.id) AS canopy_secondaries, 0 AS canopy_row FROM accounts WHERE TRUE AND parent_id IS NULL AND id > CAST(:lo AS BIGINT) - 1 ORDER BY id LIMIT 21) AS canopy_page UNION ALL (SELECT * FROM (SELECT accounts.*, 0 AS canopy_secondaries, ROW_NUMBER() OVER (PARTITION BY parent_id ORDER BY id) AS canopy_row FROM accounts WHERE parent_id IN (SELECT id FROM accounts WHERE TRUE AND parent_id IS NULL AND id > CAST(:lo AS BIGINT) - 1 ORDER BY id LIMIT 21)) AS canopy_ranked WHERE canopy_row <= 26);
SELECT * FROM groups WHERE id = ANY(ARRAY(SELECT generate_series(CAST(:k AS BIGINT) + 1, CAST(:k AS BIGINT) + 20)));
SELECT account_id, currency, CAST(SUM(total_cents) AS BIGINT) AS total FROM invoices WHERE account_id = ANY(ARRAY(SELECT generate_series(CAST(:lo AS BIGINT), CAST(:hi AS BIGINT)))) AND status = 'OPEN' GROUP BY account_id, currency;
SELECT i.* FROM unnest(ARRAY(SELECT generate_series(CAST(:lo AS BIGINT), CAST(:hi AS BIGINT)))) AS a(id) CROSS JOIN LATERAL (SELECT * FROM invoices i WHERE i.account_id = a.id AND i.id < 9223372036854775807 ORDER BY i.id DESC LIMIT 6) AS i;
