-- The statements Canopy issues for one openItems page of a family owner (see
-- open_items.lua): the session, the viewer's home account and groups, the page by due
-- date, the totals, and the accounts of the page.
SELECT s.*, u.* FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = :hash AND s.revoked_at IS NULL AND s.expires_at > now() LIMIT 1;
SELECT * FROM accounts WHERE id = :home AND status = 'ACTIVE';
SELECT * FROM groups WHERE id IN (SELECT group_id FROM group_members WHERE user_id = :uid);
SELECT * FROM invoices WHERE status = 'OPEN' AND account_id IN (SELECT id FROM accounts WHERE id = :home OR parent_id = :home) ORDER BY due_at ASC, id ASC LIMIT 21;
SELECT currency, CAST(SUM(total_cents) AS BIGINT) AS total FROM invoices WHERE status = 'OPEN' AND account_id IN (SELECT id FROM accounts WHERE id = :home OR parent_id = :home) GROUP BY currency ORDER BY currency;
SELECT * FROM accounts WHERE id IN (SELECT account_id FROM invoices WHERE status = 'OPEN' AND account_id IN (SELECT id FROM accounts WHERE id = :home OR parent_id = :home) ORDER BY due_at, id LIMIT 20);
