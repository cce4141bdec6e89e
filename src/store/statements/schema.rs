//! The statement tables (migration 000028), kept beside their module.

diesel::table! {
    statements (id) {
        id -> Text,
        user_id -> Text,
        period_start -> Date,
        period_end -> Date,
        due_date -> Date,
        opening_minor -> BigInt,
        charges_minor -> BigInt,
        credits_minor -> BigInt,
        closing_minor -> BigInt,
        amount_due_minor -> BigInt,
        body -> Text,
        content_hash -> Text,
        issued_at -> Timestamp,
    }
}

diesel::table! {
    statement_entries (user_id, entry_id) {
        user_id -> Text,
        entry_id -> Text,
        statement_id -> Text,
    }
}

diesel::table! {
    installment_reminders (purchase_id, seq) {
        purchase_id -> Text,
        seq -> Integer,
        user_id -> Text,
        due_date -> Date,
        amount_due_minor -> BigInt,
        sent_at -> Timestamp,
    }
}
