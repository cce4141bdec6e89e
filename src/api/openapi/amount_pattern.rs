//! The regular expression of an amount the server accepts: digits, at most `places`
//! decimals, no leading zeros, greater than zero and at most the per-operation maximum.
//! Published as the schema's `pattern` so a client's validator agrees with the parser
//! exactly (the tests compare the two on every amount around the edges).

/// `^…$` matching exactly the amounts in `(0, max_minor]` written with at most `places`
/// decimals. Uses only syntax common to ECMA-262, Python and Rust regular expressions.
pub fn amount_pattern(max_minor: i64, places: u32) -> String {
    assert!(max_minor >= 10_i64.pow(places), "the maximum amount is at least one major unit (config checks it)");
    let scale = 10_i64.pow(places);
    let (max_whole, max_fraction) = (max_minor / scale, max_minor % scale);
    let fraction = |body: String| if places == 0 { String::new() } else { format!("(?:\\.(?:{body}))?") };
    let any_fraction = fraction(format!("[0-9]{{1,{places}}}"));
    let mut branches = Vec::new();
    // Whole part 1..max_whole-1 with any fraction.
    if max_whole > 1 {
        branches.push(format!("(?:{}){any_fraction}", below(&max_whole.to_string())));
    }
    // Exactly the maximum's whole part, with a fraction up to the maximum's.
    let digits = format!("{max_fraction:0width$}", width = places as usize);
    branches.push(format!("{max_whole}{}", fraction(fraction_at_most(&digits))));
    // Below one: a whole part of 0 and a non-zero fraction.
    if places > 0 {
        branches.push(format!("0\\.(?:{})", nonzero_fraction(places)));
    }
    format!("^(?:{})$", branches.join("|"))
}

/// Whole numbers 1..n-1 without leading zeros, `n` given as decimal digits.
fn below(n: &str) -> String {
    let digits: Vec<u32> = n.chars().map(|c| c.to_digit(10).expect("digits")).collect();
    let len = digits.len();
    let mut branches = Vec::new();
    if len > 1 {
        branches.push(if len == 2 { "[1-9]".to_owned() } else { format!("[1-9][0-9]{{0,{}}}", len - 2) });
    }
    for (k, &d) in digits.iter().enumerate() {
        let low = u32::from(k == 0);
        let prefix = &n[..k]; // ASCII digits: byte and character positions agree
        if d > low {
            let rest = len - k - 1;
            let tail = if rest == 0 { String::new() } else { format!("[0-9]{{{rest}}}") };
            branches.push(format!("{prefix}[{low}-{}]{tail}", d - 1));
        }
    }
    branches.join("|")
}

/// Fractions of 1..=digits.len() digits whose value, padded with zeros, is at most `digits`.
fn fraction_at_most(digits: &str) -> String {
    (1..=digits.len()).map(|len| at_most_fixed(&digits[..len])).collect::<Vec<_>>().join("|")
}

/// Strings of exactly `p.len()` digits that are at most `p`.
fn at_most_fixed(p: &str) -> String {
    let mut branches = vec![p.to_owned()];
    for (k, byte) in p.bytes().enumerate() {
        let d = u32::from(byte - b'0');
        if d > 0 {
            let rest = p.len() - k - 1;
            let tail = if rest == 0 { String::new() } else { format!("[0-9]{{{rest}}}") };
            branches.push(format!("{}[0-{}]{tail}", &p[..k], d - 1)); // ASCII: k is a byte position
        }
    }
    branches.join("|")
}

/// Fractions of 1..=places digits that are not all zeros.
fn nonzero_fraction(places: u32) -> String {
    (0..places)
        .map(|zeros| {
            let rest = places - zeros - 1;
            let tail = if rest == 0 { String::new() } else { format!("[0-9]{{0,{rest}}}") };
            format!("{}[1-9]{tail}", "0".repeat(zeros as usize))
        })
        .collect::<Vec<_>>()
        .join("|")
}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;
    use crate::domain::money::{Currency, MoneyPolicy};

    /// Every text the parser accepts matches, and nothing else does.
    fn agrees(max: &str, places: u32) {
        let policy = MoneyPolicy::from_config(Currency::new("CNY", places).unwrap(), max).unwrap();
        let pattern = amount_pattern(policy.max_amount_minor(), places);
        let re = Regex::new(&pattern).unwrap();
        let mut texts: Vec<String> = Vec::new();
        let max_whole = policy.max_amount_minor() / 10_i64.pow(places);
        let wholes: Vec<i64> = (0..=12).chain(max_whole.saturating_sub(12)..=max_whole + 12).collect();
        let fractions = ["", ".", ".0", ".00", ".000", ".01", ".1", ".5", ".09", ".10", ".99", ".999", ".05", ".50"];
        for whole in wholes {
            for fraction in fractions {
                texts.push(format!("{whole}{fraction}"));
                texts.push(format!("0{whole}{fraction}"));
            }
        }
        texts.extend(["", ".5", "-1", "+1", "1e3", " 1", "1 ", "1,0", "00.5", "0x1"].map(String::from));
        for text in texts {
            assert_eq!(re.is_match(&text), policy.parse(&text).is_ok(), "{text:?} against {pattern} (max {max})");
        }
    }

    #[test]
    fn pattern_and_parser_agree() {
        agrees("1000000.00", 2);
        agrees("50000.00", 2);
        agrees("12345.67", 2);
        agrees("1", 2);
        agrees("9.99", 2);
        agrees("100", 0);
        agrees("1234.5678", 4);
        agrees("10.05", 3);
    }
}
