//! Money as the contract writes it: a JSON string. Any other JSON value is accepted by the
//! body parser and then refused as `invalid_amount`, not as a generic shape error.

use serde::{Deserialize, Deserializer};

use crate::domain::money::{Amount, AmountError, MoneyPolicy};
use crate::error::ApiError;

#[derive(Debug)]
pub struct MoneyText(Option<String>);

impl<'de> Deserialize<'de> for MoneyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(text) => MoneyText(Some(text)),
            _ => MoneyText(None),
        })
    }
}

impl MoneyText {
    pub fn parse(&self, policy: &MoneyPolicy) -> Result<Amount, ApiError> {
        let text = self.0.as_deref().ok_or(ApiError::InvalidAmount(AmountError::NotAString))?;
        Ok(policy.parse(text)?)
    }
}
