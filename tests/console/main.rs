//! The operations console in a real browser: Debian's headless Chromium driven through
//! chromedriver (WebDriver, `fantoccini`) against the spawned service, on SQLite and, when
//! `VAULTLINE_TEST_POSTGRES_URL` is set, on PostgreSQL. Screenshots go to
//! `target/console-screenshots/` (`docs/console/` with `VAULTLINE_SCREENSHOTS=docs`).

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod accessibility;
mod books;
mod browser;
mod flows;
