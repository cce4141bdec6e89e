//! Text a person reads (display names, notes, descriptions, merchant names, reasons):
//! one rule, written once as a regular expression that the server checks and the OpenAPI
//! document publishes, so a client validating against the schema agrees with the server.
//!
//! Refused: control characters (Cc), invisible format characters (Cf: zero-width spaces,
//! bidi overrides such as U+202E that make "txt.exe" read "exe.txt"), and whitespace or
//! joiners at either end. Joiners (U+200C, U+200D) are allowed inside, between visible
//! characters, because emoji sequences and some scripts need them. Nothing is trimmed:
//! what is stored is what was sent.

use std::sync::LazyLock;

use regex::Regex;

/// Cc and the format characters of the Basic Multilingual Plane except the two joiners.
const FORBIDDEN: &str = r"\u0000-\u001F\u007F-\u009F\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890\u0891\u08E2\u180E\u200B\u200E\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB";
/// Characters allowed inside but not at either end: spaces and the joiners.
const NOT_AT_EDGES: &str = r"\u0020\u00A0\u1680\u2000-\u200A\u200C\u200D\u2028\u2029\u202F\u205F\u3000";

/// The published pattern of a required text (at least one visible character).
pub fn pattern() -> String {
    format!("^[^{FORBIDDEN}{NOT_AT_EDGES}](?:[^{FORBIDDEN}]*[^{FORBIDDEN}{NOT_AT_EDGES}])?$")
}

/// The published pattern of an optional text: the same, or empty (meaning none).
pub fn optional_pattern() -> String {
    format!("^(?:[^{FORBIDDEN}{NOT_AT_EDGES}](?:[^{FORBIDDEN}]*[^{FORBIDDEN}{NOT_AT_EDGES}])?)?$")
}

static REQUIRED: LazyLock<Regex> = LazyLock::new(|| Regex::new(&pattern()).expect("the text pattern compiles"));

/// Checks `text` for the field `field`: 1..=`max_chars` characters (Unicode scalar values).
pub fn visible(field: &str, text: &str, max_chars: usize) -> Result<String, String> {
    let chars = text.chars().count();
    if chars == 0 {
        return Err(format!("{field} must not be empty"));
    }
    if chars > max_chars {
        return Err(format!("{field} must be at most {max_chars} characters"));
    }
    if !REQUIRED.is_match(text) {
        return Err(format!(
            "{field} must be visible text: no control or invisible formatting characters, and no spaces at either end"
        ));
    }
    Ok(text.to_owned())
}

/// Like [`visible`], but the empty string means "none".
pub fn optional_visible(field: &str, text: &str, max_chars: usize) -> Result<Option<String>, String> {
    if text.is_empty() { Ok(None) } else { visible(field, text, max_chars).map(Some) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_text_passes() {
        for ok in ["Ann", "a", "Ann Lee", "李小龙", "café au lait", "👨\u{200D}👩\u{200D}👧 family", "x\u{00A0}y", "🙂"]
        {
            assert_eq!(visible("name", ok, 64).as_deref(), Ok(ok), "{ok:?}");
        }
    }

    #[test]
    fn invisible_and_edgy_text_is_refused() {
        for bad in [
            " Ann",
            "Ann ",
            "\tAnn",
            "Ann\n",
            "A\u{0000}B",
            "A\u{007F}",
            "\u{200B}",
            "\u{200B}\u{200B}",
            "\u{200D}",
            "abc\u{202E}txt.exe",
            "\u{FEFF}Ann",
            "A\u{2066}B",
            "   ",
            "\u{3000}",
            "a\u{00AD}b",
        ] {
            assert!(visible("name", bad, 64).is_err(), "{bad:?}");
        }
        assert!(visible("name", "", 64).is_err());
        assert!(visible("name", &"x".repeat(65), 64).is_err());
        assert_eq!(visible("name", &"é".repeat(64), 64).map(|s| s.chars().count()), Ok(64));
    }

    #[test]
    fn optional_text_takes_empty_as_none() {
        assert_eq!(optional_visible("note", "", 140), Ok(None));
        assert_eq!(optional_visible("note", "rent", 140), Ok(Some("rent".to_owned())));
        assert!(optional_visible("note", " ", 140).is_err());
        let optional = Regex::new(&optional_pattern()).unwrap();
        assert!(optional.is_match("") && optional.is_match("rent") && !optional.is_match(" "));
    }
}
