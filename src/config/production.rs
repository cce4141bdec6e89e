//! What the production profile (`VAULTLINE_PROFILE=production`) refuses to start with: each
//! setting that is only safe in a test suite, one line naming the key (exit code 2).

use ipnet::IpNet;

use super::{ConfigError, Settings};

/// The widest range of proxies trusted to name the client: wider, and a client anywhere in
/// it could choose the address it is throttled by.
const WIDEST_PROXY_PREFIX_V4: u8 = 8;
const WIDEST_PROXY_PREFIX_V6: u8 = 32;

pub(super) fn check(settings: &Settings) -> Result<(), ConfigError> {
    let bad = |key: &str, why: &str| Err(ConfigError(format!("{key}: {why}")));
    if settings.credit.allow_future_billing {
        return bad(
            "credit.allow_future_billing",
            "must be false in the production profile (it lets one admin request charge years of late fees)",
        );
    }
    if !settings.auth.jwt_secret.is_empty() {
        random_enough(&settings.auth.jwt_secret).map_err(|why| ConfigError(format!("auth.jwt_secret: {why}")))?;
    }
    if settings.webhooks.allow_private_targets {
        return bad(
            "webhooks.allow_private_targets",
            "must be false in the production profile (it lets an admin aim deliveries at internal services)",
        );
    }
    let proxies = crate::client::parse_proxies(&settings.server.trusted_proxies).map_err(ConfigError)?;
    if let Some(wide) = proxies.iter().find(|net| match net {
        IpNet::V4(v4) => v4.prefix_len() < WIDEST_PROXY_PREFIX_V4,
        IpNet::V6(v6) => v6.prefix_len() < WIDEST_PROXY_PREFIX_V6,
    }) {
        return Err(ConfigError(format!(
            "server.trusted_proxies: {wide} is wider than a /{WIDEST_PROXY_PREFIX_V4} (IPv4) or \
             /{WIDEST_PROXY_PREFIX_V6} (IPv6) in the production profile (clients there could choose their address)"
        )));
    }
    if !settings.console.require_totp {
        return bad("console.require_totp", "must be true in the production profile (staff sign in with two factors)");
    }
    let limits = &settings.limits;
    let caps = [
        ("limits.money_requests_per_window", limits.money_requests_per_window == 0),
        ("limits.outflow_24h_max", settings.velocity_limits()?.outflow_24h_minor.is_none()),
        ("limits.vault_unlocks_per_day", limits.vault_unlocks_per_day == 0),
    ];
    if let Some((key, _)) = caps.iter().find(|(_, off)| *off) {
        return bad(key, "must be above 0 in the production profile (0 switches the cap off)");
    }
    Ok(())
}

/// A configured secret for production: base64 (standard or URL-safe) of at least 32 bytes
/// that look random (at least 16 distinct byte values: 32 random bytes have about 30; a
/// repeated character or a phrase in base64 has far fewer).
fn random_enough(secret: &str) -> Result<(), String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let text = secret.trim();
    let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .ok_or("must be base64 of at least 32 random bytes (e.g. `openssl rand -base64 32`)")?;
    if bytes.len() < 32 {
        return Err(format!("decodes to {} bytes; at least 32 random bytes are required", bytes.len()));
    }
    let distinct = bytes.iter().collect::<std::collections::HashSet<_>>().len();
    if distinct < 16 {
        return Err("does not look random (too few distinct bytes); use `openssl rand -base64 32`".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::{Settings, Sources};

    const STRONG_SECRET: &str = "q0Cx2x3B4aXGz2lT4r2kQ5m1vR8eYw7pL9sNf0uJc3E=";

    fn production(overrides: &[(&str, &str)]) -> Result<Settings, super::ConfigError> {
        let dir = Some(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config")));
        let overrides = overrides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Settings::load(&Sources {
            config_dir: dir,
            profile: Some("production".into()),
            overrides,
            ..Sources::default()
        })
    }

    #[test]
    fn production_profile_forbids_generated_secret() {
        let s = production(&[]).unwrap();
        assert!(!s.auth.allow_generated_secret);
        assert_eq!(s.server.bind, "0.0.0.0:8080");
    }

    #[test]
    fn production_profile_refuses_a_weak_jwt_secret() {
        for weak in [
            "a".repeat(32),
            "a".repeat(64),
            "correct horse battery staple, long".to_owned(),
            "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=".to_owned(),
        ] {
            let err = production(&[("auth.jwt_secret", &weak)]).unwrap_err().to_string();
            assert!(err.contains("auth.jwt_secret"), "{weak}: {err}");
        }
        assert!(production(&[("auth.jwt_secret", STRONG_SECRET)]).is_ok());
    }

    #[test]
    fn production_profile_refuses_future_billing() {
        let err = production(&[("credit.allow_future_billing", "true")]).unwrap_err().to_string();
        assert!(err.contains("credit.allow_future_billing: must be false"), "{err}");
        // Elsewhere (a test suite's settings) it is allowed.
        let overrides = vec![("credit.allow_future_billing".to_owned(), "true".to_owned())];
        assert!(Settings::load(&Sources { overrides, ..Sources::default() }).is_ok());
    }

    #[test]
    fn production_profile_refuses_test_only_settings_naming_each_key() {
        let cases = [
            ("webhooks.allow_private_targets", "true", "webhooks.allow_private_targets"),
            ("server.trusted_proxies", "0.0.0.0/0", "server.trusted_proxies: 0.0.0.0/0"),
            ("server.trusted_proxies", "10.0.0.0/8,10.0.0.0/7", "server.trusted_proxies: 10.0.0.0/7"),
            ("server.trusted_proxies", "2001:db8::/31", "server.trusted_proxies: 2001:db8::/31"),
            ("limits.money_requests_per_window", "0", "limits.money_requests_per_window"),
            ("limits.outflow_24h_max", "0", "limits.outflow_24h_max"),
            ("limits.vault_unlocks_per_day", "0", "limits.vault_unlocks_per_day"),
        ];
        for (key, value, named) in cases {
            let err = production(&[("auth.jwt_secret", STRONG_SECRET), (key, value)]).unwrap_err().to_string();
            assert!(err.contains(named), "{key}={value}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        // The edges themselves start: a /8 and a /32 proxy range.
        let edges = [("auth.jwt_secret", STRONG_SECRET), ("server.trusted_proxies", "10.0.0.0/8,2001:db8::/32")];
        assert!(production(&edges).is_ok());
        // Elsewhere (a test suite's settings) each is allowed.
        let dev = Settings::load(&Sources {
            overrides: vec![("webhooks.allow_private_targets".into(), "true".into())],
            ..Sources::default()
        });
        assert!(dev.is_ok());
    }
}
