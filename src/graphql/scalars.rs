//! Custom scalars: `Cents` (64-bit minor units, sent as a JSON number) and `Money`.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value};

/// An amount in minor units of a currency (cents). A 64-bit integer sent as a JSON
/// number, because GraphQL's `Int` stops at 2^31.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cents(pub i64);

/// An amount in minor units of a currency (cents). A 64-bit integer sent as a JSON
/// number, because GraphQL's `Int` stops at 2^31.
#[Scalar(name = "Cents")]
impl ScalarType for Cents {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => match n.as_i64() {
                Some(v) => Ok(Cents(v)),
                None => Err(InputValueError::custom("Cents must be a whole number of minor units within 64 bits")),
            },
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

/// An amount together with its ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq, SimpleObject)]
pub struct Money {
    /// The amount in minor units.
    pub amount_cents: Cents,
    /// The ISO 4217 currency code, e.g. `EUR`.
    pub currency: String,
}

/// A calendar date without a time zone, `YYYY-MM-DD` (e.g. `2026-12-31`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub chrono::NaiveDate);

impl Date {
    /// Writes `YYYY-MM-DD`. Written out rather than through `format("%Y-%m-%d")`, which
    /// parses its pattern on every call: the tree query writes thousands of due dates.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        use chrono::Datelike;
        use std::io::Write;
        let date = self.0;
        match u32::try_from(date.year()) {
            Ok(year) if year <= 9999 => {
                let digit = |n: u32| b'0' + (n % 10) as u8;
                let (month, day) = (date.month(), date.day());
                out.extend_from_slice(&[
                    digit(year / 1000),
                    digit(year / 100),
                    digit(year / 10),
                    digit(year),
                    b'-',
                    digit(month / 10),
                    digit(month),
                    b'-',
                    digit(day / 10),
                    digit(day),
                ]);
            }
            // Writing to a Vec cannot fail.
            _ => drop(write!(out, "{}", date.format("%Y-%m-%d"))),
        }
    }
}

/// A calendar date without a time zone, `YYYY-MM-DD` (e.g. `2026-12-31`).
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom("a Date is written YYYY-MM-DD, e.g. 2026-12-31")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        let mut text = Vec::with_capacity(10);
        self.write_to(&mut text);
        Value::String(String::from_utf8_lossy(&text).into_owned())
    }
}
