//! Model-based test: a seeded random script of every money and credit operation (limits on,
//! freezes, both line kinds, holds, refunds, bill plans, billing months ahead, replays) runs
//! against the real service through HTTP. Before each request `ledger::model::step` says
//! what it must answer and do; the answer (status, code and the refusal's wording, amounts
//! included) and then the balances the service shows must match it, step by step.
//!
//! What the model does not decide by itself (billing, refunds, bill plans: rules with their
//! own pure functions in `domain::credit` and `domain::refund`) is checked for its bounds and
//! then read back from the service, so the script goes on from the truth. `MODEL_SEED` and
//! `MODEL_STEPS` replay or lengthen a run.

mod world;

use std::collections::BTreeMap;

use actix_web::ResponseError;
use chrono::Datelike;
use serde_json::{Value, json};
use vaultline::domain::account::{AccountState, Refusal};
use vaultline::domain::credit::PurchaseState;
use vaultline::domain::user::UserStatus;
use vaultline::error::ApiError;
use vaultline::ledger::model::{Effects, Op, PurchaseFound, step};
use vaultline::store::StoreError;

use crate::helpers::Backend;
use crate::on_both_backends;
use world::{Rng, World, money};

on_both_backends!(a_random_script_answers_as_the_model_says);

/// What the model expects of one request.
enum Expect {
    /// `step`'s answer for customer `actor`, and a transfer's recipient.
    Model { actor: usize, answer: Result<Effects, Refusal>, recipient: Option<usize>, op: Op },
    /// A refusal decided before the model (recipient checks, key misuse).
    Refused { actor: usize, error: ApiError },
    /// The same answer as the first time, and nothing changes.
    Replay { actor: usize, status: u16 },
    /// A freeze or unfreeze that changes the status; no money moves.
    Status { actor: usize, to: UserStatus },
    /// A payoff: the purchase's debt is read from the store just before it is sent (`world::payoff`).
    Payoff { actor: usize, id: String, pick: u64 },
    /// Not decided by `step`: bounded, then read back from the service.
    ReadBack { actors: Vec<usize>, kind: ReadBack },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadBack {
    Refund,
    BillPlan,
    Billing,
}

async fn a_random_script_answers_as_the_model_says(backend: Backend) {
    let seed = std::env::var("MODEL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x2026_1207_u64);
    let steps: usize = std::env::var("MODEL_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(2_000);
    let mut w = World::new(backend).await;
    let mut rng = Rng(seed | 1);
    // (answered, refused) per route, and how often each refusal code came.
    let mut routes: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut codes: BTreeMap<String, u32> = BTreeMap::new();
    for n in 0..steps {
        let today = chrono::Utc::now().date_naive();
        if today != w.day {
            w.day = today;
            w.customers.iter_mut().for_each(|c| c.standing.unlocks_today = 0);
        }
        let (route, mut expect, path, mut body, key) = choose(&mut w, &mut rng);
        if let Expect::Payoff { actor, id, pick } = &expect {
            let (op, amount) = w.payoff(*actor, id, *pick).await;
            let answer = step(&w.customers[*actor].standing, op, &w.limits);
            body = json!({"amount": money(amount)});
            expect = Expect::Model { actor: *actor, answer, recipient: None, op };
        }
        let res = match (&key, &expect) {
            (_, Expect::ReadBack { kind: ReadBack::Refund, .. }) => {
                let key = key.clone().unwrap_or_default();
                let req = w.app.client.post(w.app.url(&path)).bearer_auth(&w.admin).header("idempotency-key", key);
                req.json(&body).send().await.unwrap()
            }
            (_, Expect::ReadBack { kind: ReadBack::Billing, .. }) => w.app.post_as_admin(&path, &w.admin, &body).await,
            (Some(key), _) => w.app.post_keyed(&path, &token_of(&w, &expect), key, &body).await,
            (None, _) => w.app.post_as_admin(&path, &w.admin, &body).await,
        };
        let status = res.status().as_u16();
        let replayed = res.headers().contains_key("idempotent-replayed");
        let answer: Value = res.json().await.unwrap_or(Value::Null);
        let context = format!("step {n} (seed {seed:#x}) {route} {path} {body}: answered {status} {answer}");
        let tally = routes.entry(route.clone()).or_default();
        if status < 300 {
            tally.0 += 1
        } else {
            tally.1 += 1
        }
        if let Some(code) = answer["code"].as_str() {
            *codes.entry(code.to_owned()).or_default() += 1;
            if code == "velocity_limit_exceeded" {
                let cap =
                    if answer["detail"].as_str().unwrap_or("").contains("24 hours") { "outflow" } else { "unlocks" };
                *codes.entry(format!("velocity/{cap}")).or_default() += 1;
            }
            if frozen_actor(&w, &expect) {
                *codes.entry(format!("{}/frozen/{code}", route.split(':').next().unwrap())).or_default() += 1;
            }
        }
        check(&mut w, expect, status, replayed, &answer, &context).await;
        // A customer's own keyed request that was answered, to replay later (a cancel and a
        // bill plan are not keyed: asking twice is refused).
        let replayable = !["refund", "cancel", "bill_plan", "replay", "reuse"].iter().any(|r| route.starts_with(r));
        if let (Some(key), true) = (key, status < 300 && !replayed && replayable) {
            let actor = w.customers.iter().position(|c| path_owner(&route, c)).expect("a customer's route");
            w.customers[actor].last_keyed = Some((path.clone(), body.clone(), key, status));
        }
    }
    let _ = &routes;
    let mut by_route: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for (route, (ok, refused)) in &routes {
        let total = by_route.entry(route.split(':').next().unwrap()).or_default();
        (total.0, total.1) = (total.0 + ok, total.1 + refused);
    }
    for route in [
        "withdrawal",
        "transfer",
        "vault_lock",
        "vault_unlock",
        "repayment",
        "payoff",
        "hold",
        "confirm-receipt",
        "cancel",
        "refund",
        "bill_plan",
    ] {
        let (ok, refused) = by_route.get(route).copied().unwrap_or_default();
        assert!(ok > 0 && refused > 0, "{route}: {ok} answered, {refused} refused: {by_route:?}");
    }
    eprintln!("seed {seed:#x}, {steps} steps: (answered, refused) per route {by_route:?}; refusals {codes:?}");
    for code in [
        "account_frozen",
        "insufficient_funds",
        "vault_pledged",
        "velocity_limit_exceeded",
        "credit_limit_exceeded",
        "account_delinquent",
        "overpayment",
        "invalid_state",
        "not_found",
        "recipient_not_found",
        "self_transfer",
        "idempotency_key_reused",
        "velocity/outflow",
        "velocity/unlocks",
        "vault_lock/frozen/insufficient_funds",
        "withdrawal/frozen/account_frozen",
        "vault_unlock/frozen/account_frozen",
        "hold/frozen/account_frozen",
    ] {
        assert!(codes.get(code).copied().unwrap_or(0) > 0, "the script never met `{code}`: {codes:?}");
    }
    w.app.assert_ledger_clean(&w.admin).await;
}

fn frozen_actor(w: &World, expect: &Expect) -> bool {
    match expect {
        Expect::Model { actor, .. } | Expect::Refused { actor, .. } => {
            w.customers[*actor].standing.status == UserStatus::Frozen
        }
        _ => false,
    }
}

fn token_of(w: &World, expect: &Expect) -> String {
    let actor = match expect {
        Expect::Model { actor, .. }
        | Expect::Refused { actor, .. }
        | Expect::Replay { actor, .. }
        | Expect::Status { actor, .. }
        | Expect::Payoff { actor, .. } => *actor,
        Expect::ReadBack { actors, .. } => actors[0],
    };
    w.customers[actor].token.clone()
}

/// Routes are named `<route>:<customer>` so the last keyed request can be found again.
fn path_owner(route: &str, c: &world::Customer) -> bool {
    route.rsplit(':').next() == Some(c.name.as_str())
}

type Chosen = (String, Expect, String, Value, Option<String>);

/// Picks the next request and asks the model what it must do.
fn choose(w: &mut World, rng: &mut Rng) -> Chosen {
    let c = rng.below(w.customers.len() as u64) as usize;
    // A frozen customer is mostly refused; unfrozen soon, so the script mostly moves money.
    if w.customers[c].standing.status == UserStatus::Frozen && rng.below(6) == 0 {
        return freeze_or_unfreeze(w, rng, c);
    }
    let name = w.customers[c].name.clone();
    let s = w.customers[c].standing;
    let key = Some(w.key());
    let limits = w.limits;
    let model = |op: Op| Expect::Model { actor: c, answer: step(&s, op, &limits), recipient: None, op };
    let spend = |rng: &mut Rng| if rng.below(5) == 0 { rng.minor(300_000) } else { rng.minor(10_000) };
    let roll = rng.below(100);
    let (route, expect, path, body) = match roll {
        0..=11 => {
            let x = rng.minor(50_000);
            ("deposit", model(Op::Deposit(x)), "/v1/wallet/deposits".to_owned(), json!({"amount": money(x)}))
        }
        12..=20 => {
            let x = spend(rng);
            ("withdrawal", model(Op::Withdrawal(x)), "/v1/wallet/withdrawals".into(), json!({"amount": money(x)}))
        }
        21..=30 => {
            // A frozen customer may lock savings, not more than the wallet holds (both
            // backends answer `insufficient_funds`).
            let frozen = s.status == UserStatus::Frozen;
            let x = if frozen && rng.below(2) == 0 { s.account.wallet_minor + 1 } else { rng.minor(40_000) };
            ("vault_lock", model(Op::VaultLock(x)), "/v1/vault/lock".into(), json!({"amount": money(x)}))
        }
        31..=38 => {
            // Now and then the whole vault: refused while it pledges anything.
            let x = if rng.below(3) == 0 { s.account.vault_minor.max(1) } else { rng.minor(30_000) };
            ("vault_unlock", model(Op::VaultUnlock(x)), "/v1/vault/unlock".into(), json!({"amount": money(x)}))
        }
        39..=50 => return transfer(w, rng, c),
        57..=59 => {
            // Mostly one of the customer's purchases (its quote, or one unit off), now and
            // then another customer's.
            let captured: Vec<String> = (w.customers[c].purchases.iter())
                .filter(|(_, p)| p.state == PurchaseState::Captured)
                .map(|(id, _)| id.clone())
                .collect();
            // What it owes is read from the store when sent (`World::payoff`).
            let id = match rng.below(10) {
                0..=6 if !captured.is_empty() => rng.pick(&captured).clone(),
                _ => target(w, rng, c).0,
            };
            let expect = Expect::Payoff { actor: c, id: id.clone(), pick: rng.below(6) };
            let path = format!("/v1/credit/purchases/{id}/payoff");
            return (format!("payoff:{name}"), expect, path, Value::Null, key);
        }
        51..=56 => {
            let owed = s.account.principal_minor + s.account.fees_minor + s.account.late_fees_minor;
            let x = match rng.below(5) {
                0..=1 => owed.max(1),
                2 => owed + 1,
                _ => rng.minor(20_000),
            };
            ("repayment", model(Op::Repayment(x)), "/v1/credit/repayments".into(), json!({"amount": money(x)}))
        }
        60..=69 => {
            let x = rng.minor(30_000);
            let body =
                json!({"merchant_id": w.merchant, "amount": money(x), "installments": *rng.pick(&[1, 3, 6, 12, 24])});
            ("hold", model(Op::Hold(x)), "/v1/credit/purchases".into(), body)
        }
        70..=81 => {
            let (id, found) = target(w, rng, c);
            let (action, op) =
                if roll <= 77 { ("confirm-receipt", Op::Capture(found)) } else { ("cancel", Op::Void(found)) };
            (action, model(op), format!("/v1/credit/purchases/{id}/{action}"), Value::Null)
        }
        82..=85 => return refund(w, rng, c),
        86..=87 => return freeze_or_unfreeze(w, rng, c),
        88 => {
            // Whoever has a bill and nothing overdue, if anyone: a delinquent bill is refused.
            let ready = |c: &world::Customer| c.standing.overdue_count == 0 && c.standing.account.principal_minor > 0;
            let c = w.customers.iter().position(ready).unwrap_or(c);
            let name = w.customers[c].name.clone();
            let body = json!({"installments": *rng.pick(&[3, 6, 12])});
            let expect = Expect::ReadBack { actors: vec![c], kind: ReadBack::BillPlan };
            return (format!("bill_plan:{name}"), expect, "/v1/credit/bill/installments".into(), body, key);
        }
        89 => {
            w.billed_months += 1;
            // A few days before the month's due date: that month's parts are due (a bill to
            // convert), earlier ones overdue.
            let day = w.app.settings.credit.repayment_day;
            let month = chrono::Utc::now().date_naive().with_day(1).unwrap() + chrono::Months::new(w.billed_months);
            let as_of = month + chrono::Days::new(u64::from(day - 1)) - chrono::Days::new(3);
            let expect = Expect::ReadBack { actors: (0..w.customers.len()).collect(), kind: ReadBack::Billing };
            return (
                "billing".into(),
                expect,
                "/v1/admin/billing/run".into(),
                json!({"as_of": as_of.to_string()}),
                None,
            );
        }
        _ => return replay(w, rng, c),
    };
    (format!("{route}:{name}"), expect, path, body, key)
}

fn transfer(w: &mut World, rng: &mut Rng, c: usize) -> Chosen {
    let s = w.customers[c].standing;
    let x = if rng.below(5) == 0 { rng.minor(300_000) } else { rng.minor(10_000) };
    let to = rng.below(w.customers.len() as u64 + 2) as usize;
    let (to_name, expect) = match to {
        n if n == c => {
            (w.customers[c].name.clone(), Expect::Refused { actor: c, error: refused(w, Refusal::SelfTransfer) })
        }
        n if n >= w.customers.len() => {
            ("mb_nobody".to_owned(), Expect::Refused { actor: c, error: refused(w, Refusal::RecipientNotFound) })
        }
        n => {
            let op = Op::TransferOut(x);
            (
                w.customers[n].name.clone(),
                Expect::Model { actor: c, answer: step(&s, op, &w.limits), recipient: Some(n), op },
            )
        }
    };
    let body = json!({"to_username": to_name, "amount": money(x), "note": "model"});
    (format!("transfer:{}", w.customers[c].name), expect, "/v1/transfers".into(), body, Some(w.key()))
}

/// A purchase to act on: mostly the customer's newest open hold, sometimes any of theirs,
/// sometimes another customer's (which is not found for them).
fn target(w: &World, rng: &mut Rng, c: usize) -> (String, Option<PurchaseFound>) {
    let mine = &w.customers[c].purchases;
    let open = mine.iter().rev().find(|(_, p)| p.state == PurchaseState::Authorized);
    match (rng.below(10), open) {
        (0..=6, Some((id, p))) => (id.clone(), Some(*p)),
        (7..=8, _) if !mine.is_empty() => {
            let (id, p) = rng.pick(mine);
            (id.clone(), Some(*p))
        }
        _ => {
            let other = &w.customers[(c + 1) % w.customers.len()].purchases;
            let id = other.last().map(|(id, _)| id.clone()).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
            (id, None)
        }
    }
}

fn refund(w: &mut World, rng: &mut Rng, c: usize) -> Chosen {
    let route = format!("refund:{}", w.customers[c].name);
    let Some((id, p)) = w.customers[c].purchases.last().cloned().filter(|_| rng.below(4) > 0).or_else(|| {
        let mine = &w.customers[c].purchases;
        (!mine.is_empty()).then(|| rng.pick(mine).clone())
    }) else {
        return replay(w, rng, c);
    };
    let x = if rng.below(3) == 0 { p.amount_minor } else { rng.minor(p.amount_minor) };
    let body = json!({"amount": money(x), "reason": "merchant notice"});
    let expect = Expect::ReadBack { actors: vec![c], kind: ReadBack::Refund };
    (route, expect, format!("/v1/admin/purchases/{id}/refunds"), body, Some(w.key()))
}

fn freeze_or_unfreeze(w: &mut World, rng: &mut Rng, c: usize) -> Chosen {
    let frozen = w.customers[c].standing.status == UserStatus::Frozen;
    // Now and then the change that changes nothing: a customer's answers 200 all the same
    // (only a staff member's, which waits for a second admin, is refused as a no-op).
    let freeze = if rng.below(5) == 0 { frozen } else { !frozen };
    let action = if freeze { "freeze" } else { "unfreeze" };
    let expect = Expect::Status { actor: c, to: if freeze { UserStatus::Frozen } else { UserStatus::Active } };
    let path = format!("/v1/admin/users/{}/{action}", w.customers[c].id);
    (format!("{action}:{}", w.customers[c].name), expect, path, json!({"reason": "model test"}), None)
}

/// The customer's last keyed request again: the same body replays, another is refused.
fn replay(w: &mut World, rng: &mut Rng, c: usize) -> Chosen {
    let name = w.customers[c].name.clone();
    let Some((path, body, key, status)) = w.customers[c].last_keyed.clone() else {
        let x = rng.minor(1_000);
        let s = w.customers[c].standing;
        let expect = Expect::Model {
            actor: c,
            answer: step(&s, Op::Deposit(x), &w.limits),
            recipient: None,
            op: Op::Deposit(x),
        };
        return (
            format!("deposit:{name}"),
            expect,
            "/v1/wallet/deposits".into(),
            json!({"amount": money(x)}),
            Some(w.key()),
        );
    };
    if rng.below(3) == 0 && body.is_object() {
        let mut other = body.clone();
        other["amount"] = json!("1.00");
        if other != body {
            let expect = Expect::Refused { actor: c, error: ApiError::IdempotencyKeyReused };
            return (format!("reuse:{name}"), expect, path, other, Some(key));
        }
    }
    (format!("replay:{name}"), Expect::Replay { actor: c, status }, path, body, Some(key))
}

fn refused(w: &World, refusal: Refusal) -> ApiError {
    vaultline::api::store_error(StoreError::Refused(refusal), &w.money)
}

/// Holds one answer against what was expected, then the balances the service shows.
async fn check(w: &mut World, expect: Expect, status: u16, replayed: bool, answer: &Value, context: &str) {
    match expect {
        Expect::Model { actor, answer: Ok(effects), recipient, op } => {
            assert!(status < 300, "the model accepts: {context}");
            assert!(!replayed, "{context}");
            let c = &mut w.customers[actor];
            c.standing.account = effects.applied_to(c.standing.account).expect("in range");
            c.standing.outflow_used_minor += effects.outflow_minor;
            c.standing.unlocks_today += effects.unlocks;
            match op {
                Op::Hold(x) => {
                    let id = answer["id"].as_str().expect("a purchase id").to_owned();
                    c.purchases.push((id, PurchaseFound { state: PurchaseState::Authorized, amount_minor: x }));
                }
                Op::Capture(_) | Op::Void(_) => {
                    let id = answer["id"].as_str().expect("a purchase id");
                    let state = world::stored_state(&answer["state"]);
                    c.purchases.iter_mut().filter(|(p, _)| p == id).for_each(|(_, p)| p.state = state);
                }
                _ => {}
            }
            if let (Op::Repayment(_) | Op::Payoff { .. }, true) = (op, c.standing.overdue_count > 0) {
                // Which overdue parts a payment clears depends on the parts (domain::credit's
                // allocation), which this account-level model does not carry: read it back.
                let bill: Value = w.app.get_as("/v1/credit/bill", &c.token).await.json().await.unwrap();
                c.standing.overdue_count = bill["overdue"].as_array().unwrap().len() as i64;
            }
            if let Some(to) = recipient {
                let r = &mut w.customers[to];
                r.standing.account.wallet_minor -= effects.wallet_minor;
                compare(w, to, context).await;
            }
            compare(w, actor, context).await;
        }
        Expect::Model { actor, answer: Err(refusal), .. } => {
            let error = refused(w, refusal);
            assert_refused(&error, status, answer, context);
            compare(w, actor, context).await;
        }
        Expect::Refused { actor, error } => {
            assert_refused(&error, status, answer, context);
            compare(w, actor, context).await;
        }
        Expect::Replay { actor, status: first } => {
            assert_eq!((status, replayed), (first, true), "a replay answers as the first time: {context}");
            compare(w, actor, context).await;
        }
        Expect::Status { actor, to } => {
            assert_eq!((status, answer["status"].as_str()), (200, Some(to.as_str())), "{context}");
            w.customers[actor].standing.status = to;
            compare(w, actor, context).await;
        }
        Expect::Payoff { .. } => unreachable!("made a model expectation before it is sent"),
        Expect::ReadBack { actors, kind } => read_back(w, &actors, kind, status, context).await,
    }
}

fn assert_refused(error: &ApiError, status: u16, answer: &Value, context: &str) {
    let expected = (error.status_code().as_u16(), error.code().as_str(), error.to_string());
    let got = (status, answer["code"].as_str().unwrap_or(""), answer["detail"].as_str().unwrap_or("").to_owned());
    assert_eq!(got, expected, "the model refuses otherwise: {context}");
}

/// What the service shows of customer `c` must be what the model holds.
async fn compare(w: &World, c: usize, context: &str) {
    let (seen, status) = w.seen(c).await;
    let model = &w.customers[c].standing;
    assert_eq!(status, model.status, "status of {}: {context}", w.customers[c].name);
    assert_eq!(shown(&seen), shown(&model.account), "account of {}: {context}", w.customers[c].name);
}

/// What the API shows of an account (a secured line's stored general limit is not shown).
fn shown(a: &AccountState) -> (i64, i64, &'static str, i64, i64, i64, i64, i64) {
    let l = a.line.as_str();
    (
        a.wallet_minor,
        a.vault_minor,
        l,
        a.limit_minor(),
        a.held_minor,
        a.principal_minor,
        a.fees_minor,
        a.late_fees_minor,
    )
}

/// Bounds for what the model does not decide: a refused refund or plan changes nothing; a
/// refund never takes money from the wallet nor raises what is owed; a plan moves no money;
/// billing never touches the wallet. Then the service's state is taken as the model's.
async fn read_back(w: &mut World, actors: &[usize], kind: ReadBack, status: u16, context: &str) {
    for &c in actors {
        let (seen, _) = w.seen(c).await;
        let before = w.customers[c].standing.account;
        let was = shown(&before);
        match kind {
            _ if status >= 300 => assert_eq!(shown(&seen), was, "a refusal changes nothing: {context}"),
            ReadBack::Refund => {
                assert!(seen.wallet_minor >= before.wallet_minor, "a refund pays in: {context}");
                assert!(seen.exposure_minor() <= before.exposure_minor(), "a refund lowers debt: {context}");
                let gained = seen.wallet_minor - before.wallet_minor + before.exposure_minor() - seen.exposure_minor();
                assert!(gained > 0, "an accepted refund pays in or cuts debt: {context}");
            }
            ReadBack::BillPlan => assert_eq!(shown(&seen), was, "a bill plan moves no money: {context}"),
            ReadBack::Billing => assert_eq!(seen.wallet_minor, before.wallet_minor, "billing: {context}"),
        }
        w.resync(c).await;
    }
}
