//! Turning a lifetime from the network into a [`Duration`], safely.

use std::time::Duration;

/// The longest lifetime believed from a token endpoint: a year. Longer answers are clamped to it.
pub const MAX_LIFETIME: Duration = Duration::from_secs(366 * 24 * 3600);

/// The unit a provider states its lifetimes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifetimeUnit {
    /// Seconds, as RFC 6749 `expires_in` and Younium's `expiresIn`.
    Seconds,
    /// Milliseconds, as Noyo's `expires_in`.
    Milliseconds,
}

/// Why a lifetime could not be read. Shown in [`Error`](crate::Error) details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidLifetime {
    /// A negative number.
    #[error("the lifetime is negative")]
    Negative,
    /// Not a number, nor a string of digits.
    #[error("the lifetime is not a number")]
    NotANumber,
}

/// Reads a lifetime from a JSON value in `unit`.
///
/// Accepts non-negative integers and finite floats, and (as some servers send) a string of ASCII
/// digits. Rejects negative numbers, other strings, booleans, arrays, objects and `null`. Values
/// beyond [`MAX_LIFETIME`] (including `1e20` or `u64::MAX`) are clamped to it, never overflowed.
///
/// ```
/// use std::time::Duration;
/// use serde_json::json;
/// use tokensource_core::lifetime::{lifetime_from_json, LifetimeUnit, MAX_LIFETIME};
///
/// assert_eq!(lifetime_from_json(&json!(600000), LifetimeUnit::Milliseconds), Ok(Duration::from_secs(600)));
/// assert_eq!(lifetime_from_json(&json!("3600"), LifetimeUnit::Seconds), Ok(Duration::from_secs(3600)));
/// assert_eq!(lifetime_from_json(&json!(1e20), LifetimeUnit::Seconds), Ok(MAX_LIFETIME));
/// assert!(lifetime_from_json(&json!(-1), LifetimeUnit::Seconds).is_err());
/// ```
pub fn lifetime_from_json(
    value: &serde_json::Value,
    unit: LifetimeUnit,
) -> Result<Duration, InvalidLifetime> {
    let number = match value {
        serde_json::Value::Number(n) => n.as_f64().ok_or(InvalidLifetime::NotANumber)?,
        serde_json::Value::String(s)
            if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse::<f64>().map_err(|_| InvalidLifetime::NotANumber)?
        }
        _ => return Err(InvalidLifetime::NotANumber),
    };
    lifetime_from_f64(number, unit)
}

/// Reads a lifetime from a number in `unit`; see [`lifetime_from_json`].
pub fn lifetime_from_f64(number: f64, unit: LifetimeUnit) -> Result<Duration, InvalidLifetime> {
    if number.is_nan() {
        return Err(InvalidLifetime::NotANumber);
    }
    if number < 0.0 {
        return Err(InvalidLifetime::Negative);
    }
    let seconds = match unit {
        LifetimeUnit::Seconds => number,
        LifetimeUnit::Milliseconds => number / 1000.0,
    };
    if seconds >= MAX_LIFETIME.as_secs_f64() {
        return Ok(MAX_LIFETIME);
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn table() {
        let s = LifetimeUnit::Seconds;
        assert_eq!(lifetime_from_json(&json!(0), s), Ok(Duration::ZERO));
        assert_eq!(
            lifetime_from_json(&json!(1.5), s),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(lifetime_from_json(&json!(u64::MAX), s), Ok(MAX_LIFETIME));
        assert_eq!(
            lifetime_from_json(&json!(-0.5), s),
            Err(InvalidLifetime::Negative)
        );
        assert_eq!(
            lifetime_from_json(&json!(i64::MIN), s),
            Err(InvalidLifetime::Negative)
        );
        for bad in [
            json!("soon"),
            json!("-5"),
            json!(""),
            json!(null),
            json!(true),
            json!([1]),
        ] {
            assert_eq!(
                lifetime_from_json(&bad, s),
                Err(InvalidLifetime::NotANumber),
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_stays_bounded(n in proptest::num::f64::ANY) {
            if let Ok(d) = lifetime_from_f64(n, LifetimeUnit::Milliseconds) {
                prop_assert!(d <= MAX_LIFETIME);
            }
        }
    }
}
