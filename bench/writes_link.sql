-- linkAccount with an enrollment-token proof of a standalone account into a random
-- family's main, as the server runs it (captured with CAPTURE=1 bench/writes.sh; see
-- bench/results/writes-statements.md): the session; the main (may the viewer manage
-- it?); the proof attempt counted in a transaction of its own (advisory lock on the
-- target, failures of this client, the target's recent failures, the attempt row); the
-- account by customer number; the attempt removed again (a right proof is no failure);
-- then the attach: both rows locked in id order, "has it secondaries?", the Default
-- Group, the token version bumped, the account attached, the audit event; after the
-- commit, the NOTIFY that carries the event to every replica. The HMAC check of the token
-- runs in Rust and costs the database nothing.
-- Three statements are not the server's: the clock (for the hot set), picking a standalone account that is not a
-- family's main (the driver knows them from its own state), and, on the locked row,
-- "is it still standalone?" (the server checks that in Rust); when it is not, the
-- transaction rolls back as the server's ALREADY_ATTACHED refusal does.
-- Which family: as in writes.py, half of the transactions go to a hot set of 4 families
-- that moves on every second (offset: random per phase), the rest to any family.
SELECT CAST(floor(extract(epoch FROM clock_timestamp())) AS bigint) AS now_s \gset
\set hot random(0, 1)
\set f (1 - :hot) * random(0, :families - 1) + :hot * ((:offset + :now_s * 4 + random(0, 3)) % :families)
\set fmain :f * :family_size + 1
\set main :fmain
\set r random(1, :last_account)
SELECT "sessions"."id" AS "s_id", "sessions"."created_at" AS "s_created_at", "sessions"."last_seen_at" AS "s_last_seen_at", "home"."id" AS "home_active_id", "groups"."id" AS "g_id", "groups"."main_account_id" AS "g_main_account_id", "groups"."permissions" AS "g_permissions", "users"."id" AS "u_id", "users"."login_name" AS "u_login_name", "users"."login_key" AS "u_login_key", "users"."email" AS "u_email", "users"."password_hash" AS "u_password_hash", "users"."is_staff" AS "u_is_staff", "users"."home_account_id" AS "u_home_account_id", "users"."notifications_enabled" AS "u_notifications_enabled", "users"."created_at" AS "u_created_at", "users"."password_changed_at" AS "u_password_changed_at" FROM "sessions" INNER JOIN "users" ON "users"."id" = "sessions"."user_id" LEFT JOIN "accounts" AS "home" ON "home"."id" = "users"."home_account_id" AND "home"."status" = 'ACTIVE' LEFT JOIN "group_members" ON "group_members"."user_id" = "users"."id" LEFT JOIN "groups" ON "groups"."id" = "group_members"."group_id" WHERE "sessions"."token_hash" = :hash AND "sessions"."revoked_at" IS NULL AND "sessions"."expires_at" > now();
SELECT "accounts"."id", "accounts"."customer_number", "accounts"."holder_name", "accounts"."contact_email", "accounts"."friendly_name", "accounts"."parent_id", "accounts"."group_id", "accounts"."status", "accounts"."billing_mode", "accounts"."product_id", "accounts"."token_version", "accounts"."call_forwarding_to", "accounts"."paperless_billing", "accounts"."ebill_notifications", "accounts"."created_at", "accounts"."updated_at" FROM "accounts" WHERE "accounts"."id" = :main LIMIT 1;
SELECT coalesce(min(id), 0) AS target FROM (SELECT id FROM accounts WHERE id >= :r AND parent_id IS NULL AND status = 'ACTIVE' AND (id > :last_family_id OR (id - 1) % :family_size <> 0) ORDER BY id LIMIT 1) t \gset
\set number 9000000000 + :target
BEGIN;
SELECT pg_advisory_xact_lock(hashtextextended('customer:' || CAST(:number AS text), 0));
SELECT COUNT(*) AS num_items FROM (SELECT "proof_failures"."id", "proof_failures"."target_key", "proof_failures"."client_key", "proof_failures"."created_at" FROM "proof_failures" WHERE "proof_failures"."target_key" = 'customer:' || CAST(:number AS text) AND "proof_failures"."client_key" = '127.0.0.1' AND "proof_failures"."created_at" > now() - interval '15 minutes') AS "sub_query";
SELECT "proof_failures"."id", "proof_failures"."target_key", "proof_failures"."client_key", "proof_failures"."created_at" FROM "proof_failures" WHERE "proof_failures"."target_key" = 'customer:' || CAST(:number AS text) AND "proof_failures"."created_at" > now() - interval '15 minutes' ORDER BY "proof_failures"."created_at" DESC LIMIT 20;
INSERT INTO "proof_failures" ("target_key", "client_key", "created_at") VALUES ('customer:' || CAST(:number AS text), '127.0.0.1', now()) RETURNING "id", "target_key", "client_key", "created_at" \gset pf_
COMMIT;
SELECT "accounts"."id", "accounts"."customer_number", "accounts"."holder_name", "accounts"."contact_email", "accounts"."friendly_name", "accounts"."parent_id", "accounts"."group_id", "accounts"."status", "accounts"."billing_mode", "accounts"."product_id", "accounts"."token_version", "accounts"."call_forwarding_to", "accounts"."paperless_billing", "accounts"."ebill_notifications", "accounts"."created_at", "accounts"."updated_at" FROM "accounts" WHERE "accounts"."customer_number" = CAST(:number AS text) LIMIT 1;
DELETE FROM "proof_failures" WHERE "proof_failures"."id" = :pf_id;
BEGIN;
SELECT "accounts"."id", "accounts"."customer_number", "accounts"."holder_name", "accounts"."contact_email", "accounts"."friendly_name", "accounts"."parent_id", "accounts"."group_id", "accounts"."status", "accounts"."billing_mode", "accounts"."product_id", "accounts"."token_version", "accounts"."call_forwarding_to", "accounts"."paperless_billing", "accounts"."ebill_notifications", "accounts"."created_at", "accounts"."updated_at" FROM "accounts" WHERE "accounts"."id" IN (:main, :target) ORDER BY "accounts"."id" ASC FOR UPDATE;
SELECT (count(*) = 1)::int AS free FROM accounts WHERE id = :target AND parent_id IS NULL AND id <> :main \gset
\if :free
SELECT COUNT(*) AS num_items FROM (SELECT "accounts"."id", "accounts"."customer_number", "accounts"."holder_name", "accounts"."contact_email", "accounts"."friendly_name", "accounts"."parent_id", "accounts"."group_id", "accounts"."status", "accounts"."billing_mode", "accounts"."product_id", "accounts"."token_version", "accounts"."call_forwarding_to", "accounts"."paperless_billing", "accounts"."ebill_notifications", "accounts"."created_at", "accounts"."updated_at" FROM "accounts" WHERE "accounts"."parent_id" = :target) AS "sub_query";
SELECT "groups"."id", "groups"."main_account_id", "groups"."name", "groups"."is_default", "groups"."permissions", "groups"."created_at" FROM "groups" WHERE "groups"."main_account_id" = :main AND "groups"."is_default" = true LIMIT 1 \gset grp_
UPDATE "accounts" SET "token_version" = "token_version" + 1, "updated_at" = now() WHERE "accounts"."id" = :target RETURNING "id", "customer_number", "holder_name", "contact_email", "friendly_name", "parent_id", "group_id", "status", "billing_mode", "product_id", "token_version", "call_forwarding_to", "paperless_billing", "ebill_notifications", "created_at", "updated_at";
UPDATE "accounts" SET "friendly_name" = 'Linked ' || CAST(:target AS text), "parent_id" = :main, "group_id" = :grp_id, "updated_at" = now() WHERE "accounts"."id" = :target RETURNING "id", "customer_number", "holder_name", "contact_email", "friendly_name", "parent_id", "group_id", "status", "billing_mode", "product_id", "token_version", "call_forwarding_to", "paperless_billing", "ebill_notifications", "created_at", "updated_at";
INSERT INTO "audit_events" ("actor_user_id", "action", "subject_type", "subject_id", "family_main_id", "before", "after", "created_at") VALUES (:uid, 'account.linked', 'Account', :target, :main, '{"billingMode":"INDIVIDUAL","friendlyName": null,"groupId": null,"parentId": null,"status":"ACTIVE"}', '{"billingMode":"INDIVIDUAL","friendlyName":"Linked ' || CAST(:target AS text) || '","groupId":' || CAST(:grp_id AS text) || ',"parentId":' || CAST(:main AS text) || ',"status":"ACTIVE"}', now()) RETURNING "id", "actor_user_id", "action", "subject_type", "subject_id", "family_main_id", "before", "after", "created_at";
COMMIT;
SELECT pg_notify('canopy_events', '{"TreeChanged":{"kind":"Attached","main_account_id":' || CAST(:main AS text) || ',"account_id":' || CAST(:target AS text) || '}}');
\else
ROLLBACK;
\endif
