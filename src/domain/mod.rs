//! Rules of the product, free of I/O: everything here is plain values and functions.

pub mod money;
pub mod time;
pub mod user;
