-- The statements Canopy issues for one tree query (see tree.lua), as pgbench runs them:
-- the session, the viewer's groups, a page of 20 mains, then one statement per relation
-- and level. Id lists the server sends literally are produced here by generate_series
-- over the same ids (the bulk data numbers family k as ids 26k+1 .. 26k+26).
\set k random(0, :mains - 21)
\set lo :k * 26 + 1
\set hi :lo + 20 * 26 - 1
SELECT s.*, u.* FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = :hash AND s.revoked_at IS NULL AND s.expires_at > now() LIMIT 1;
SELECT * FROM groups WHERE id IN (SELECT group_id FROM group_members WHERE user_id = :uid);
SELECT * FROM accounts WHERE parent_id IS NULL AND id > :lo - 1 ORDER BY id LIMIT 21;
SELECT parent_id, COUNT(id) AS n FROM accounts WHERE parent_id = ANY(ARRAY(SELECT generate_series(:lo, :hi, 26))) GROUP BY parent_id;
SELECT * FROM groups WHERE id IN (SELECT group_id FROM accounts WHERE id BETWEEN :lo AND :hi);
SELECT account_id, currency, CAST(SUM(total_cents) AS BIGINT) AS total FROM invoices WHERE account_id = ANY(ARRAY(SELECT generate_series(:lo, :hi, 26))) AND status = 'OPEN' GROUP BY account_id, currency;
SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY account_id ORDER BY id DESC) AS canopy_row FROM invoices WHERE account_id = ANY(ARRAY(SELECT generate_series(:lo, :hi, 26))) AND id < 9223372036854775807) AS ranked WHERE canopy_row <= 6 ORDER BY account_id ASC, id DESC;
SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY parent_id ORDER BY id ASC) AS canopy_row FROM accounts WHERE parent_id = ANY(ARRAY(SELECT generate_series(:lo, :hi, 26))) AND id > 0) AS ranked WHERE canopy_row <= 26 ORDER BY parent_id ASC, id ASC;
SELECT account_id, currency, CAST(SUM(total_cents) AS BIGINT) AS total FROM invoices WHERE account_id = ANY(ARRAY(SELECT g FROM generate_series(:lo, :hi) g WHERE (g - 1) % 26 <> 0)) AND status = 'OPEN' GROUP BY account_id, currency;
SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY account_id ORDER BY id DESC) AS canopy_row FROM invoices WHERE account_id = ANY(ARRAY(SELECT g FROM generate_series(:lo, :hi) g WHERE (g - 1) % 26 <> 0)) AND id < 9223372036854775807) AS ranked WHERE canopy_row <= 6 ORDER BY account_id ASC, id DESC;
