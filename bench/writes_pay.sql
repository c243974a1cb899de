-- payInvoices of two open invoices of one account, as the server runs it (captured with
-- CAPTURE=1 bench/writes.sh; see bench/results/writes-statements.md): the session, then
-- one transaction: the idempotency key, the row locks (collective invoices, none here;
-- the invoices in id order), the key again, the accounts, the payment, its allocations,
-- the invoices marked PAID, the audit event.
-- Three statements are not the server's: the clock (for the hot set), picking the first
-- two open invoices of a random account of the family (the driver knows them from its
-- own state; twice when that account has fewer than two left), and, on the locked rows, "are both still open?" (the server checks that
-- in Rust); when not, the transaction rolls back as the server's ALREADY_PAID refusal does.
-- Which family: as in writes.py, half of the transactions go to a hot set of 4 families
-- that moves on every second (offset: random per phase), the rest to any family.
SELECT CAST(floor(extract(epoch FROM clock_timestamp())) AS bigint) AS now_s \gset
\set hot random(0, 1)
\set f (1 - :hot) * random(0, :families - 1) + :hot * ((:offset + :now_s * 4 + random(0, 3)) % :families)
\set fmain :f * :family_size + 1
\set acc :fmain + random(0, :family_size - 1)
\set key random(1, 9000000000000000)
SELECT "sessions"."id" AS "s_id", "sessions"."created_at" AS "s_created_at", "sessions"."last_seen_at" AS "s_last_seen_at", "home"."id" AS "home_active_id", "groups"."id" AS "g_id", "groups"."main_account_id" AS "g_main_account_id", "groups"."permissions" AS "g_permissions", "users"."id" AS "u_id", "users"."login_name" AS "u_login_name", "users"."login_key" AS "u_login_key", "users"."email" AS "u_email", "users"."password_hash" AS "u_password_hash", "users"."is_staff" AS "u_is_staff", "users"."home_account_id" AS "u_home_account_id", "users"."notifications_enabled" AS "u_notifications_enabled", "users"."created_at" AS "u_created_at", "users"."password_changed_at" AS "u_password_changed_at" FROM "sessions" INNER JOIN "users" ON "users"."id" = "sessions"."user_id" LEFT JOIN "accounts" AS "home" ON "home"."id" = "users"."home_account_id" AND "home"."status" = 'ACTIVE' LEFT JOIN "group_members" ON "group_members"."user_id" = "users"."id" LEFT JOIN "groups" ON "groups"."id" = "group_members"."group_id" WHERE "sessions"."token_hash" = :hash AND "sessions"."revoked_at" IS NULL AND "sessions"."expires_at" > now();
SELECT coalesce(min(id), 0) AS inv1, coalesce(max(id), 0) AS inv2, coalesce(min(total_cents), 0) AS cents1, coalesce(max(total_cents), 0) AS cents2 FROM (SELECT id, total_cents FROM invoices WHERE account_id = :acc AND status = 'OPEN' AND collective_invoice_id IS NULL ORDER BY id LIMIT 2) t \gset
\if :inv1 = :inv2
-- Fewer than two open invoices there (a hot family runs dry within the second): another
-- family's account, as the driver picks another family.
\set fmain random(0, :families - 1) * :family_size + 1
\set acc :fmain + random(0, :family_size - 1)
SELECT coalesce(min(id), 0) AS inv1, coalesce(max(id), 0) AS inv2, coalesce(min(total_cents), 0) AS cents1, coalesce(max(total_cents), 0) AS cents2 FROM (SELECT id, total_cents FROM invoices WHERE account_id = :acc AND status = 'OPEN' AND collective_invoice_id IS NULL ORDER BY id LIMIT 2) t \gset
\endif
\set amount :cents1 + :cents2
BEGIN;
SELECT "payments"."id", "payments"."user_id", "payments"."idempotency_key", "payments"."request_fingerprint", "payments"."amount_cents", "payments"."currency", "payments"."method", "payments"."status", "payments"."created_at" FROM "payments" WHERE "payments"."user_id" = :uid AND "payments"."idempotency_key" = 'pgbench-' || CAST(:key AS text) LIMIT 1;
SELECT "collective_invoices"."id", "collective_invoices"."number", "collective_invoices"."main_account_id", "collective_invoices"."period_start", "collective_invoices"."period_end", "collective_invoices"."currency", "collective_invoices"."total_cents", "collective_invoices"."status", "collective_invoices"."created_at", "collective_invoices"."paid_at" FROM "collective_invoices" WHERE 1 = 2 ORDER BY "collective_invoices"."id" ASC FOR UPDATE;
SELECT "invoices"."id", "invoices"."number", "invoices"."account_id", "invoices"."status", "invoices"."currency", "invoices"."total_cents", "invoices"."issued_at", "invoices"."due_at", "invoices"."collective_invoice_id", "invoices"."paid_at" FROM "invoices" WHERE "invoices"."id" IN (:inv1, :inv2) OR 1 = 2 ORDER BY "invoices"."id" ASC FOR UPDATE;
SELECT (count(*) = 2)::int AS open FROM invoices WHERE id IN (:inv1, :inv2) AND status = 'OPEN' AND collective_invoice_id IS NULL \gset
\if :open
SELECT "payments"."id", "payments"."user_id", "payments"."idempotency_key", "payments"."request_fingerprint", "payments"."amount_cents", "payments"."currency", "payments"."method", "payments"."status", "payments"."created_at" FROM "payments" WHERE "payments"."user_id" = :uid AND "payments"."idempotency_key" = 'pgbench-' || CAST(:key AS text) LIMIT 1;
SELECT "accounts"."id", "accounts"."customer_number", "accounts"."holder_name", "accounts"."contact_email", "accounts"."friendly_name", "accounts"."parent_id", "accounts"."group_id", "accounts"."status", "accounts"."billing_mode", "accounts"."product_id", "accounts"."token_version", "accounts"."call_forwarding_to", "accounts"."paperless_billing", "accounts"."ebill_notifications", "accounts"."created_at", "accounts"."updated_at" FROM "accounts" WHERE "accounts"."id" IN (:acc);
INSERT INTO "payments" ("user_id", "idempotency_key", "request_fingerprint", "amount_cents", "currency", "method", "status", "created_at") VALUES (:uid, 'pgbench-' || CAST(:key AS text), '6f2ec1095ae94eefcb6b89ad787cb31f57ed9cf23bb7b117f3b536921bf6d8d8', :amount, 'EUR', 'CARD', 'SETTLED', now()) RETURNING "id", "user_id", "idempotency_key", "request_fingerprint", "amount_cents", "currency", "method", "status", "created_at" \gset pay_
INSERT INTO "payment_allocations" ("payment_id", "invoice_id", "amount_cents") VALUES (:pay_id, :inv1, :cents1), (:pay_id, :inv2, :cents2) RETURNING "id";
UPDATE "invoices" SET "status" = 'PAID', "paid_at" = now() WHERE "invoices"."id" IN (:inv1, :inv2);
INSERT INTO "audit_events" ("actor_user_id", "action", "subject_type", "subject_id", "family_main_id", "before", "after", "created_at") VALUES (:uid, 'payment.settled', 'Payment', :pay_id, :fmain, NULL, '{"amountCents":' || CAST(:amount AS text) || ',"collectiveInvoiceIds":[],"currency":"EUR","invoiceIds":[' || CAST(:inv1 AS text) || ',' || CAST(:inv2 AS text) || '],"method":"CARD"}', now()) RETURNING "id", "actor_user_id", "action", "subject_type", "subject_id", "family_main_id", "before", "after", "created_at";
COMMIT;
\else
ROLLBACK;
\endif
