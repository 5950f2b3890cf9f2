//! Money in the API: an exact decimal amount in currency units, with its currency.

use std::str::FromStr;

use async_graphql::{InputObject, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value};

use crate::{
    domain::money::{self, Money as DomainMoney},
    error::{AppError, AppResult},
};

/// An exact decimal number, carried as a string so no client parses it into a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal(pub rust_decimal::Decimal);

/// A decimal number as a string, e.g. "1200.50"; exact, never a float.
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) if text.len() <= 40 => rust_decimal::Decimal::from_str(text.trim())
                .map(Self)
                .map_err(|_| InputValueError::custom("expected a decimal number such as \"1200.50\"")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// An exact amount of money.
#[derive(SimpleObject, Clone, Debug)]
pub struct Money {
    /// Amount in currency units, e.g. "1200.50".
    pub amount: Decimal,
    /// ISO 4217 currency code, e.g. "USD".
    pub currency_code: String,
}

impl Money {
    /// Money from stored minor units, when both parts are present.
    pub fn from_minor(amount: Option<i64>, currency_code: Option<&str>) -> Option<Self> {
        let (amount, code) = (amount?, currency_code?);
        Some(Self { amount: Decimal(money::to_major_units(amount, code)), currency_code: code.to_owned() })
    }
}

/// An amount of money as a client sends it.
#[derive(InputObject, Clone, Debug)]
pub struct MoneyInput {
    /// Amount in currency units, e.g. "1200.50"; at most the currency's decimal places.
    pub amount: Decimal,
    /// ISO 4217 currency code, e.g. "USD".
    pub currency_code: String,
}

impl MoneyInput {
    /// Parses into exact money; errors name `field`.
    pub fn parse(&self, field: &str) -> AppResult<DomainMoney> {
        DomainMoney::parse(self.amount.0, &self.currency_code).map_err(|e| AppError::bad_input(field, e.to_string()))
    }
}
