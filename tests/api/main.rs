//! API tests: the real app over HTTP against a real database, on every backend available.

mod helpers;

mod admin;
mod auth;
mod baseline;
mod batch_chains;
mod batch_together;
mod billing;
mod checkpoint;
mod cli;
mod credit;
mod credit_abuse;
mod credit_life;
mod differential;
mod edge;
mod errors;
mod events;
mod four_eyes;
mod four_eyes_actions;
mod group_commit;
mod ledger;
mod live_sql;
mod money;
mod operations;
mod races;
mod receiver;
mod round_trips;
mod sessions_edge;
mod throttle;
mod throttle_abuse;
mod turns;
mod velocity;
mod webhooks;
mod webhooks_admin;
mod webhooks_fanout;
mod webhooks_kill;
