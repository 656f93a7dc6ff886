//! Lifetimes from the network and from JWT claims: any JSON value gives a lifetime of at most a
//! year or an error, never a panic; a JWT's claims, whatever they hold, only ever shorten a
//! token's lifetime.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::{Map, Value};
use tokensource::Token;
use tokensource::extend::lifetime::{LifetimeUnit, MAX_LIFETIME, lifetime_from_json};

/// Any JSON value, nested a little.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[0-9]{0,25}".prop_map(Value::from),
        "-?[0-9.eE+-]{0,12}".prop_map(Value::from),
        ".{0,10}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JWT-shaped token whose claims are `claims`, header and signature as given.
fn jwt(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
    format!(
        "{header}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

proptest! {
    #[test]
    fn any_json_value_is_a_bounded_lifetime_or_an_error(value in any_json()) {
        for unit in [LifetimeUnit::Seconds, LifetimeUnit::Milliseconds] {
            if let Ok(lifetime) = lifetime_from_json(&value, unit) {
                prop_assert!(lifetime <= MAX_LIFETIME);
            }
        }
    }

    /// Claims of any type and value (`exp` and `iat` included) never make a token live longer
    /// than announced, or than a year.
    #[test]
    fn jwt_claims_only_shorten_lifetimes(
        exp in any_json(),
        iat in any_json(),
        others in prop::collection::btree_map("[a-z]{1,4}", any_json(), 0..3),
        announced in proptest::option::of(any::<u64>()),
        issued_ms in 0u64..(u64::MAX >> 4),
    ) {
        let mut claims: Map<String, Value> = others.into_iter().collect();
        claims.insert("exp".into(), exp);
        claims.insert("iat".into(), iat);
        let mut builder = Token::builder(jwt(&Value::Object(claims)))
            .issued_at(UNIX_EPOCH + Duration::from_millis(issued_ms));
        if let Some(secs) = announced {
            builder = builder.expires_in(Duration::from_secs(secs));
        }
        let token = builder.build().map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Some(lifetime) = token.lifetime() {
            prop_assert!(lifetime <= MAX_LIFETIME);
            if let Some(secs) = announced {
                prop_assert!(lifetime <= Duration::from_secs(secs));
            }
            let _ = token.expires_at();
        }
    }

    /// Arbitrary visible-ASCII tokens (dots and all) build, and their lifetime is bounded.
    #[test]
    fn arbitrary_tokens_build_with_bounded_lifetimes(
        secret in "[!-~]{1,300}",
        dotted in prop::collection::vec("[A-Za-z0-9_=-]{0,40}", 3),
    ) {
        for text in [secret, dotted.join(".")] {
            if text.is_empty() || text == ".." {
                continue;
            }
            let token = Token::builder(text).build().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(token.lifetime().is_none_or(|l| l <= MAX_LIFETIME));
        }
    }
}
