DROP TABLE idempotency_keys;
DROP TABLE movements;
DROP TABLE postings;
DROP TABLE journal_entries;
DROP TABLE ledger_accounts;
DROP TABLE money_accounts;
