//! Money as integer minor units plus an ISO 4217 currency code. No floats, ever.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An ISO 4217 currency code (three upper-case ASCII letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("'{0}' is not an ISO 4217 currency code (three upper-case letters)")]
    InvalidCurrency(String),
    #[error("'{0}' is not a valid amount")]
    InvalidAmount(String),
    #[error("'{value}' has more than {exponent} decimal places for {currency}")]
    TooPrecise {
        value: String,
        exponent: u32,
        currency: Currency,
    },
    #[error("'{0}' is too large")]
    Overflow(String),
    #[error("amount must not be negative")]
    Negative,
}

impl Currency {
    pub const USD: Currency = Currency(*b"USD");

    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let bytes = code.as_bytes();
        if bytes.len() == 3 && bytes.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency([bytes[0], bytes[1], bytes[2]]))
        } else {
            Err(MoneyError::InvalidCurrency(code.to_owned()))
        }
    }

    pub fn code(&self) -> &str {
        // Constructed only from ASCII upper-case letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Number of decimal places of the currency's minor unit (ISO 4217).
    pub fn exponent(&self) -> u32 {
        match self.code() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An amount of money in the currency's minor unit (cents for USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Self {
        Money { amount, currency }
    }
}

/// Parses a non-negative decimal string such as `"19.99"` into minor units, exactly.
///
/// Trailing zeros beyond the currency's exponent are accepted (`"19.990"`), any other extra
/// precision is refused rather than rounded: an import must not change prices silently.
pub fn parse_decimal(text: &str, currency: Currency) -> Result<i64, MoneyError> {
    let s = text.trim();
    if s.starts_with('-') {
        return Err(MoneyError::Negative);
    }
    let (int_part, frac_part) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    let invalid = || MoneyError::InvalidAmount(text.to_owned());
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
        || (s.contains('.') && frac_part.is_empty() && int_part.is_empty())
    {
        return Err(invalid());
    }
    let exponent = currency.exponent();
    let significant = frac_part.trim_end_matches('0');
    if significant.len() as u32 > exponent {
        return Err(MoneyError::TooPrecise {
            value: text.to_owned(),
            exponent,
            currency,
        });
    }
    let overflow = || MoneyError::Overflow(text.to_owned());
    let mut amount: i64 = 0;
    for b in int_part.bytes() {
        amount = amount
            .checked_mul(10)
            .and_then(|a| a.checked_add(i64::from(b - b'0')))
            .ok_or_else(overflow)?;
    }
    let mut frac_digits = significant.bytes();
    for _ in 0..exponent {
        let digit = frac_digits.next().map_or(0, |b| i64::from(b - b'0'));
        amount = amount
            .checked_mul(10)
            .and_then(|a| a.checked_add(digit))
            .ok_or_else(overflow)?;
    }
    Ok(amount)
}

/// Formats minor units as a plain decimal string (`1999` USD → `"19.99"`), as Shopify's CSV expects.
pub fn format_decimal(amount: i64, currency: Currency) -> String {
    let exponent = currency.exponent();
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{abs}");
    }
    let unit = 10u64.pow(exponent);
    format!(
        "{sign}{}.{:0width$}",
        abs / unit,
        abs % unit,
        width = exponent as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::USD
    }

    #[test]
    fn parses_common_amounts_exactly() {
        assert_eq!(parse_decimal("19.99", usd()), Ok(1999));
        assert_eq!(parse_decimal("19.9", usd()), Ok(1990));
        assert_eq!(parse_decimal("19", usd()), Ok(1900));
        assert_eq!(parse_decimal("0.10", usd()), Ok(10));
        assert_eq!(parse_decimal(".5", usd()), Ok(50));
        assert_eq!(parse_decimal("19.990", usd()), Ok(1999));
        assert_eq!(
            parse_decimal("1500", Currency::parse("JPY").unwrap()),
            Ok(1500)
        );
        assert_eq!(
            parse_decimal("1.234", Currency::parse("KWD").unwrap()),
            Ok(1234)
        );
    }

    #[test]
    fn refuses_what_would_change_the_price() {
        assert!(matches!(
            parse_decimal("19.999", usd()),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(matches!(
            parse_decimal("1.5", Currency::parse("JPY").unwrap()),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert_eq!(parse_decimal("-1", usd()), Err(MoneyError::Negative));
        for bad in ["", ".", "abc", "1,99", "1.2.3", "1e3", "$5", "NaN"] {
            assert!(
                parse_decimal(bad, usd()).is_err(),
                "{bad:?} must be refused"
            );
        }
        assert!(matches!(
            parse_decimal("99999999999999999999", usd()),
            Err(MoneyError::Overflow(_))
        ));
    }

    #[test]
    fn formats_zero_and_negative_amounts() {
        assert_eq!(format_decimal(0, usd()), "0.00");
        assert_eq!(format_decimal(-1999, usd()), "-19.99");
        assert_eq!(format_decimal(5, usd()), "0.05");
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(format_decimal(0, jpy), "0");
        assert_eq!(format_decimal(-300, jpy), "-300");
    }

    #[test]
    fn amounts_with_anything_but_digits_are_refused() {
        for text in [
            "12a", "a.50", "1.5x", "1,50", "1.2.3", ".", "", " ", "+5", "1e3",
        ] {
            assert!(
                matches!(
                    parse_decimal(text, usd()),
                    Err(MoneyError::InvalidAmount(_))
                ),
                "{text:?}: {:?}",
                parse_decimal(text, usd())
            );
        }
    }

    #[test]
    fn currency_codes_are_validated() {
        assert_eq!(Currency::parse("EUR").unwrap().to_string(), "EUR");
        assert!(Currency::parse("EUR").is_ok());
        for bad in ["eur", "EU", "EURO", "€UR", ""] {
            assert!(Currency::parse(bad).is_err());
        }
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(amount in 0i64..i64::MAX / 1000, code in prop::sample::select(vec!["USD", "JPY", "KWD"])) {
            let currency = Currency::parse(code).unwrap();
            let text = format_decimal(amount, currency);
            prop_assert_eq!(parse_decimal(&text, currency), Ok(amount));
        }
    }
}
