-- The statements Canopy issues for one openItems page of a family owner (see
-- open_items.lua): the session with the viewer's grants, the page by due date, the
-- totals, and the accounts of the page.
SELECT s.id, s.created_at, s.last_seen_at, home.id, g.id, g.main_account_id, g.permissions, u.* FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN accounts home ON home.id = u.home_account_id AND home.status = 'ACTIVE' LEFT JOIN group_members gm ON gm.user_id = u.id LEFT JOIN groups g ON g.id = gm.group_id WHERE s.token_hash = :hash AND s.revoked_at IS NULL AND s.expires_at > now();
SELECT * FROM invoices WHERE status = 'OPEN' AND account_id IN (SELECT id FROM accounts WHERE id = :home OR parent_id = :home) ORDER BY due_at ASC, id ASC LIMIT 21;
SELECT currency, CAST(SUM(total_cents) AS BIGINT) AS total FROM invoices WHERE status = 'OPEN' AND account_id IN (SELECT id FROM accounts WHERE id = :home OR parent_id = :home) GROUP BY currency ORDER BY currency;
SELECT * FROM accounts WHERE id IN (SELECT account_id FROM invoices WHERE status = 'OPEN' AND account_id IN (SELECT id FROM accounts WHERE id = :home OR parent_id = :home) ORDER BY due_at, id LIMIT 20);
