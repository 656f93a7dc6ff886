//! Reading the `exp` and `iat` claims of a JWT access token, as a hint only.
//!
//! The signature is not verified: the token is opaque to its bearer, and these claims only make
//! the cache refresh earlier, never later, than the provider's own answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The longest JWT payload decoded; longer tokens are not treated as JWTs.
const MAX_PAYLOAD_LEN: usize = 8 * 1024;

/// The time claims of a JWT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claims {
    pub(crate) expires_at: Option<SystemTime>,
    pub(crate) issued_at: Option<SystemTime>,
}

impl Claims {
    /// How long the token lives counted from `received`, by these claims.
    ///
    /// Normally `exp - received`. When that is not positive but the issuer's own `iat` says the
    /// token lives (the local clock runs ahead of the issuer's), `exp - iat` is used instead, so a
    /// skewed clock does not make every token look expired.
    pub(crate) fn lifetime_from(&self, received: SystemTime) -> Option<Duration> {
        let exp = self.expires_at?;
        match exp.duration_since(received) {
            Ok(left) if !left.is_zero() => Some(left),
            _ => Some(
                self.issued_at
                    .and_then(|iat| exp.duration_since(iat).ok())
                    .unwrap_or(Duration::ZERO),
            ),
        }
    }
}

/// The claims of `token` when it looks like a JWT (three dot-separated base64url parts with a
/// JSON object in the middle) that carries an `exp` claim.
pub(crate) fn claims(token: &str) -> Option<Claims> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || payload.len() > MAX_PAYLOAD_LEN {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let object = value.as_object()?;
    let expires_at = object.get("exp").and_then(numeric_date);
    expires_at?;
    Some(Claims {
        expires_at,
        issued_at: object.get("iat").and_then(numeric_date),
    })
}

/// An RFC 7519 NumericDate: seconds since the epoch, possibly fractional. Out-of-range values
/// are ignored rather than trusted.
fn numeric_date(value: &serde_json::Value) -> Option<SystemTime> {
    let seconds = value.as_f64()?;
    // Year 1970 to roughly year 33658: anything else is not a date.
    if !(0.0..=1.0e12).contains(&seconds) {
        return None;
    }
    Some(UNIX_EPOCH + Duration::from_secs_f64(seconds))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An unsigned JWT with the given payload, for tests.
    pub(crate) fn jwt(payload: &serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(payload.to_string());
        format!("{header}.{body}.c2ln")
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn reads_exp_and_iat() {
        let c = claims(&jwt(&serde_json::json!({"exp": 2000, "iat": 1400}))).unwrap();
        assert_eq!(c.expires_at, Some(at(2000)));
        assert_eq!(c.lifetime_from(at(1500)), Some(Duration::from_secs(500)));
        // Local clock ahead of the issuer's: fall back to exp - iat.
        assert_eq!(c.lifetime_from(at(2100)), Some(Duration::from_secs(600)));
    }

    #[test]
    fn ignores_non_jwts_and_junk_claims() {
        assert_eq!(claims("opaque-token"), None);
        assert_eq!(claims("a.b.c"), None);
        assert_eq!(claims(&jwt(&serde_json::json!({"sub": "x"}))), None);
        assert_eq!(claims(&jwt(&serde_json::json!({"exp": "soon"}))), None);
        assert_eq!(claims(&jwt(&serde_json::json!({"exp": -5}))), None);
        assert_eq!(claims(&jwt(&serde_json::json!({"exp": 1e300}))), None);
        assert_eq!(claims(&jwt(&serde_json::json!([1, 2]))), None);
    }
}
