//! Money in the API: an exact decimal amount in currency units, with its currency.

use async_graphql::{InputObject, SimpleObject};
use rust_decimal::Decimal;

use crate::{
    domain::money::{self, Money as DomainMoney},
    error::{AppError, AppResult},
};

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
        Some(Self { amount: money::to_major_units(amount, code), currency_code: code.to_owned() })
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
        DomainMoney::parse(self.amount, &self.currency_code).map_err(|e| AppError::bad_input(field, e.to_string()))
    }
}
