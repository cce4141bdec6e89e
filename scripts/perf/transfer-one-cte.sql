\set a random(1, 200)
\set b 1 + (:a + random(0, 198)) % 200
\set amt random(1, 5000)
\set e random(1, 9000000000000000)
WITH
 src AS (UPDATE money_accounts SET wallet_minor = wallet_minor - :amt::bigint WHERE user_id = 'u' || lpad((:a::bigint)::text, 35, '0') AND wallet_minor >= :amt::bigint RETURNING user_id, wallet_minor, vault_minor, line, general_limit_minor, held_minor, principal_minor, fees_minor, late_fees_minor),
 dst AS (UPDATE money_accounts SET wallet_minor = wallet_minor + :amt::bigint WHERE user_id = 'u' || lpad((:b::bigint)::text, 35, '0') AND EXISTS (SELECT 1 FROM src) RETURNING user_id, wallet_minor, vault_minor, line, general_limit_minor, held_minor, principal_minor, fees_minor, late_fees_minor),
 e AS (INSERT INTO journal_entries (id, kind, user_id, created_at) SELECT gen_random_uuid()::text, 'transfer', src.user_id, now() FROM src, dst RETURNING id),
 p AS (INSERT INTO postings (entry_id, account_id, amount_minor) SELECT e.id, x.acc, x.amt FROM e, (VALUES ('u' || lpad((:a::bigint)::text, 35, '0') || chr(58) || 'wallet', -(:amt::bigint)), ('u' || lpad((:b::bigint)::text, 35, '0') || chr(58) || 'wallet', :amt::bigint)) x(acc, amt)),
 m AS (INSERT INTO movements (entry_id, user_id, kind, amount_minor, counterparty, note, created_at, status, wallet_minor, vault_minor, line, general_limit_minor, held_minor, principal_minor, fees_minor, late_fees_minor)
       SELECT e.id, s.user_id, s.kind, :amt::bigint, 'x', NULL, now(), 'active', s.wallet_minor, s.vault_minor, s.line, s.general_limit_minor, s.held_minor, s.principal_minor, s.fees_minor, s.late_fees_minor
       FROM e, (SELECT 'transfer_out' kind, * FROM src UNION ALL SELECT 'transfer_in', * FROM dst) s),
 k AS (INSERT INTO idempotency_keys (user_id, idem_key, request_hash, response_status, response_body, created_at) SELECT src.user_id, md5(random()::text), 'abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcd', 201, repeat('x', 600), now() FROM src, e)
SELECT * FROM src;
