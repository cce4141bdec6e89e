//! Vaultline: a deposit-secured credit wallet service.
//!
//! Layout: `api` (HTTP), `domain` (rules, no I/O), `store` (diesel, transactions),
//! `credentials` (passwords, tokens), `auth` (who is calling), `state` (what handlers share),
//! with configuration, start-up, CLI and telemetry beside them. Imports between these modules
//! only go down their layers: docs/ARCHITECTURE.md, checked by `tests/architecture.rs`.

pub mod api;
pub mod auth;
pub mod cli;
pub(crate) mod client;
pub mod config;
pub mod console;
pub mod credentials;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod jobs;
pub mod ledger;
pub mod memory;
pub mod security;
pub mod seed;
pub mod startup;
pub mod state;
pub mod statement_pdf;
pub mod store;
pub mod telemetry;
