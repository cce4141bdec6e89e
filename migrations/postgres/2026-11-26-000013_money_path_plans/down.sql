-- Back to the SQL-language helpers and the unbounded unlock count.
DROP INDEX movements_unlocks;
-- as in 2026-11-22-000006_money_path
CREATE OR REPLACE FUNCTION vl_record(p_entry text, p_kind text, p_amount bigint, p_counterparty text, p_note text,
                          p_now timestamp, p_status text, a money_accounts)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO movements (entry_id, user_id, kind, amount_minor, counterparty, note, created_at, status,
        wallet_minor, vault_minor, line, general_limit_minor, held_minor, principal_minor, fees_minor,
        late_fees_minor, on_time_installments, overdue_installments, overdue_days, collateral_settlements,
        vault_floor_minor, overdue_now)
    VALUES (p_entry, a.user_id, p_kind, p_amount, p_counterparty, p_note, p_now, p_status,
        a.wallet_minor, a.vault_minor, a.line, a.general_limit_minor, a.held_minor, a.principal_minor, a.fees_minor,
        a.late_fees_minor, a.on_time_installments, a.overdue_installments, a.overdue_days, a.collateral_settlements,
        LEAST(a.vault_floor_minor, a.vault_minor), a.overdue_count > 0)
$$;
-- as in 2026-11-22-000006_money_path
CREATE OR REPLACE FUNCTION vl_answer(p_outcome text, p_user text, p_entry text) RETURNS SETOF vl_answer LANGUAGE sql AS $$
    SELECT p_outcome, mv.entry_id, mv.kind, mv.amount_minor, mv.counterparty, mv.note, mv.created_at, mv.status,
        mv.wallet_minor, mv.vault_minor, mv.line, mv.general_limit_minor, mv.held_minor, mv.principal_minor,
        mv.fees_minor, mv.late_fees_minor, mv.on_time_installments, mv.overdue_installments, mv.overdue_days,
        mv.collateral_settlements, mv.vault_floor_minor, mv.overdue_now, m.opened_at
    FROM movements mv JOIN money_accounts m ON m.user_id = mv.user_id
    WHERE mv.user_id = p_user AND mv.entry_id = p_entry
$$;
-- as in 2026-11-22-000006_money_path
CREATE OR REPLACE FUNCTION vl_claim_movement(p_user text, p_key text, p_hash text, p_entry text, p_now timestamp)
RETURNS text LANGUAGE sql AS $$
    SELECT (vl_claim(p_user, p_key, p_hash, 201, 'movement', p_entry, NULL, p_now)).entry_id
$$;
-- as in 2026-11-22-000006_money_path
CREATE OR REPLACE FUNCTION vl_purchase_snapshot(p_purchase text) RETURNS text LANGUAGE sql AS $$
    SELECT json_build_object(
        'purchase', (SELECT row_to_json(p) FROM purchases p WHERE p.id = p_purchase),
        'schedule', coalesce((SELECT json_agg(i ORDER BY i.seq) FROM installments i WHERE i.purchase_id = p_purchase),
                             '[]'::json))::text
$$;
-- as in 2026-11-25-000012_events
CREATE OR REPLACE FUNCTION vl_event_purchase(p_purchase text) RETURNS text LANGUAGE sql AS $$
    SELECT json_build_object(
        'purchase', (SELECT row_to_json(p) FROM purchases p WHERE p.id = p_purchase),
        'schedule', coalesce((SELECT json_agg(i ORDER BY i.seq) FROM installments i WHERE i.purchase_id = p_purchase),
                             '[]'::json),
        'refunds', coalesce((SELECT json_agg(r ORDER BY r.created_at, r.id) FROM refunds r
                              WHERE r.purchase_id = p_purchase), '[]'::json))::text
$$;
-- as in 2026-11-23-000007_credit_safety
CREATE OR REPLACE FUNCTION vl_check_unlocks(p_user text, p_now timestamp, p_cap int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_used bigint;
BEGIN
    IF p_cap IS NULL THEN
        RETURN;
    END IF;
    SELECT count(*) INTO v_used FROM movements
     WHERE user_id = p_user AND kind = 'vault_unlock' AND created_at >= date_trunc('day', p_now);
    IF v_used >= p_cap THEN
        PERFORM vl_refuse('velocity_limit_exceeded', format('unlocks,%s,%s', v_used, p_cap));
    END IF;
END $$;
