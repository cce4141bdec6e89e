//! What a new password must be beyond its length (domain `Password`): not built on the
//! username, and not one of the common breached passwords bundled with the service
//! (`common-passwords.txt`, compiled in: no download at run time).

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::domain::user::Password;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// Checks a new password for `username`; the error is worded for the user.
pub fn check(text: &str, username: &str) -> Result<Password, String> {
    let password = Password::parse(text)?;
    let lower = text.to_lowercase();
    if lower.contains(&username.to_lowercase()) {
        return Err("the password must not contain the username".to_owned());
    }
    if COMMON.contains(lower.as_str()) {
        return Err("that password is on lists of breached passwords; choose another".to_owned());
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_breached_passwords_are_refused() {
        assert!(check("correct horse battery", "ann_lee").is_ok());
        assert!(check("my name is ANN_LEE!", "ann_lee").is_err());
        assert!(check("Password123", "ann_lee").is_err(), "compared case-insensitively");
        assert!(check("qwertyuiop", "ann_lee").is_err());
        assert!(check("short", "ann_lee").is_err());
        assert!(COMMON.len() > 150);
    }
}
