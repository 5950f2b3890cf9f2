//! Money as an integer amount of minor units with an ISO 4217 currency code.

use rust_decimal::Decimal;

/// An amount of money, exact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Money {
    /// Amount in minor units (cents for USD).
    pub minor_units: i64,
    pub currency_code: String,
}

/// Why an amount or currency was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency code must be three upper-case letters, such as USD")]
    Currency,
    #[error("must not be negative")]
    Negative,
    #[error("has more decimal places than {0} allows")]
    Precision(String),
    #[error("is too large")]
    Overflow,
}

impl Money {
    /// Parses an amount in currency units ("1200.50") for a currency code ("USD").
    pub fn parse(amount: Decimal, currency_code: &str) -> Result<Self, MoneyError> {
        let code = currency_code.trim();
        if code.len() != 3 || !code.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(MoneyError::Currency);
        }
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(MoneyError::Negative);
        }
        let exponent = minor_unit_exponent(code);
        let scaled = amount.checked_mul(Decimal::from(10_i64.pow(exponent))).ok_or(MoneyError::Overflow)?;
        if scaled.fract() != Decimal::ZERO {
            return Err(MoneyError::Precision(code.to_owned()));
        }
        let minor_units = i64::try_from(scaled).map_err(|_| MoneyError::Overflow)?;
        Ok(Self { minor_units, currency_code: code.to_owned() })
    }

    /// The amount in currency units, exact.
    pub fn amount(&self) -> Decimal {
        to_major_units(self.minor_units, &self.currency_code)
    }
}

/// Converts minor units of a currency to an exact decimal amount in currency units.
pub fn to_major_units(minor_units: i64, currency_code: &str) -> Decimal {
    Decimal::new(minor_units, minor_unit_exponent(currency_code))
}

/// Digits after the decimal point in the currency's minor unit (ISO 4217).
pub fn minor_unit_exponent(currency_code: &str) -> u32 {
    match currency_code {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI" | "VND"
        | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_default()
    }

    #[test]
    fn amounts_become_minor_units_exactly() {
        assert_eq!(Money::parse(dec("1200.50"), "USD").map(|m| m.minor_units), Ok(120_050));
        assert_eq!(Money::parse(dec("1200"), "JPY").map(|m| m.minor_units), Ok(1200));
        assert_eq!(Money::parse(dec("1.234"), "KWD").map(|m| m.minor_units), Ok(1234));
        assert_eq!(Money::parse(dec("0"), "EUR").map(|m| m.minor_units), Ok(0));
    }

    #[test]
    fn bad_amounts_are_refused() {
        assert_eq!(Money::parse(dec("-1"), "USD"), Err(MoneyError::Negative));
        assert!(matches!(Money::parse(dec("1.001"), "USD"), Err(MoneyError::Precision(_))));
        assert_eq!(Money::parse(dec("1"), "usd"), Err(MoneyError::Currency));
        assert_eq!(Money::parse(dec("1"), "DOLLARS"), Err(MoneyError::Currency));
        assert_eq!(Money::parse(Decimal::MAX, "USD"), Err(MoneyError::Overflow));
    }

    #[test]
    fn minor_units_round_trip() {
        assert_eq!(to_major_units(120_050, "USD").to_string(), "1200.50");
        assert_eq!(to_major_units(1200, "JPY").to_string(), "1200");
    }
}
