-- detachAccount of a secondary with expectedParentId, as the server runs it (captured
-- with CAPTURE=1 bench/writes.sh; see bench/results/writes-statements.md): the session;
-- then one transaction: the account as it is, the parent and the account locked in id
-- order, the account made standalone (parent, group and billing mode reset, a new token
-- version), the audit event; after the commit, the NOTIFY.
-- Three statements are not the server's: the clock (for the hot set), picking a
-- secondary of the family (the driver knows them from its own state; twice when the
-- family has none left), and, on the locked row, "has it still that parent?" (the
-- server checks that in Rust); when not, the transaction rolls back as the server's
-- STALE_PARENT refusal does.
-- Which family: as in writes.py, half of the transactions go to a hot set of 4 families
-- that moves on every second (offset: random per phase), the rest to any family.
SELECT CAST(floor(extract(epoch FROM clock_timestamp())) AS bigint) AS now_s \gset
\set hot random(0, 1)
\set f (1 - :hot) * random(0, :families - 1) + :hot * ((:offset + :now_s * 4 + random(0, 3)) % :families)
\set fmain :f * :family_size + 1
\set r :fmain + random(1, :family_size - 1)
SELECT "sessions"."id" AS "s_id", "sessions"."created_at" AS "s_created_at", "sessions"."last_seen_at" AS "s_last_seen_at", "home"."id" AS "home_active_id", "groups"."id" AS "g_id", "groups"."main_account_id" AS "g_main_account_id", "groups"."permissions" AS "g_permissions", "users"."id" AS "u_id", "users"."login_name" AS "u_login_name", "users"."login_key" AS "u_login_key", "users"."email" AS "u_email", "users"."password_hash" AS "u_password_hash", "users"."is_staff" AS "u_is_staff", "users"."home_account_id" AS "u_home_account_id", "users"."notifications_enabled" AS "u_notifications_enabled", "users"."created_at" AS "u_created_at", "users"."password_changed_at" AS "u_password_changed_at" FROM "sessions" INNER JOIN "users" ON "users"."id" = "sessions"."user_id" LEFT JOIN "accounts" AS "home" ON "home"."id" = "users"."home_account_id" AND "home"."status" = 'ACTIVE' LEFT JOIN "group_members" ON "group_members"."user_id" = "users"."id" LEFT JOIN "groups" ON "groups"."id" = "group_members"."group_id" WHERE "sessions"."token_hash" = :hash AND "sessions"."revoked_at" IS NULL AND "sessions"."expires_at" > now();
SELECT coalesce(max(id), 0) AS acc, coalesce(max(parent_id), 0) AS parent FROM (SELECT id, parent_id FROM accounts WHERE parent_id = :fmain ORDER BY id < :r, id LIMIT 1) t \gset
\if :acc = 0
-- No secondaries left there (a hot family runs dry within the second): another family,
-- as the driver picks another family.
\set fmain random(0, :families - 1) * :family_size + 1
\set r :fmain + random(1, :family_size - 1)
SELECT coalesce(max(id), 0) AS acc, coalesce(max(parent_id), 0) AS parent FROM (SELECT id, parent_id FROM accounts WHERE parent_id = :fmain ORDER BY id < :r, id LIMIT 1) t \gset
\endif
BEGIN;
SELECT "accounts"."id", "accounts"."customer_number", "accounts"."holder_name", "accounts"."contact_email", "accounts"."friendly_name", "accounts"."parent_id", "accounts"."group_id", "accounts"."status", "accounts"."billing_mode", "accounts"."product_id", "accounts"."token_version", "accounts"."call_forwarding_to", "accounts"."paperless_billing", "accounts"."ebill_notifications", "accounts"."created_at", "accounts"."updated_at" FROM "accounts" WHERE "accounts"."id" = :acc LIMIT 1;
SELECT "accounts"."id", "accounts"."customer_number", "accounts"."holder_name", "accounts"."contact_email", "accounts"."friendly_name", "accounts"."parent_id", "accounts"."group_id", "accounts"."status", "accounts"."billing_mode", "accounts"."product_id", "accounts"."token_version", "accounts"."call_forwarding_to", "accounts"."paperless_billing", "accounts"."ebill_notifications", "accounts"."created_at", "accounts"."updated_at" FROM "accounts" WHERE "accounts"."id" IN (:parent, :acc) ORDER BY "accounts"."id" ASC FOR UPDATE;
SELECT (count(*) = 1)::int AS attached FROM accounts WHERE id = :acc AND parent_id = :parent \gset
\if :attached
UPDATE "accounts" SET "parent_id" = NULL, "group_id" = NULL, "billing_mode" = 'INDIVIDUAL', "token_version" = "token_version" + 1, "updated_at" = now() WHERE "accounts"."id" = :acc RETURNING "id", "customer_number", "holder_name", "contact_email", "friendly_name", "parent_id", "group_id", "status", "billing_mode", "product_id", "token_version", "call_forwarding_to", "paperless_billing", "ebill_notifications", "created_at", "updated_at";
INSERT INTO "audit_events" ("actor_user_id", "action", "subject_type", "subject_id", "family_main_id", "before", "after", "created_at") VALUES (:uid, 'account.detached', 'Account', :acc, :parent, '{"billingMode":"INDIVIDUAL","friendlyName":"Line ' || CAST(:acc AS text) || '","groupId": 1,"parentId":' || CAST(:parent AS text) || ',"status":"ACTIVE"}', '{"billingMode":"INDIVIDUAL","friendlyName":"Line ' || CAST(:acc AS text) || '","groupId": null,"parentId": null,"status":"ACTIVE"}', now()) RETURNING "id", "actor_user_id", "action", "subject_type", "subject_id", "family_main_id", "before", "after", "created_at";
COMMIT;
SELECT pg_notify('canopy_events', '{"TreeChanged":{"kind":"Detached","main_account_id":' || CAST(:parent AS text) || ',"account_id":' || CAST(:acc AS text) || '}}');
\else
ROLLBACK;
\endif
