-- The statements Canopy issues for one openItems page of a family owner (see
-- open_items.lua): the session with the viewer's grants, the page by due date with each
-- invoice's account (a join), and the totals.
SELECT s.id, s.created_at, s.last_seen_at, home.id, g.id, g.main_account_id, g.permissions, u.* FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN accounts home ON home.id = u.home_account_id AND home.status = 'ACTIVE' LEFT JOIN group_members gm ON gm.user_id = u.id LEFT JOIN groups g ON g.id = gm.group_id WHERE s.token_hash = :hash AND s.revoked_at IS NULL AND s.expires_at > now();
SELECT i.id, i.number, i.account_id, i.status, i.currency, i.total_cents, i.issued_at, i.due_at, i.collective_invoice_id, i.paid_at, a.* FROM invoices i JOIN accounts a ON a.id = i.account_id WHERE i.status = 'OPEN' AND i.account_id IN (SELECT id FROM accounts WHERE id = :home OR parent_id = :home) ORDER BY i.due_at ASC, i.id ASC LIMIT 21;
SELECT currency, CAST(SUM(total_cents) AS BIGINT) AS total FROM invoices WHERE status = 'OPEN' AND account_id IN (SELECT id FROM accounts WHERE id = :home OR parent_id = :home) GROUP BY currency ORDER BY currency;
