//! Each provider's public response parser is the one its token source uses: for any 200 body,
//! the parser and a real fetch over loopback HTTP from the test kit's server agree. And for every
//! provider, a JWT's `exp` bounds the announced lifetime.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tokensource::client_credentials::ClientCredentialsTokenSource;
use tokensource::extend::lifetime::MAX_LIFETIME;
use tokensource::noyo::NoyoTokenSource;
use tokensource::younium::{YouniumAuthVersion, YouniumTokenSource};
use tokensource::{Error, Token, TokenSource};
use tokensource_testkit::{MockServer, NoyoMock, OAuth2Mock, RawResponse, YouniumMock};

const CLIENT_ID: &str = "property-client";
const SECRET: &str = "property-secret";

fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Bodies worth comparing: arbitrary bytes, and JSON objects over the providers' field names.
fn any_body() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u64..100_000_000).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[!-~]{0,24}".prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop_oneof![Just("Bearer"), Just("bearer"), Just("MAC")].prop_map(Value::from),
        Just(Value::from("Sun, 21 Sep 2025 11:12:01 GMT")),
        prop::collection::vec("[a-z ]{0,8}".prop_map(Value::from), 0..3).prop_map(Value::from),
    ];
    let field = prop_oneof![
        Just("accessToken"),
        Just("access_token"),
        Just("expiresIn"),
        Just("expires_in"),
        Just("expires"),
        Just("refreshToken"),
        Just("refresh_token"),
        Just("token_type"),
        Just("tokenType"),
        Just("scope"),
        Just("errors"),
        Just("error"),
        Just("message"),
    ];
    let object = prop::collection::vec((field, value), 0..6).prop_map(|fields| {
        let object: Map<String, Value> =
            fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        Value::Object(object).to_string().into_bytes()
    });
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..64),
        4 => object,
    ]
}

/// The two results agree: the same secret and (within the seconds between the two) lifetime,
/// or the same kind of error with the same description.
fn assert_same(parsed: &Result<Token, Error>, fetched: &Result<Token, Error>) {
    match (parsed, fetched) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.expose_secret(), b.expose_secret());
            assert_eq!(a.token_type(), b.token_type());
            assert_eq!(a.scopes(), b.scopes());
            match (a.lifetime(), b.lifetime()) {
                (Some(a), Some(b)) => {
                    assert!(a.abs_diff(b) <= Duration::from_secs(5), "{a:?} {b:?}")
                }
                (a, b) => assert_eq!(a, b),
            }
        }
        (Err(a), Err(b)) => {
            assert_eq!((a.kind(), a.detail()), (b.kind(), b.detail()), "{a} / {b}");
            assert_eq!(a.provider_message(), b.provider_message());
        }
        _ => panic!("the parser said {parsed:?}, the source {fetched:?}"),
    }
}

/// Checks `body` (answered with a 200 by `server`) through `parse` and through `source`.
fn compare(
    server: &MockServer,
    source: &dyn TokenSource,
    body: &[u8],
    parse: impl Fn(&[u8]) -> Result<Token, Error>,
) {
    server.clear_faults();
    server.fail_always(RawResponse::new(200).body(body.to_vec()));
    let fetched = block_on(source.token());
    assert_same(&parse(body), &fetched);
}

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig::with_cases(n)
}

#[test]
fn younium_parser_is_the_sources() {
    let server = block_on(MockServer::younium(YouniumMock::new(CLIENT_ID, SECRET)).start());
    let sources = [YouniumAuthVersion::V1, YouniumAuthVersion::V2].map(|version| {
        YouniumTokenSource::builder(CLIENT_ID, SECRET)
            .auth_version(version)
            .token_url(server.token_url())
            .build()
            .unwrap()
    });
    proptest!(cases(96), |(body in any_body(), v2 in any::<bool>())| {
        let source = &sources[usize::from(v2)];
        compare(&server, source, &body, |b| {
            tokensource::younium::parse_token_response(b, source.auth_version(), SystemTime::now())
        });
    });
}

#[test]
fn noyo_parser_is_the_sources() {
    let server = block_on(MockServer::noyo(NoyoMock::new(CLIENT_ID, SECRET)).start());
    let source = NoyoTokenSource::builder(CLIENT_ID, SECRET)
        .token_url(server.token_url())
        .build()
        .unwrap();
    proptest!(cases(96), |(body in any_body())| {
        compare(&server, &source, &body, |b| {
            tokensource::noyo::parse_token_response(b, SystemTime::now())
        });
    });
}

#[test]
fn client_credentials_parser_is_the_sources() {
    let server = block_on(MockServer::oauth2(OAuth2Mock::new(CLIENT_ID, SECRET)).start());
    let source = ClientCredentialsTokenSource::builder(server.token_url(), CLIENT_ID, SECRET)
        .build()
        .unwrap();
    proptest!(cases(96), |(body in any_body())| {
        compare(&server, &source, &body, |b| {
            tokensource::client_credentials::parse_token_response(b, SystemTime::now())
        });
    });
}

/// An unsigned JWT whose payload is `claims`.
fn jwt(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    format!(
        "{header}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

proptest! {
    /// Whatever the provider, the lifetime is the earlier of what it announced and the JWT's
    /// `exp`, counted from when the request was sent, and never over a year.
    #[test]
    fn jwt_exp_bounds_every_providers_lifetime(
        announced_secs in 0u64..50_000_000,
        exp_offset in -100_000i64..50_000_000,
        provider in 0usize..3,
    ) {
        let issued_secs: i64 = 1_700_000_000;
        let issued_at = UNIX_EPOCH + Duration::from_secs(issued_secs as u64);
        let token = jwt(&json!({ "exp": issued_secs + exp_offset, "iat": issued_secs - 10 }));
        let parsed = match provider {
            0 => tokensource::younium::parse_token_response(
                json!({ "accessToken": token, "expiresIn": announced_secs }).to_string().as_bytes(),
                YouniumAuthVersion::V1,
                issued_at,
            ),
            1 => tokensource::noyo::parse_token_response(
                json!({ "access_token": token, "expires_in": announced_secs * 1000 }).to_string().as_bytes(),
                issued_at,
            ),
            _ => tokensource::client_credentials::parse_token_response(
                json!({ "access_token": token, "token_type": "Bearer", "expires_in": announced_secs })
                    .to_string()
                    .as_bytes(),
                issued_at,
            ),
        }
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let by_jwt = if exp_offset > 0 {
            Duration::from_secs(exp_offset as u64)
        } else {
            // Already expired by the local clock: the issuer's own exp - iat is believed instead.
            Duration::from_secs((exp_offset + 10).max(0) as u64)
        };
        let expected = Duration::from_secs(announced_secs).min(by_jwt).min(MAX_LIFETIME);
        let lifetime = parsed.lifetime().unwrap_or_default();
        prop_assert!(lifetime.abs_diff(expected) < Duration::from_micros(1), "{lifetime:?} != {expected:?}");
        prop_assert_eq!(parsed.expose_secret(), token.as_str());
    }
}
