//! A transfer on SQLite: the recipient found by name, the model decides for the sender
//! (`rule.rs`), then both rows, the entry and both movements.

use diesel::prelude::*;
use uuid::Uuid;

use crate::domain::account::Refusal;
use crate::domain::movement::{Movement, MovementKind};
use crate::domain::user::{UserStatus, Username};
use crate::ledger::account::{decided, write_effects};
use crate::ledger::model::Effects;
use crate::ledger::request::{Call, MoneyOp};
use crate::store::ledger::{self, UserAccount, account_id};
use crate::store::schema::users;
use crate::store::{DbConn, StoreError};

/// Moves money between two wallets: the recipient is found first (unknown and self are
/// refused from the name), then the model decides for the sender.
pub(crate) fn apply(
    conn: &mut DbConn,
    call: &Call,
    to: &Username,
    op: &MoneyOp,
    note: Option<String>,
) -> Result<Movement, StoreError> {
    let (from, x, now) = (call.user_id, op.amount().minor(), call.now);
    let parties: Vec<(String, String, String)> = users::table
        .filter(users::username.eq(to.as_str()).or(users::id.eq(from.to_string())))
        .select((users::id, users::username, users::status))
        .load(conn)?;
    let sender_name = parties
        .iter()
        .find(|(id, _, _)| *id == from.to_string())
        .map(|(_, name, _)| name.clone())
        .ok_or_else(|| StoreError::Corrupt(format!("sender {from} has no user row")))?;
    let Some((recipient, _, recipient_status)) = parties.iter().find(|(_, name, _)| name == to.as_str()).cloned()
    else {
        return Err(StoreError::Refused(Refusal::RecipientNotFound));
    };
    let to_id = Uuid::parse_str(&recipient).map_err(|_| StoreError::Corrupt(format!("users.id {recipient}")))?;
    if to_id == from {
        return Err(StoreError::Refused(Refusal::SelfTransfer));
    }
    let (effects, sent) = decided(conn, call, op)?;
    let received =
        write_effects(conn, &recipient, &Effects { wallet_minor: -effects.wallet_minor, ..Effects::default() })?;
    let recipient_status = UserStatus::from_db(&recipient_status)
        .ok_or_else(|| StoreError::Corrupt(format!("users.status of {recipient}")))?;
    let legs = [(account_id(from, UserAccount::Wallet), -x), (account_id(to_id, UserAccount::Wallet), x)];
    let id = ledger::post_entry(conn, "transfer", Some(from), now, &legs)?;
    let out = ledger::View {
        kind: MovementKind::TransferOut,
        amount_minor: x,
        counterparty: Some(to.to_string()),
        note: note.clone(),
        now,
    };
    let outgoing = ledger::record_after(conn, from, id, out, UserStatus::Active, &sent)?;
    let incoming =
        ledger::View { kind: MovementKind::TransferIn, amount_minor: x, counterparty: Some(sender_name), note, now };
    ledger::record_after(conn, to_id, id, incoming, recipient_status, &received)?;
    Ok(outgoing)
}
