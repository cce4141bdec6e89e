-- Keys answered by movements or purchase snapshots cannot be kept by the older schema, and
-- dropping them would let a client's retry apply its money operation a second time: revert
-- only once they have expired (jobs.idempotency_retention_hours after the last such answer).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM idempotency_keys WHERE answer <> 'body') THEN
        RAISE EXCEPTION 'idempotency keys still answer with movements; revert after they expire';
    END IF;
END $$;
DROP FUNCTION vl_batch(text[], text[], text[], text[], text[], text[], bigint[], text[], text[], timestamp[]);
DROP FUNCTION vl_repay(text, text, text, text, bigint, timestamp);
DROP FUNCTION vl_void(text, text, text, timestamp);
DROP FUNCTION vl_capture(text, text, text, text, text, int, numeric, timestamp);
DROP FUNCTION vl_leave_authorized(text, text, text, timestamp);
DROP FUNCTION vl_authorize(text, text, text, text, text, text, text, bigint, int, text, timestamp);
DROP FUNCTION vl_round_half_even(numeric);
DROP FUNCTION vl_purchase_snapshot(text);
DROP FUNCTION vl_transfer(text, text, text, text, text, bigint, text, timestamp);
DROP FUNCTION vl_move(text, text, text, text, text, text, bigint, timestamp);
DROP FUNCTION vl_answer(text, text, text);
DROP TYPE vl_answer;
DROP FUNCTION vl_record(text, text, bigint, text, text, timestamp, text, money_accounts);
DROP FUNCTION vl_post(text, text, text, timestamp, text[], bigint[]);
DROP FUNCTION vl_claim_movement(text, text, text, text, timestamp);
DROP FUNCTION vl_claim(text, text, text, int, text, text, text, timestamp);
DROP FUNCTION vl_refuse_rule(text);
DROP FUNCTION vl_refuse(text, text);
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_answer, DROP COLUMN entry_id, DROP COLUMN answer,
    ALTER COLUMN response_body SET NOT NULL;
ALTER TABLE movements ADD COLUMN score_value INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN score_eligible BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE movements DROP COLUMN on_time_installments, DROP COLUMN overdue_installments,
    DROP COLUMN overdue_days, DROP COLUMN collateral_settlements, DROP COLUMN vault_floor_minor,
    DROP COLUMN overdue_now;
ALTER TABLE money_accounts DROP COLUMN overdue_count;
