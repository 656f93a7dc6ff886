//! Every provider the kit mocks, for tests that run the same checks on each of them.

use std::time::Duration;

use crate::{ClientAuthMethod, MockServer, MockServerBuilder, NoyoMock, OAuth2Mock, YouniumMock};

/// One provider, as the kit mocks it: Younium v1 and v2, Noyo, and OAuth2 client credentials with
/// Basic or request-body client authentication.
///
/// ```
/// use tokensource_testkit::Provider;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// for provider in Provider::ALL {
///     let server = provider.mock("client", "secret").start().await;
///     assert!(server.token_url().ends_with(provider.token_path()), "{provider:?}");
/// }
/// # }
/// ```
///
/// Deliberately exhaustive: a provider added to the kit breaks every `match` on it, so each suite
/// that iterates over [`Provider::ALL`] is made to cover it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Younium auth v1 (`POST /auth/token`, camelCase reply).
    YouniumV1,
    /// Younium auth v2 (`POST /auth/v2/token`, snake_case reply).
    YouniumV2,
    /// Noyo (Basic client credentials, `expires_in` in milliseconds).
    Noyo,
    /// OAuth2 client credentials with HTTP Basic client authentication.
    OAuth2Basic,
    /// OAuth2 client credentials with the credentials in the request body.
    OAuth2RequestBody,
}

impl Provider {
    /// Every provider, in a stable order.
    pub const ALL: [Provider; 5] = [
        Provider::YouniumV1,
        Provider::YouniumV2,
        Provider::Noyo,
        Provider::OAuth2Basic,
        Provider::OAuth2RequestBody,
    ];

    /// A short name for messages (`younium-v1`, `noyo`, `oauth2-basic`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Provider::YouniumV1 => "younium-v1",
            Provider::YouniumV2 => "younium-v2",
            Provider::Noyo => "noyo",
            Provider::OAuth2Basic => "oauth2-basic",
            Provider::OAuth2RequestBody => "oauth2-request-body",
        }
    }

    /// The path of the mock's token endpoint.
    pub fn token_path(self) -> &'static str {
        match self {
            Provider::YouniumV1 => "/auth/token",
            Provider::YouniumV2 => "/auth/v2/token",
            Provider::Noyo => "/auth/public/token",
            Provider::OAuth2Basic | Provider::OAuth2RequestBody => "/oauth/v2/token",
        }
    }

    /// Whether the provider's lifetime field counts milliseconds (Noyo) rather than seconds.
    pub fn lifetime_in_millis(self) -> bool {
        self == Provider::Noyo
    }

    /// The provider's mock, accepting `client_id` and `secret`, with its default lifetime and
    /// tokens.
    pub fn mock(self, client_id: &str, secret: &str) -> MockServerBuilder {
        self.mock_with(client_id, secret, None, None)
    }

    /// The provider's mock issuing tokens that live `lifetime` (when given), JWTs or opaque
    /// tokens as `jwt` says (when given).
    pub fn mock_with(
        self,
        client_id: &str,
        secret: &str,
        lifetime: Option<Duration>,
        jwt: Option<bool>,
    ) -> MockServerBuilder {
        match self {
            Provider::YouniumV1 | Provider::YouniumV2 => {
                let mut mock = YouniumMock::new(client_id, secret);
                if self == Provider::YouniumV2 {
                    mock = mock.auth_v2();
                }
                if let Some(lifetime) = lifetime {
                    mock = mock.lifetime(lifetime);
                }
                if let Some(jwt) = jwt {
                    mock = mock.jwt(jwt);
                }
                MockServer::younium(mock)
            }
            Provider::Noyo => {
                let mut mock = NoyoMock::new(client_id, secret);
                if let Some(lifetime) = lifetime {
                    mock = mock.lifetime(lifetime);
                }
                if let Some(jwt) = jwt {
                    mock = mock.jwt(jwt);
                }
                MockServer::noyo(mock)
            }
            Provider::OAuth2Basic | Provider::OAuth2RequestBody => {
                let mut mock = OAuth2Mock::new(client_id, secret);
                if self == Provider::OAuth2RequestBody {
                    mock = mock.client_auth(ClientAuthMethod::RequestBody);
                }
                if let Some(lifetime) = lifetime {
                    mock = mock.lifetime(lifetime);
                }
                if let Some(jwt) = jwt {
                    mock = mock.jwt(jwt);
                }
                MockServer::oauth2(mock)
            }
        }
    }
}
