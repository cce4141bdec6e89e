-- Everything the baseline made, and the live functions and triggers applied over it
-- (src/store/sql: they are not a migration's, but they cannot outlive the tables they use).
DO $$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = current_schema() AND p.proname LIKE 'vl\_%' LOOP
        EXECUTE format('DROP FUNCTION %s CASCADE', f);
    END LOOP;
END $$;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DROP TABLE events;
DROP TABLE event_streams;
DROP TABLE credit_requests;
DROP TABLE audit_log;
DROP TABLE limit_history;
DROP TABLE autopay;
DROP TABLE refunds;
DROP TABLE installments;
DROP TABLE purchases;
DROP TABLE merchants;
DROP TABLE outflow_hours;
DROP TABLE request_windows;
DROP TYPE vl_answer;
DROP TABLE idempotency_keys;
DROP TABLE movements;
DROP TABLE postings;
DROP TABLE journal_entries;
DROP TABLE ledger_accounts;
DROP TABLE money_accounts;
DROP TABLE login_pace;
DROP TABLE login_failures;
DROP TABLE refresh_tokens;
DROP TABLE users;
