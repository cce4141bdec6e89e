//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits, what every
//! authenticator app speaks), their Base32 secrets (RFC 4648), and recovery codes.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Seconds per time step.
pub const STEP_SECS: i64 = 30;
const DIGITS: u32 = 6;
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A new 160-bit secret, Base32 (RFC 4226 recommends 160 bits for HMAC-SHA1).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    base32(&bytes)
}

/// RFC 4648 Base32 without padding.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes Base32 (case and spaces ignored, padding allowed); `None` for anything else.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let value = ALPHABET.iter().position(|&a| a as char == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// The code of one time step (RFC 4226's HOTP with the step as counter).
pub fn code_at_step(secret: &[u8], step: i64, digits: u32) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&step.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([hash[offset] & 0x7f, hash[offset + 1], hash[offset + 2], hash[offset + 3]]);
    format!("{:0width$}", binary % 10u32.pow(digits), width = digits as usize)
}

/// The step a unix time falls in.
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The step `code` is valid for, if it is valid now or one step either side (clock drift),
/// and later than `last_step` (a code works once: a code seen over a shoulder or replayed
/// from a log is spent).
pub fn verify(secret_base32: &str, code: &str, unix_secs: i64, last_step: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secret = from_base32(secret_base32)?;
    let now = step_of(unix_secs);
    (now - 1..=now + 1)
        .filter(|step| *step > last_step)
        .find(|step| constant_time_eq(code_at_step(&secret, *step, DIGITS).as_bytes(), code.as_bytes()))
}

/// The `otpauth://` URI an authenticator app imports.
pub fn provisioning_uri(issuer: &str, account: &str, secret_base32: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "otpauth://totp/{}:{}?secret={secret_base32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

/// Ten single-use recovery codes, `xxxxx-xxxxx` of Base32 (50 random bits each).
pub fn new_recovery_codes() -> Vec<String> {
    (0..10)
        .map(|_| {
            let mut bytes = [0u8; 7];
            getrandom::fill(&mut bytes).expect("the operating system's random source");
            let text = base32(&bytes).to_lowercase();
            format!("{}-{}", &text[..5], &text[5..10])
        })
        .collect()
}

/// What is stored of a recovery code: its SHA-256 (the code itself has 50 random bits, so a
/// slow hash adds nothing), of the code as typed without case or dashes.
pub fn recovery_code_hash(code: &str) -> String {
    let normal: String = code.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
    Sha256::digest(normal.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1, with its 20-byte ASCII seed and 8 digits.
    #[test]
    fn rfc_6238_test_vectors() {
        let seed = b"12345678901234567890";
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, expected) in vectors {
            assert_eq!(code_at_step(seed, step_of(time), 8), expected, "T = {time}");
        }
    }

    #[test]
    fn base32_round_trips_rfc_4648_vectors() {
        for (plain, encoded) in [("f", "MY"), ("fo", "MZXQ"), ("foo", "MZXW6"), ("foobar", "MZXW6YTBOI")] {
            assert_eq!(base32(plain.as_bytes()), encoded);
            assert_eq!(from_base32(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(from_base32("mzxw 6==="), Some(b"foo".to_vec()));
        assert_eq!(from_base32("MZ1"), None, "1 is not Base32");
    }

    #[test]
    fn a_code_works_in_its_window_and_only_once() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let code = code_at_step(&from_base32(&secret).unwrap(), step_of(now), 6);
        let step = verify(&secret, &code, now, 0).expect("valid now");
        assert_eq!(verify(&secret, &code, now + 30, 0), Some(step), "one step of drift");
        assert_eq!(verify(&secret, &code, now + 90, 0), None, "too late");
        assert_eq!(verify(&secret, &code, now, step), None, "spent");
        assert_eq!(verify(&secret, "12345", now, 0), None);
        assert_eq!(verify(&secret, "abcdef", now, 0), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_hash_as_typed_loosely() {
        let codes = new_recovery_codes();
        assert_eq!(codes.iter().collect::<std::collections::HashSet<_>>().len(), 10);
        assert_eq!(recovery_code_hash(&codes[0]), recovery_code_hash(&codes[0].to_uppercase().replace('-', "")));
    }
}
