// Hand-written: `diesel print-schema` differs per backend, and only types common to
// both are used (UUIDs as TEXT, times as naive UTC TIMESTAMP).

diesel::table! {
    outflow_hours (user_id, hour) {
        user_id -> Text,
        hour -> Timestamp,
        amount_minor -> BigInt,
    }
}

diesel::table! {
    request_windows (user_id, window_start) {
        user_id -> Text,
        window_start -> Timestamp,
        requests -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        display_name -> Text,
        password_hash -> Text,
        role -> Text,
        status -> Text,
        created_at -> Timestamp,
        token_version -> BigInt,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        family_id -> Text,
        user_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        spent_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        family_started_at -> Timestamp,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Text,
        throttle_key -> Text,
        attempted_at -> Timestamp,
    }
}

diesel::table! {
    login_pace (pace_key) {
        pace_key -> Text,
        next_at_ms -> BigInt,
    }
}

diesel::joinable!(refresh_tokens -> users (user_id));

diesel::table! {
    money_accounts (user_id) {
        user_id -> Text,
        wallet_minor -> BigInt,
        vault_minor -> BigInt,
        line -> Text,
        general_limit_minor -> BigInt,
        held_minor -> BigInt,
        principal_minor -> BigInt,
        fees_minor -> BigInt,
        late_fees_minor -> BigInt,
        opened_at -> Timestamp,
        on_time_installments -> BigInt,
        overdue_installments -> BigInt,
        overdue_days -> BigInt,
        collateral_settlements -> BigInt,
        vault_floor_minor -> BigInt,
        overdue_count -> BigInt,
    }
}

diesel::table! {
    ledger_accounts (id) {
        id -> Text,
        user_id -> Nullable<Text>,
        kind -> Text,
    }
}

diesel::table! {
    journal_entries (id) {
        id -> Text,
        kind -> Text,
        user_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    postings (entry_id, account_id) {
        entry_id -> Text,
        account_id -> Text,
        amount_minor -> BigInt,
    }
}

diesel::table! {
    movements (user_id, entry_id) {
        entry_id -> Text,
        user_id -> Text,
        kind -> Text,
        amount_minor -> BigInt,
        counterparty -> Nullable<Text>,
        note -> Nullable<Text>,
        created_at -> Timestamp,
        status -> Text,
        wallet_minor -> BigInt,
        vault_minor -> BigInt,
        line -> Text,
        general_limit_minor -> BigInt,
        held_minor -> BigInt,
        principal_minor -> BigInt,
        fees_minor -> BigInt,
        late_fees_minor -> BigInt,
        on_time_installments -> BigInt,
        overdue_installments -> BigInt,
        overdue_days -> BigInt,
        collateral_settlements -> BigInt,
        vault_floor_minor -> BigInt,
        overdue_now -> Bool,
    }
}

diesel::table! {
    idempotency_keys (user_id, idem_key) {
        user_id -> Text,
        idem_key -> Text,
        request_hash -> Text,
        response_status -> Integer,
        response_body -> Nullable<Text>,
        entry_id -> Nullable<Text>,
        answer -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(money_accounts -> users (user_id));
diesel::joinable!(postings -> journal_entries (entry_id));
diesel::joinable!(postings -> ledger_accounts (account_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    refresh_tokens,
    login_failures,
    money_accounts,
    ledger_accounts,
    journal_entries,
    postings,
    movements,
    idempotency_keys,
);

diesel::table! {
    merchants (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
        system -> Bool,
    }
}

diesel::table! {
    purchases (id) {
        id -> Text,
        user_id -> Text,
        merchant_id -> Text,
        amount_minor -> BigInt,
        installments -> Integer,
        description -> Nullable<Text>,
        state -> Text,
        created_at -> Timestamp,
        captured_at -> Nullable<Timestamp>,
        voided_at -> Nullable<Timestamp>,
        refunded_minor -> BigInt,
        auto_confirmed -> Bool,
    }
}

diesel::table! {
    refunds (id) {
        id -> Text,
        purchase_id -> Text,
        user_id -> Text,
        amount_minor -> BigInt,
        reason -> Text,
        actor_id -> Text,
        entry_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    autopay (user_id) {
        user_id -> Text,
        enabled -> Bool,
        sources -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    installments (purchase_id, seq) {
        purchase_id -> Text,
        seq -> Integer,
        user_id -> Text,
        due_date -> Date,
        principal_minor -> BigInt,
        fee_minor -> BigInt,
        fee_billed -> Bool,
        late_fee_minor -> BigInt,
        principal_paid_minor -> BigInt,
        fee_paid_minor -> BigInt,
        late_fee_paid_minor -> BigInt,
        state -> Text,
        was_overdue -> Bool,
        days_overdue -> Integer,
        on_time_credited -> Bool,
        billed_principal_minor -> BigInt,
        on_time_units -> BigInt,
        converted_into -> Nullable<Text>,
        converted_minor -> BigInt,
    }
}

diesel::table! {
    limit_history (id) {
        id -> Text,
        user_id -> Text,
        line -> Text,
        limit_before -> BigInt,
        limit_after -> BigInt,
        reason -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        actor_id -> Text,
        action -> Text,
        target_id -> Nullable<Text>,
        reason -> Nullable<Text>,
        details -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(installments -> purchases (purchase_id));
diesel::allow_tables_to_appear_in_same_query!(merchants, purchases, installments);
diesel::allow_tables_to_appear_in_same_query!(purchases, money_accounts);
diesel::allow_tables_to_appear_in_same_query!(installments, money_accounts);
diesel::allow_tables_to_appear_in_same_query!(purchases, users);
diesel::allow_tables_to_appear_in_same_query!(installments, users);

diesel::table! {
    credit_requests (id) {
        id -> Text,
        user_id -> Text,
        requested_by -> Text,
        kind -> Text,
        line -> Nullable<Text>,
        limit_minor -> Nullable<BigInt>,
        override_eligibility -> Bool,
        purchase_id -> Nullable<Text>,
        amount_minor -> Nullable<BigInt>,
        reason -> Text,
        state -> Text,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        decision_reason -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    events (position) {
        position -> BigInt,
        id -> Text,
        user_id -> Text,
        seq -> BigInt,
        #[sql_name = "type"]
        kind -> Text,
        object_id -> Text,
        snapshot -> Nullable<Text>,
        created_at -> Timestamp,
        txid -> BigInt,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Text,
        url -> Text,
        event_types -> Text,
        secret -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        consecutive_failures -> Integer,
        failing_since -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_deliveries (webhook_id, event_position) {
        webhook_id -> Text,
        event_position -> BigInt,
        user_id -> Text,
        seq -> BigInt,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        leased_until -> Nullable<Timestamp>,
        lease_token -> Nullable<Text>,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Text,
        webhook_id -> Text,
        event_position -> BigInt,
        attempted_at -> Timestamp,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
        duration_ms -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(events, webhooks, webhook_deliveries, webhook_attempts);

diesel::table! {
    console_sessions (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        csrf_token -> Text,
        second_factor -> Bool,
        stepped_up_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    staff_totp (user_id) {
        user_id -> Text,
        secret -> Text,
        confirmed_at -> Nullable<Timestamp>,
        last_step -> BigInt,
    }
}

diesel::table! {
    staff_recovery_codes (user_id, code_hash) {
        user_id -> Text,
        code_hash -> Text,
        used_at -> Nullable<Timestamp>,
    }
}
