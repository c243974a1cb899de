-- The statements Canopy issues for one openItems page as staff (see open_items.lua).
SELECT s.*, u.* FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = :'hash' AND s.revoked_at IS NULL AND s.expires_at > now() LIMIT 1;
SELECT * FROM groups WHERE id IN (SELECT group_id FROM group_members WHERE user_id = :uid);
SELECT * FROM invoices WHERE status = 'OPEN' ORDER BY due_at ASC, id ASC LIMIT 21;
SELECT currency, CAST(SUM(total_cents) AS BIGINT) AS total FROM invoices WHERE status = 'OPEN' GROUP BY currency;
SELECT * FROM accounts WHERE id = ANY(ARRAY(SELECT account_id FROM invoices WHERE status = 'OPEN' ORDER BY due_at, id LIMIT 20));
