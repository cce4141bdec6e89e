// Hand-written: `diesel print-schema` differs per backend, and only types common to
// both are used (UUIDs as TEXT, times as naive UTC TIMESTAMP).

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        display_name -> Text,
        password_hash -> Text,
        role -> Text,
        status -> Text,
        created_at -> Timestamp,
    }
}
