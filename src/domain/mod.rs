//! Rules of the product, free of I/O: everything here is plain values and functions.

pub mod account;
pub mod money;
pub mod movement;
pub mod score;
pub mod time;
pub mod user;
