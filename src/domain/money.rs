//! Money as integer minor units. Text in the contract's format is the only way in,
//! so an `Amount` that exists is always positive, within the configured maximum and
//! exact to the currency's places. No floating point is involved anywhere.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

/// Hard ceiling for any configured per-operation maximum, in minor units. Keeps every
/// sum of a bounded number of amounts far below `i64::MAX` (9.2e18).
pub const ABSOLUTE_MAX_MINOR: i64 = 1_000_000_000_000_000;

/// Longest amount text we even look at; anything longer is malformed by definition.
const MAX_TEXT_LEN: usize = 32;

/// Currencies keep at most this many decimal places (ISO 4217 has none beyond 4).
pub const MAX_PLACES: u32 = 4;

/// ISO 4217 code and the number of minor-unit places.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Currency {
    code: String,
    places: u32,
}

impl Currency {
    pub fn new(code: &str, places: u32) -> Result<Self, String> {
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!("`{code}` is not a three-letter upper-case ISO 4217 code"));
        }
        if places > MAX_PLACES {
            return Err(format!("{places} decimal places is more than the supported {MAX_PLACES}"));
        }
        Ok(Self { code: code.to_owned(), places })
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn places(&self) -> u32 {
        self.places
    }

    /// Prints minor units with exactly the currency's places: `1200` -> `"12.00"`.
    pub fn format_minor(&self, amount_minor: i64) -> String {
        Decimal::new(amount_minor, self.places).to_string()
    }
}

/// What every amount entering the system must satisfy.
#[derive(Clone, Debug)]
pub struct MoneyPolicy {
    currency: Currency,
    max_amount_minor: i64,
}

impl MoneyPolicy {
    pub fn new(currency: Currency, max_amount_minor: i64) -> Result<Self, String> {
        if max_amount_minor < 10_i64.pow(currency.places()) || max_amount_minor > ABSOLUTE_MAX_MINOR {
            return Err(format!(
                "the maximum amount must be at least 1 and at most {}",
                currency.format_minor(ABSOLUTE_MAX_MINOR)
            ));
        }
        Ok(Self { currency, max_amount_minor })
    }

    /// Builds the policy from configuration text such as `"1000000.00"`.
    pub fn from_config(currency: Currency, max_amount: &str) -> Result<Self, String> {
        let minor = parse_minor(max_amount, currency.places()).map_err(|e| e.to_string())?;
        Self::new(currency, minor)
    }

    pub fn currency(&self) -> &Currency {
        &self.currency
    }

    pub fn max_amount_minor(&self) -> i64 {
        self.max_amount_minor
    }

    /// Parses the contract's money text into an [`Amount`].
    pub fn parse(&self, text: &str) -> Result<Amount, AmountError> {
        let minor = parse_minor(text, self.currency.places())?;
        if minor == 0 {
            return Err(AmountError::Zero);
        }
        if minor > self.max_amount_minor {
            return Err(AmountError::TooLarge { max: self.currency.format_minor(self.max_amount_minor) });
        }
        Ok(Amount(minor))
    }

    pub fn format(&self, amount_minor: i64) -> String {
        self.currency.format_minor(amount_minor)
    }
}

/// A positive amount of money, in minor units, within the per-operation maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

impl Amount {
    pub fn minor(self) -> i64 {
        self.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount must be a JSON string such as \"12.50\", not a JSON number or other value")]
    NotAString,
    #[error("amount must not be empty")]
    Empty,
    #[error(
        "amount must be digits with an optional decimal point (no sign, exponent, leading zeros, spaces or separators)"
    )]
    Malformed,
    #[error("amount has more than {places} decimal places")]
    TooManyPlaces { places: u32 },
    #[error("amount must be greater than zero")]
    Zero,
    #[error("amount exceeds the maximum of {max} per operation")]
    TooLarge { max: String },
}

/// `digits[.digits]` with at most `places` fractional digits -> minor units (may be 0).
/// Money text (no sign) in minor units, zero allowed: for configuration values.
pub fn parse_minor_text(text: &str, places: u32) -> Result<i64, AmountError> {
    parse_minor(text, places)
}

fn parse_minor(text: &str, places: u32) -> Result<i64, AmountError> {
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    if text.len() > MAX_TEXT_LEN {
        return Err(AmountError::Malformed);
    }
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // One way to write each amount: "007.50" is refused like any other stray character.
    let leading_zero = whole.len() > 1 && whole.starts_with('0');
    if !all_digits(whole) || leading_zero || fraction.is_some_and(|f| !all_digits(f)) {
        return Err(AmountError::Malformed);
    }
    let fraction = fraction.unwrap_or("");
    if fraction.len() > places as usize {
        return Err(AmountError::TooManyPlaces { places });
    }
    // The text is now plain ASCII digits, so Decimal parsing is exact and cannot see
    // the forms it would otherwise accept (underscores, signs, exponents).
    let value = Decimal::from_str(text).map_err(|_| AmountError::Malformed)?;
    let scaled = value
        .checked_mul(Decimal::from(10_i64.pow(places)))
        .ok_or(AmountError::TooLarge { max: String::from("the supported range") })?;
    debug_assert!(scaled.fract().is_zero());
    i64::try_from(scaled.trunc()).map_err(|_| AmountError::TooLarge { max: String::from("the supported range") })
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} minor units", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny() -> MoneyPolicy {
        MoneyPolicy::from_config(Currency::new("CNY", 2).unwrap(), "1000000.00").unwrap()
    }

    #[test]
    fn accepts_the_contract_forms() {
        let p = cny();
        for (text, minor) in [
            ("1280.50", 128_050),
            ("12", 1_200),
            ("12.5", 1_250),
            ("0.01", 1),
            ("0.1", 10),
            ("1000000.00", 100_000_000),
            ("1000000", 100_000_000),
        ] {
            assert_eq!(p.parse(text).map(Amount::minor), Ok(minor), "{text}");
        }
    }

    #[test]
    fn refuses_every_bad_form() {
        let p = cny();
        let malformed = [
            "-1", "+1", "1e3", "1E3", "1.2e1", " 1", "1 ", "1 000", "1,000", "1_000", "NaN", "nan", "inf", "Infinity",
            ".5", "5.", ".", "1.2.3", "0x10", "１", "1.0\n", "\t1", "12abc", "--1", "007.00", "00", "01",
        ];
        for text in malformed {
            assert_eq!(p.parse(text), Err(AmountError::Malformed), "{text:?}");
        }
        assert_eq!(p.parse(""), Err(AmountError::Empty));
        assert_eq!(p.parse("1.001"), Err(AmountError::TooManyPlaces { places: 2 }));
        assert_eq!(p.parse("0.000"), Err(AmountError::TooManyPlaces { places: 2 }));
        for zero in ["0", "0.0", "0.00"] {
            assert_eq!(p.parse(zero), Err(AmountError::Zero), "{zero}");
        }
        assert!(matches!(p.parse("1000000.01"), Err(AmountError::TooLarge { .. })));
        assert!(matches!(p.parse("99999999999999999999"), Err(AmountError::TooLarge { .. })));
        assert_eq!(p.parse(&"9".repeat(40)), Err(AmountError::Malformed));
    }

    #[test]
    fn prints_exactly_the_currency_places() {
        let p = cny();
        assert_eq!(p.format(1_200), "12.00");
        assert_eq!(p.format(1), "0.01");
        assert_eq!(p.format(0), "0.00");
        assert_eq!(p.format(-150), "-1.50");
        assert_eq!(p.format(100_000_000), "1000000.00");
        let jpy = Currency::new("JPY", 0).unwrap();
        assert_eq!(jpy.format_minor(1_200), "1200");
    }

    #[test]
    fn zero_place_currency_refuses_any_point() {
        let p = MoneyPolicy::from_config(Currency::new("JPY", 0).unwrap(), "1000000").unwrap();
        assert_eq!(p.parse("15").map(Amount::minor), Ok(15));
        assert_eq!(p.parse("15.0"), Err(AmountError::TooManyPlaces { places: 0 }));
    }

    #[test]
    fn configuration_is_checked() {
        assert!(Currency::new("cny", 2).is_err());
        assert!(Currency::new("CNY", 5).is_err());
        let c = Currency::new("CNY", 2).unwrap();
        assert!(MoneyPolicy::from_config(c.clone(), "0").is_err());
        assert!(MoneyPolicy::from_config(c.clone(), "0.99").is_err(), "a maximum below one major unit");
        assert!(MoneyPolicy::from_config(c.clone(), "abc").is_err());
        assert!(MoneyPolicy::from_config(c, "100000000000000.00").is_err());
    }

    #[test]
    fn parse_and_format_round_trip() {
        let p = cny();
        for minor in [1_i64, 9, 10, 99, 100, 12_345, 99_999_999, 100_000_000] {
            let text = p.format(minor);
            assert_eq!(p.parse(&text).map(Amount::minor), Ok(minor));
        }
    }
}
