//! The providers under test, each built against a test-kit mock or any URL, and the names its
//! token response gives to each field.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokensource::client_credentials::ClientCredentialsTokenSource;
use tokensource::noyo::NoyoTokenSource;
use tokensource::younium::{YouniumAuthVersion, YouniumTokenSource};
use tokensource::{HttpOptions, TokenSource};
use tokensource_testkit::MockServer;

/// The client id every mock accepts.
pub(crate) const CLIENT_ID: &str = "hardening-client";
/// The client secret every mock accepts; it must never show in an error.
pub(crate) const SECRET: &str = "hardening-s3cret-7f2c";

/// One provider dialect: Younium's two auth versions differ in their field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Provider {
    /// Younium auth v1: `accessToken`, `expiresIn` (seconds), `refreshToken`, `expires`.
    YouniumV1,
    /// Younium auth v2: `access_token`, `expires_in` (seconds), `refresh_token`, `expires`.
    YouniumV2,
    /// Noyo: `access_token`, `expires_in` in milliseconds, `token_type`.
    Noyo,
    /// RFC 6749: `access_token`, `token_type` (required), `expires_in` (seconds), `scope`.
    OAuth2,
}

pub(crate) const ALL: [Provider; 4] = [
    Provider::YouniumV1,
    Provider::YouniumV2,
    Provider::Noyo,
    Provider::OAuth2,
];

/// A field of a token response, named differently by each provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    AccessToken,
    Lifetime,
    TokenType,
    RefreshToken,
    Scope,
}

impl Provider {
    /// The provider name its errors carry.
    pub(crate) fn error_name(self) -> &'static str {
        match self {
            Provider::YouniumV1 | Provider::YouniumV2 => "younium",
            Provider::Noyo => "noyo",
            Provider::OAuth2 => "client-credentials",
        }
    }

    /// The test kit's provider this one is.
    fn kit(self) -> tokensource_testkit::Provider {
        match self {
            Provider::YouniumV1 => tokensource_testkit::Provider::YouniumV1,
            Provider::YouniumV2 => tokensource_testkit::Provider::YouniumV2,
            Provider::Noyo => tokensource_testkit::Provider::Noyo,
            Provider::OAuth2 => tokensource_testkit::Provider::OAuth2Basic,
        }
    }

    /// The token path of the provider's mock (any path works on a raw server).
    pub(crate) fn token_path(self) -> &'static str {
        self.kit().token_path()
    }

    /// The field's name in this provider's token response.
    pub(crate) fn key(self, field: Field) -> &'static str {
        match (self, field) {
            (Provider::YouniumV1, Field::AccessToken) => "accessToken",
            (Provider::YouniumV1, Field::Lifetime) => "expiresIn",
            (Provider::YouniumV1, Field::TokenType) => "tokenType",
            (Provider::YouniumV1, Field::RefreshToken) => "refreshToken",
            (_, Field::AccessToken) => "access_token",
            (_, Field::Lifetime) => "expires_in",
            (_, Field::TokenType) => "token_type",
            (_, Field::RefreshToken) => "refresh_token",
            (_, Field::Scope) => "scope",
        }
    }

    /// `seconds` in the unit of this provider's lifetime field (Noyo counts milliseconds).
    pub(crate) fn lifetime_units(self, seconds: f64) -> f64 {
        if self.kit().lifetime_in_millis() {
            seconds * 1000.0
        } else {
            seconds
        }
    }

    /// The body of a good token response carrying `access_token`, valid for `seconds`, as this
    /// provider sends it.
    pub(crate) fn token_body(self, access_token: &str, seconds: u64) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert(self.key(Field::AccessToken).into(), json!(access_token));
        let lifetime = match self {
            Provider::Noyo => json!(seconds * 1000),
            _ => json!(seconds),
        };
        body.insert(self.key(Field::Lifetime).into(), lifetime);
        match self {
            Provider::YouniumV1 | Provider::YouniumV2 => {
                body.insert(
                    self.key(Field::RefreshToken).into(),
                    json!("hardening-refresh"),
                );
            }
            Provider::Noyo | Provider::OAuth2 => {
                body.insert(self.key(Field::TokenType).into(), json!("Bearer"));
            }
        }
        body
    }

    /// A test-kit mock of this provider issuing opaque tokens that live `lifetime`.
    pub(crate) async fn mock(self, lifetime: Duration) -> MockServer {
        let jwt = (self != Provider::OAuth2).then_some(false);
        self.kit()
            .mock_with(CLIENT_ID, SECRET, Some(lifetime), jwt)
            .start()
            .await
    }

    /// This provider's token source, asking `token_url`.
    pub(crate) fn source(self, token_url: &str, options: HttpOptions) -> Arc<dyn TokenSource> {
        let built: Result<Arc<dyn TokenSource>, tokensource::Error> = match self {
            Provider::YouniumV1 | Provider::YouniumV2 => {
                let version = if self == Provider::YouniumV2 {
                    YouniumAuthVersion::V2
                } else {
                    YouniumAuthVersion::V1
                };
                YouniumTokenSource::builder(CLIENT_ID, SECRET)
                    .auth_version(version)
                    .token_url(token_url)
                    .http_options(options)
                    .build()
                    .map(|s| Arc::new(s) as Arc<dyn TokenSource>)
            }
            Provider::Noyo => NoyoTokenSource::builder(CLIENT_ID, SECRET)
                .token_url(token_url)
                .http_options(options)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn TokenSource>),
            Provider::OAuth2 => ClientCredentialsTokenSource::builder(token_url, CLIENT_ID, SECRET)
                .http_options(options)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn TokenSource>),
        };
        built.unwrap_or_else(|e| panic!("{self}: the source could not be built: {e}"))
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::YouniumV1 => "younium-v1",
            Provider::YouniumV2 => "younium-v2",
            Provider::Noyo => "noyo",
            Provider::OAuth2 => "oauth2",
        })
    }
}
