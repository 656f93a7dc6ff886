//! The client-credentials token source.

use std::fmt;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
};
use oauth2::{
    ClientId, ClientSecret, EndpointNotSet, EndpointSet, Scope, StandardRevocableToken, TokenUrl,
    url,
};
use secrecy::ExposeSecret;
use tokensource_core::{Error, SecretSource, Token, TokenSource, async_trait};
use tokensource_http::TokenEndpoint;

use crate::config::{AuthStyle, ClientCredentialsBuilder, ParamNames, check_credential};
use crate::response::{TokenReply, map_error};
use crate::transport::EndpointClient;

/// oauth2's client with our token response type and only the token endpoint set.
type OAuth2Client = oauth2::Client<
    BasicErrorResponse,
    TokenReply,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A [`TokenSource`] for the OAuth2 client-credentials grant (RFC 6749 section 4.4).
///
/// Each call to [`token`](TokenSource::token) sends one token request; wrap the source in a
/// [`CachedTokenSource`](tokensource_core::CachedTokenSource) to reuse tokens and retry
/// transient failures. Build it with [`builder`](Self::builder). It is cheap to clone.
///
/// The request is `POST <token_url>` with `Content-Type: application/x-www-form-urlencoded`,
/// `grant_type=client_credentials`, `scope` (when scopes are set) and the extra parameters; the
/// client authenticates as its [`AuthStyle`] says.
///
/// | Reply | Result |
/// |---|---|
/// | 2xx, RFC 6749 5.1 JSON, `token_type` Bearer (any case) | a [`Token`]; without `expires_in` its lifetime is `None` |
/// | 2xx, anything else (HTML, not JSON, `token_type` not Bearer, illegal token, negative `expires_in`) | [`InvalidResponse`](tokensource_core::ErrorKind::InvalidResponse) |
/// | 400, 401, 403 | [`CredentialsRejected`](tokensource_core::ErrorKind::CredentialsRejected), with RFC 6749 5.2 `error: error_description (see error_uri)` as the provider message |
/// | 408, 429, 5xx, connect failure, timeout | [`Unavailable`](tokensource_core::ErrorKind::Unavailable), with `Retry-After` |
/// | 3xx (never followed), other statuses, a body over the cap | [`InvalidResponse`](tokensource_core::ErrorKind::InvalidResponse) |
///
/// The secret is a [`SecretSource`] (read into a zeroized string for each request); `Debug` never shows it, and it is blanked out of any
/// message the server sends back.
#[derive(Clone)]
pub struct ClientCredentialsTokenSource {
    endpoint: TokenEndpoint,
    token_url: TokenUrl,
    client_id: String,
    client_secret: SecretSource,
    scopes: Vec<String>,
    extra_params: Vec<(String, String)>,
    auth_style: AuthStyle,
}

impl ClientCredentialsTokenSource {
    /// Starts configuring a source that asks `token_url` (for example
    /// `https://auth.example.com/oauth/v2/token`) for tokens as `client_id` with `client_secret`.
    ///
    /// The secret may be a [`SecretSource::file`], read again before each token request (see
    /// [`SecretSource`] for the rotation rule).
    pub fn builder(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretSource>,
    ) -> ClientCredentialsBuilder {
        ClientCredentialsBuilder::new(token_url.into(), client_id.into(), client_secret.into())
    }

    pub(crate) fn new(
        endpoint: TokenEndpoint,
        token_url: TokenUrl,
        client_id: String,
        client_secret: SecretSource,
        scopes: Vec<String>,
        extra_params: Vec<(String, String)>,
        auth_style: AuthStyle,
    ) -> Self {
        ClientCredentialsTokenSource {
            endpoint,
            token_url,
            client_id,
            client_secret,
            scopes,
            extra_params,
            auth_style,
        }
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> &url::Url {
        self.endpoint.url()
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The scopes requested.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// How the client authenticates.
    pub fn auth_style(&self) -> AuthStyle {
        self.auth_style
    }

    async fn fetch(&self) -> Result<Token, Error> {
        let secret = self.client_secret.read_for("client_secret")?;
        check_credential("client_secret", secret.expose_secret())?;
        let secret = secret.expose_secret();
        // oauth2 keeps the secret in a plain String; the client lives for this request only.
        let client: OAuth2Client = oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(secret.to_owned()))
            .set_auth_type(self.auth_style.to_oauth2())
            .set_token_uri(self.token_url.clone());
        let mut request = client
            .exchange_client_credentials()
            .add_scopes(self.scopes.iter().cloned().map(Scope::new));
        for (name, value) in &self.extra_params {
            request = request.add_extra_param(name.as_str(), value.as_str());
        }

        // A server that echoes the request could quote the secret raw or form-encoded, or the
        // `Authorization: Basic` credentials (base64 of the form-encoded id and secret, as
        // oauth2 sends them): each is blanked out of what the server writes.
        let encoded_secret: String =
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let encoded_id: String =
            url::form_urlencoded::byte_serialize(self.client_id.as_bytes()).collect();
        let basic = STANDARD.encode(format!("{encoded_id}:{encoded_secret}"));
        let secrets = [secret, encoded_secret.as_str(), basic.as_str()];
        let transport = EndpointClient::new(&self.endpoint, &secrets);
        // The lifetime counts from before the request, so the token never outlives its claim.
        let issued_at = SystemTime::now();
        match request.request_async(&transport).await {
            Ok(reply) => reply.into_token(transport.status().unwrap_or(200), issued_at),
            Err(error) => Err(map_error(error, transport.status(), &secrets)),
        }
    }
}

#[async_trait]
impl TokenSource for ClientCredentialsTokenSource {
    async fn token(&self) -> Result<Token, Error> {
        self.fetch().await
    }
}

impl fmt::Debug for ClientCredentialsTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentialsTokenSource")
            .field("token_url", &self.endpoint.url().as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &"** redacted **")
            .field("scopes", &self.scopes)
            .field("extra_params", &ParamNames(&self.extra_params))
            .field("auth_style", &self.auth_style)
            .field("http_options", self.endpoint.options())
            .finish()
    }
}
