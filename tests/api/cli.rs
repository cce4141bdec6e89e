//! The `vaultline` binary itself: exit codes, error messages, admin bootstrap.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::helpers::{Backend, TestDb};
use crate::on_both_backends;

const BIN: &str = env!("CARGO_BIN_EXE_vaultline");

fn vaultline(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("VAULTLINE_PROFILE").env_remove("VAULTLINE_ADMIN_PASSWORD").env("RUST_LOG", "off");
    // A loaded machine is slow to connect (as in test_settings).
    cmd.env("VAULTLINE__DATABASE__CONNECTION_TIMEOUT_MS", "5000");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("binary runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn migrate_reports_the_real_postgres_error() {
    let out = vaultline(&["--database-url", "postgres://nobody:wrong@127.0.0.1:5432/x", "migrate"], &[], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    // libpq's own words: refused, or (server up) the failed role or password.
    assert!(err.contains("connection to server"), "{err}");
    assert!(!err.to_lowercase().contains("invalid connection url"), "{err}");
}

#[test]
fn bad_configuration_is_one_line_naming_the_key_and_exit_2() {
    for (env, key) in [
        (("VAULTLINE__SERVER__WORKERS", "many"), "server.workers"),
        (("VAULTLINE__DATABASE__POOL_SIZE", "0"), "database.pool_size"),
        (("VAULTLINE__MONEY__MAX_AMOUNT", "1.234"), "max_amount"),
        (("VAULTLINE_PROFILE", "nosuchprofile"), "VAULTLINE_PROFILE"),
    ] {
        let out = vaultline(&["migrate"], &[env], None);
        assert_eq!(out.status.code(), Some(2), "{env:?}");
        let err = stderr(&out);
        assert!(err.contains(key), "{env:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    let out = vaultline(&["--database-url", "mysql://localhost/x", "migrate"], &[], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("database.url"));
}

#[test]
fn production_refuses_to_start_without_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let out = vaultline(
        &["--database-url", &url, "serve", "--bind", "127.0.0.1:0"],
        &[("VAULTLINE_PROFILE", "production")],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("auth.jwt_secret"), "{}", stderr(&out));
    let out = vaultline(
        &["--database-url", &url, "serve"],
        &[("VAULTLINE_PROFILE", "production"), ("VAULTLINE__AUTH__JWT_SECRET", "too-short")],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("at least 32 bytes"), "{}", stderr(&out));
}

#[test]
fn production_refuses_test_only_settings_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let strong = ("VAULTLINE__AUTH__JWT_SECRET", "q0Cx2x3B4aXGz2lT4r2kQ5m1vR8eYw7pL9sNf0uJc3E=");
    for (env, key) in [
        (("VAULTLINE__WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"), "webhooks.allow_private_targets"),
        (("VAULTLINE__SERVER__TRUSTED_PROXIES", "0.0.0.0/0"), "server.trusted_proxies"),
        (("VAULTLINE__SERVER__TRUSTED_PROXIES", "10.0.0.0/8,::/0"), "server.trusted_proxies"),
        (("VAULTLINE__LIMITS__MONEY_REQUESTS_PER_WINDOW", "0"), "limits.money_requests_per_window"),
        (("VAULTLINE__LIMITS__OUTFLOW_24H_MAX", "0"), "limits.outflow_24h_max"),
        (("VAULTLINE__LIMITS__VAULT_UNLOCKS_PER_DAY", "0"), "limits.vault_unlocks_per_day"),
    ] {
        let out =
            vaultline(&["--database-url", &url, "migrate"], &[("VAULTLINE_PROFILE", "production"), strong, env], None);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(key), "{env:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    // The same profile and secret without them starts (here: migrates).
    let out = vaultline(&["--database-url", &url, "migrate"], &[("VAULTLINE_PROFILE", "production"), strong], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

on_both_backends!(admin_create_bootstraps_an_admin);

async fn admin_create_bootstraps_an_admin(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (_db, url) = TestDb::create(&backend, &dir);
    let args = ["--database-url", url.as_str(), "admin", "create", "--username", "root_admin"];

    let out = vaultline(&args, &[("VAULTLINE_ADMIN_PASSWORD", "short")], None);
    assert_eq!(out.status.code(), Some(2), "weak password refused");
    assert!(stderr(&out).contains("password"), "{}", stderr(&out));

    let out = vaultline(&args, &[("VAULTLINE_ADMIN_PASSWORD", "a long admin password")], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created admin root_admin"));

    let out = vaultline(&args, &[], Some("another long password\n"));
    assert_eq!(out.status.code(), Some(1), "duplicate refused");
    assert!(stderr(&out).contains("already taken"), "{}", stderr(&out));

    let args = ["--database-url", url.as_str(), "admin", "create", "--username", "second_admin"];
    let out = vaultline(&args, &[], Some("from stdin password\n"));
    assert_eq!(out.status.code(), Some(0), "password read from stdin: {}", stderr(&out));

    let out = vaultline(&["--database-url", url.as_str(), "migrate"], &[], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
}
