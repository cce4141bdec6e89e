-- Checks the database against what the drill client saw. scripts/ha/verify.sh first loads
-- the client's files into temp tables acked (username, idem_key, kind, amount) and expected
-- (username, wallet, vault, held, principal). Each line prints `name|count`; all must be 0.
CREATE TEMP TABLE keys AS
  SELECT u.username, k.idem_key, k.entry_id FROM idempotency_keys k JOIN users u ON u.id = k.user_id
   WHERE u.username IN (SELECT username FROM expected);

-- Present: every acknowledged operation left its key (written in its own transaction).
SELECT 'acknowledged_but_missing', count(*) FROM acked a
 WHERE NOT EXISTS (SELECT 1 FROM keys k WHERE k.username = a.username AND k.idem_key = a.idem_key);
-- Nothing unacknowledged applied: every stored key is one the client saw acknowledged.
SELECT 'applied_but_not_acknowledged', count(*) FROM keys k
 WHERE NOT EXISTS (SELECT 1 FROM acked a WHERE k.username = a.username AND k.idem_key = a.idem_key);
-- Exactly once: no journal entry of these users without a key pointing at it (a blind
-- retry would leave one), and no entry claimed by two keys. Purchases and their capture
-- store the answer, not an entry id, under their key: they are counted per user instead.
SELECT 'entries_without_a_key', count(*) FROM journal_entries e JOIN users u ON u.id = e.user_id
 WHERE u.username IN (SELECT username FROM expected) AND e.kind NOT IN ('purchase_hold', 'purchase_capture')
   AND NOT EXISTS (SELECT 1 FROM keys k WHERE k.entry_id = e.id);
SELECT 'entries_with_two_keys', count(*) FROM (SELECT entry_id FROM keys WHERE entry_id IS NOT NULL
 GROUP BY entry_id HAVING count(*) > 1) d;
SELECT 'purchase_counts_off', count(*) FROM (
  SELECT (SELECT count(*) FROM acked a WHERE a.username = x.username AND a.kind = 'purchase') AS acked_p,
         (SELECT count(*) FROM purchases p WHERE p.user_id = u.id) AS p,
         (SELECT count(*) FROM journal_entries e WHERE e.user_id = u.id AND e.kind = 'purchase_hold') AS hold,
         (SELECT count(*) FROM acked a WHERE a.username = x.username AND a.kind = 'confirm') AS acked_c,
         (SELECT count(*) FROM purchases p WHERE p.user_id = u.id AND p.state <> 'authorized') AS c,
         (SELECT count(*) FROM journal_entries e WHERE e.user_id = u.id AND e.kind = 'purchase_capture') AS capture
    FROM expected x JOIN users u ON u.username = x.username) n
 WHERE NOT (acked_p = p AND p = hold AND acked_c = c AND c = capture);
-- Balances: each user's row equals what the acknowledged operations imply.
SELECT 'balance_mismatches', count(*) FROM expected x JOIN users u ON u.username = x.username
  JOIN money_accounts m ON m.user_id = u.id
 WHERE (m.wallet_minor, m.vault_minor, m.held_minor, m.principal_minor) <> (x.wallet, x.vault, x.held, x.principal);
-- Money conserved: postings balance; wallets and vaults hold what came in less what was
-- repaid; merchants are owed exactly the confirmed purchases.
SELECT 'postings_not_balanced', count(*) FROM (SELECT entry_id FROM postings GROUP BY entry_id
 HAVING sum(amount_minor) <> 0) d;
SELECT 'cash_not_conserved', abs(
    (SELECT sum(m.wallet_minor + m.vault_minor) FROM money_accounts m JOIN users u ON u.id = m.user_id
      WHERE u.username IN (SELECT username FROM expected))
  - (SELECT coalesce(sum(amount) FILTER (WHERE kind = 'deposit'), 0)
          - coalesce(sum(amount) FILTER (WHERE kind = 'repayment'), 0) FROM acked));
SELECT 'merchant_payables_off', abs(
    abs((SELECT coalesce(sum(amount_minor), 0) FROM postings WHERE account_id = 'sys:merchant_payables'))
  - (SELECT coalesce(sum(amount), 0) FROM acked WHERE kind = 'confirm'));
