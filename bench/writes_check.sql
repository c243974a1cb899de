-- The consistency check that ends every run of bench/writes.sh: one row per problem
-- found, none when the data is consistent (writes.sh fails the bench on any row).
--
--   psql -XAt -v audit_from=N -v payment_from=N -v paid_before=N -v settled=N -v linked=N \
--        -v detached=N -v invoices_paid=N -f bench/writes_check.sql DATABASE_URL
--
-- audit_from, payment_from: the largest audit_events.id and payments.id before the run;
-- paid_before: the PAID invoices before it; settled, linked, detached, invoices_paid: what
-- the driver counted (payments that were not replays, successful links and detaches,
-- invoices in those payments). The seed marks every third invoice PAID without a payment
-- (it writes no payments), so "PAID needs exactly one allocation" is asked of invoices
-- paid by a payment or since the seed (paid_at set), and the count of PAID invoices must
-- grow by exactly the invoices the run paid.
\set ON_ERROR_STOP on
WITH run_payments AS (
  SELECT id FROM payments WHERE id > :payment_from
), audit AS (
  SELECT action, count(*) AS n FROM audit_events WHERE id > :audit_from GROUP BY action
), expected(action, n) AS (
  VALUES ('payment.settled', :settled::bigint), ('account.linked', :linked::bigint), ('account.detached', :detached::bigint)
)
-- No invoice paid twice.
SELECT format('invoice %s has %s payment allocations', invoice_id, count(*))
  FROM payment_allocations GROUP BY invoice_id HAVING count(*) > 1
UNION ALL
SELECT format('invoice %s is PAID with %s payment allocations', i.id, count(pa.id))
  FROM invoices i LEFT JOIN payment_allocations pa ON pa.invoice_id = i.id
 WHERE i.status = 'PAID' AND (i.paid_at IS NOT NULL OR pa.id IS NOT NULL)
 GROUP BY i.id HAVING count(pa.id) <> 1
UNION ALL
SELECT format('invoice %s is %s but allocated to payment %s', i.id, i.status, pa.payment_id)
  FROM invoices i JOIN payment_allocations pa ON pa.invoice_id = i.id WHERE i.status <> 'PAID'
UNION ALL
SELECT format('payment %s of %s cents has allocations of %s cents', p.id, p.amount_cents, coalesce(sum(pa.amount_cents), 0))
  FROM payments p LEFT JOIN payment_allocations pa ON pa.payment_id = p.id
 GROUP BY p.id HAVING p.amount_cents <> coalesce(sum(pa.amount_cents), 0)
UNION ALL
SELECT format('%s invoices became PAID during the run, the driver paid %s', count(*) - :paid_before, :invoices_paid)
  FROM invoices WHERE status = 'PAID' HAVING count(*) - :paid_before <> :invoices_paid
UNION ALL
SELECT format('%s allocations belong to payments of this run, the driver paid %s invoices', count(*), :invoices_paid)
  FROM payment_allocations WHERE payment_id IN (SELECT id FROM run_payments) HAVING count(*) <> :invoices_paid
UNION ALL
SELECT format('%s payments were made during the run, the driver counted %s', count(*), :settled)
  FROM run_payments HAVING count(*) <> :settled
UNION ALL
-- No account in two families: depth one, no self-parent, a secondary's group is of its family.
SELECT format('account %s is its own parent', id) FROM accounts WHERE parent_id = id
UNION ALL
SELECT format('account %s has parent %s, which has parent %s', a.id, p.id, p.parent_id)
  FROM accounts a JOIN accounts p ON p.id = a.parent_id WHERE p.parent_id IS NOT NULL
UNION ALL
SELECT format('account %s of family %s is in group %s of family %s', a.id, a.parent_id, g.id, g.main_account_id)
  FROM accounts a JOIN groups g ON g.id = a.group_id WHERE a.parent_id IS NOT NULL AND g.main_account_id <> a.parent_id
UNION ALL
SELECT format('secondary %s has no group', id) FROM accounts WHERE parent_id IS NOT NULL AND group_id IS NULL
UNION ALL
SELECT format('standalone or main account %s is in group %s', id, group_id) FROM accounts WHERE parent_id IS NULL AND group_id IS NOT NULL
UNION ALL
-- Audit rows equal to successful mutations (a replayed payment writes none).
SELECT format('audit %s: %s rows written during the run, the driver counted %s successes', e.action, coalesce(a.n, 0), e.n)
  FROM expected e LEFT JOIN audit a ON a.action = e.action WHERE coalesce(a.n, 0) <> e.n;
