//! Rules of the product, free of I/O: everything here is plain values and functions.

pub mod account;
pub mod address_space;
pub mod autopay;
pub mod credit;
pub mod four_eyes;
pub mod limits;
pub mod money;
pub mod movement;
pub mod refund;
pub mod schedule;
pub mod score;
pub mod staff;
pub mod text;
pub mod time;
pub mod user;
pub mod webhook;
