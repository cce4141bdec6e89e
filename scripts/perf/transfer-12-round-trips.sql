\set a random(1, 200)
\set b 1 + (:a + random(0, 198)) % 200
\set amt random(1, 5000)
\set e random(1, 9000000000000000)
BEGIN;
SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE user_id = 'u' || lpad((:a::bigint)::text, 35, '0') AND idem_key = md5(random()::text) LIMIT 1;
SELECT id, username, status FROM users WHERE username = 'user_' || (:b::bigint) OR id = 'u' || lpad((:a::bigint)::text, 35, '0');
UPDATE money_accounts SET wallet_minor = wallet_minor - :amt::bigint WHERE user_id = 'u' || lpad((:a::bigint)::text, 35, '0') AND wallet_minor >= :amt::bigint AND EXISTS (SELECT 1 FROM users WHERE id = 'u' || lpad((:a::bigint)::text, 35, '0') AND status = 'active') RETURNING wallet_minor, vault_minor, line, general_limit_minor, held_minor, principal_minor, fees_minor, late_fees_minor, opened_at;
UPDATE money_accounts SET wallet_minor = wallet_minor + :amt::bigint WHERE user_id = 'u' || lpad((:b::bigint)::text, 35, '0') RETURNING wallet_minor, vault_minor, line, general_limit_minor, held_minor, principal_minor, fees_minor, late_fees_minor, opened_at;
INSERT INTO journal_entries (id, kind, user_id, created_at) VALUES ((:e::bigint) || '-' || (:client_id::bigint), 'transfer', 'u' || lpad((:a::bigint)::text, 35, '0'), now());
INSERT INTO postings (entry_id, account_id, amount_minor) VALUES ((:e::bigint) || '-' || (:client_id::bigint), 'u' || lpad((:a::bigint)::text, 35, '0') || chr(58) || 'wallet', -(:amt::bigint)), ((:e::bigint) || '-' || (:client_id::bigint), 'u' || lpad((:b::bigint)::text, 35, '0') || chr(58) || 'wallet', :amt::bigint);
SELECT m.wallet_minor, m.vault_minor, m.line, u.status, EXISTS (SELECT 1 FROM installments i WHERE i.user_id = m.user_id AND i.state = 'overdue') FROM money_accounts m JOIN users u ON u.id = m.user_id WHERE m.user_id = 'u' || lpad((:a::bigint)::text, 35, '0');
INSERT INTO movements (entry_id, user_id, kind, amount_minor, counterparty, note, created_at, status, wallet_minor, vault_minor, line, general_limit_minor, held_minor, principal_minor, fees_minor, late_fees_minor) VALUES ((:e::bigint) || '-' || (:client_id::bigint), 'u' || lpad((:a::bigint)::text, 35, '0'), 'transfer_out', :amt::bigint, 'x', NULL, now(), 'active', 1, 0, 'secured', 0,0,0,0,0);
SELECT m.wallet_minor, m.vault_minor, m.line, u.status, EXISTS (SELECT 1 FROM installments i WHERE i.user_id = m.user_id AND i.state = 'overdue') FROM money_accounts m JOIN users u ON u.id = m.user_id WHERE m.user_id = 'u' || lpad((:b::bigint)::text, 35, '0');
INSERT INTO movements (entry_id, user_id, kind, amount_minor, counterparty, note, created_at, status, wallet_minor, vault_minor, line, general_limit_minor, held_minor, principal_minor, fees_minor, late_fees_minor) VALUES ((:e::bigint) || '-' || (:client_id::bigint), 'u' || lpad((:b::bigint)::text, 35, '0'), 'transfer_in', :amt::bigint, 'x', NULL, now(), 'active', 1, 0, 'secured', 0,0,0,0,0);
INSERT INTO idempotency_keys (user_id, idem_key, request_hash, response_status, response_body, created_at) VALUES ('u' || lpad((:a::bigint)::text, 35, '0'), md5(random()::text), 'abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcd', 201, repeat('x', 600), now());
END;
