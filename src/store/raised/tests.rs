use std::collections::BTreeSet;

use super::*;
use crate::store::replaceable::FILES;

/// Every code the live SQL raises.
const CODES: [&str; 17] = [
    "session_ended",
    "rate_limited",
    "key_reused",
    "stored_answer",
    "row_held",
    "account_frozen",
    "account_delinquent",
    "recipient_not_found",
    "self_transfer",
    "nothing_to_repay",
    "overpayment",
    "payoff_quote",
    "velocity_limit_exceeded",
    "invalid_state",
    "not_found",
    "rule",
    "corrupt",
];

/// Every `vl_refuse('<code>'` and `'vaultline:<code>'` in the live SQL.
fn codes_in_the_live_sql() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (_, text) in FILES {
        for marker in ["vl_refuse('", "'vaultline:"] {
            for (at, _) in text.match_indices(marker) {
                let rest = &text[at + marker.len()..];
                let code: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if !code.is_empty() {
                    found.insert(code);
                }
            }
        }
    }
    found
}

fn sample_detail(code: &str) -> &'static str {
    match code {
        "overpayment" | "payoff_quote" => "1250",
        "velocity_limit_exceeded" => "outflow,100,500",
        "invalid_state" => "captured",
        "rule" => "100,200,secured,0,50,0,0,0",
        "corrupt" => "refusing an unbalanced entry",
        _ => "",
    }
}

#[test]
fn every_code_the_live_sql_raises_is_typed_and_none_is_left_over() {
    let in_sql = codes_in_the_live_sql();
    let typed: BTreeSet<String> = CODES.iter().map(|c| c.to_string()).collect();
    assert_eq!(in_sql, typed, "codes raised by src/store/sql/*.sql against Raised's CODES");
    for code in CODES {
        let raised = Raised::parse(code, sample_detail(code));
        assert!(raised.is_ok(), "{code}: {raised:?}");
    }
}

#[test]
fn each_code_reads_its_detail() {
    let parsed = |code, detail| Raised::parse(code, detail).unwrap();
    assert_eq!(parsed("overpayment", "1250"), Raised::Refused(Refusal::Overpayment { owed_minor: 1250 }));
    let over = Refusal::VelocityLimitExceeded { velocity: Velocity::UnlocksToday, used: 3, limit: 3 };
    assert_eq!(parsed("velocity_limit_exceeded", "unlocks,3,3"), Raised::Refused(over));
    assert_eq!(parsed("invalid_state", "voided"), Raised::Refused(Refusal::InvalidState("voided")));
    let Raised::Rule(account) = parsed("rule", "100,200,secured,0,50,0,0,0") else { panic!("a rule") };
    assert_eq!((account.wallet_minor, account.vault_minor, account.available_minor()), (100, 200, 150));
    assert_eq!(parsed("session_ended", ""), Raised::SessionEnded);
}

#[test]
fn a_code_or_detail_this_file_does_not_know_is_an_error_not_a_guess() {
    for (code, detail) in [
        ("overpayment", "many"),
        ("velocity_limit_exceeded", "outflow,1"),
        ("velocity_limit_exceeded", "outflow,1,2,3"),
        ("velocity_limit_exceeded", "weekly,1,2"),
        ("invalid_state", "refunded"),
        ("rule", "1,2"),
        ("rule", "1,2,platinum,0,0,0,0,0"),
        ("rule", "-1,2,secured,0,0,0,0,0"),
        ("no_such_code", ""),
    ] {
        assert!(matches!(Raised::parse(code, detail), Err(StoreError::Corrupt(_))), "{code} `{detail}`");
    }
    let control = Raised::KeyReused.into_refusal();
    assert!(matches!(control, Err(StoreError::Corrupt(_))), "a control code is no refusal");
}
