//! Webhook rules with no I/O: which events exist, which targets may be called (SSRF), how a
//! delivery is signed, and when a failed one is tried again.

use std::net::IpAddr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

// Which addresses a target may have: the IANA special-purpose registries, one module.
pub use super::address_space::{is_public, refusal};

/// Every event type, as the outbox writes it (`src/store/sql/events.sql` on PostgreSQL, `migrations/sqlite/…_events` on SQLite).
pub const EVENT_TYPES: [&str; 15] = [
    "movement.created",
    "purchase.authorized",
    "purchase.captured",
    "purchase.voided",
    "purchase.refunded",
    "installment.due",
    "installment.overdue",
    "installment.paid",
    "installment.converted",
    "installment.reminder",
    "statement.issued",
    "credit.limit_changed",
    "credit.line_changed",
    "user.frozen",
    "user.unfrozen",
];

pub const URL_MAX_CHARS: usize = 2048;

/// The wanted types, each known, without repeats, in the order given.
pub fn event_types(wanted: &[String]) -> Result<Vec<&'static str>, String> {
    if wanted.is_empty() || wanted.len() > EVENT_TYPES.len() {
        return Err(format!("events must list 1 to {} event types", EVENT_TYPES.len()));
    }
    let mut types: Vec<&'static str> = Vec::with_capacity(wanted.len());
    for w in wanted {
        let known =
            EVENT_TYPES.iter().find(|t| **t == w.as_str()).ok_or_else(|| format!("unknown event type `{w}`"))?;
        if types.contains(known) {
            return Err(format!("event type `{w}` is listed twice"));
        }
        types.push(known);
    }
    Ok(types)
}

/// Where a webhook may post: http(s), a host, no credentials, no fragment.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub url: url::Url,
    /// Set when the host is an address literal (checked here, not by DNS).
    pub ip: Option<IpAddr>,
}

pub fn parse_target(text: &str, allow_private: bool) -> Result<Target, String> {
    if text.chars().count() > URL_MAX_CHARS {
        return Err(format!("url must be at most {URL_MAX_CHARS} characters"));
    }
    let url = url::Url::parse(text).map_err(|e| format!("url is not an absolute URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("url must be http or https".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("url must not carry credentials".into());
    }
    if url.fragment().is_some() {
        return Err("url must not have a fragment".into());
    }
    if url.as_str().len() > URL_MAX_CHARS {
        return Err(format!("url must be at most {URL_MAX_CHARS} characters once encoded"));
    }
    let ip = match url.host() {
        None => return Err("url must name a host".into()),
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        Some(url::Host::Domain(_)) => None,
    };
    if let Some(ip) = ip
        && !allow_private
        && let Some(why) = refusal(ip)
    {
        return Err(format!("url points at {ip}, a private, loopback or reserved address: {why}"));
    }
    Ok(Target { url, ip })
}

/// The `Vaultline-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature(secret: &str, unix_secs: i64, body: &[u8]) -> String {
    format!("t={unix_secs},v1={}", hex(&mac(secret, unix_secs, body)))
}

fn mac(secret: &str, unix_secs: i64, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(unix_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// What a receiver does: the header parses, the time is within `tolerance_secs` of `now`,
/// and one `v1` matches (compared in constant time).
pub fn verify(secret: &str, header: &str, body: &[u8], now_unix_secs: i64, tolerance_secs: i64) -> bool {
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => candidates.push(v),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now_unix_secs - t).abs() > tolerance_secs {
        return false;
    }
    candidates.iter().any(|c| {
        let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        m.update(t.to_string().as_bytes());
        m.update(b".");
        m.update(body);
        unhex(c).is_some_and(|bytes| m.verify_slice(&bytes).is_ok())
    })
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// How long to wait after the `attempt`-th failure (1-based): doubling from `base`, at most
/// `cap`, then scaled by `jitter` in [0.5, 1.0] so a recovering receiver is not hit by every
/// retry at once.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let doubled = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    doubled.min(cap).mul_f64(jitter.clamp(0.5, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_targets_are_refused() {
        for url in [
            "http://127.0.0.1/x",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[64:ff9b::a00:1]/",
            "http://[::ffff:0:a00:1]/",
            "http://[64:ff9b:1::a00:1]/",
            "http://[100::1]/",
            "http://192.88.99.1/",
            "http://2130706433/",
            "http://0x7f.1/",
        ] {
            assert!(parse_target(url, false).is_err(), "{url} must be refused");
            assert!(parse_target(url, true).is_ok(), "{url} is allowed when private targets are");
        }
        assert!(parse_target("https://93.184.215.14/hook", false).is_ok());
        assert!(parse_target("https://hooks.example.com/x", false).is_ok());
    }

    #[test]
    fn malformed_targets_are_refused() {
        for url in ["ftp://example.com/", "example.com/x", "http://user:pw@example.com/", "http://example.com/#f", ""] {
            assert!(parse_target(url, true).is_err(), "{url}");
        }
        assert!(parse_target(&format!("https://example.com/{}", "a".repeat(URL_MAX_CHARS)), true).is_err());
    }

    #[test]
    fn signature_verifies_and_rejects_tampering_and_replays() {
        let body = br#"{"id":"e1"}"#;
        let header = signature("whsec_test", 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify("whsec_test", &header, body, 1_700_000_100, 300));
        assert!(!verify("whsec_test", &header, br#"{"id":"e2"}"#, 1_700_000_100, 300));
        assert!(!verify("whsec_other", &header, body, 1_700_000_100, 300));
        assert!(!verify("whsec_test", &header, body, 1_700_000_301, 300), "older than 5 minutes");
        assert!(!verify("whsec_test", "v1=00", body, 1_700_000_000, 300));
    }

    #[test]
    fn event_types_are_known_and_unique() {
        assert_eq!(event_types(&["movement.created".into()]), Ok(vec!["movement.created"]));
        assert!(event_types(&[]).is_err());
        assert!(event_types(&["movement.created".into(), "movement.created".into()]).is_err());
        assert!(event_types(&["movement.*".into()]).is_err());
    }

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter() {
        let (base, cap) = (Duration::from_secs(5), Duration::from_secs(3600));
        assert_eq!(backoff(1, base, cap, 1.0), Duration::from_secs(5));
        assert_eq!(backoff(3, base, cap, 1.0), Duration::from_secs(20));
        assert_eq!(backoff(3, base, cap, 0.5), Duration::from_secs(10));
        assert_eq!(backoff(40, base, cap, 1.0), cap);
    }
}
