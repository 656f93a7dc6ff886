//! The client-credentials token source.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, Scope, StandardRevocableToken,
    TokenUrl, url,
};
use secrecy::{ExposeSecret, SecretString};
use tokensource_core::{Error, SecretSource, Token, TokenSource, async_trait};
use zeroize::Zeroizing;

use crate::assertion::JWT_BEARER_ASSERTION_TYPE;
use crate::config::{
    AuthStyle, ClientCredentialsBuilder, Credential, ParamNames, Settings, check_credential,
};
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
/// transient failures. Build it with [`builder`](Self::builder) (a client secret) or
/// [`ClientCredentialsBuilder::new`] (a private key, a client assertion or a TLS client
/// certificate). It is cheap to clone.
///
/// The request is `POST <token_url>` with `Content-Type: application/x-www-form-urlencoded`,
/// `grant_type=client_credentials`, `scope` (when scopes are set), `audience` and `resource`
/// (when set) and the extra parameters; the client authenticates as its [`AuthStyle`] says:
///
/// | style | what is sent |
/// |---|---|
/// | `basic` | `Authorization: Basic` of the form-urlencoded id and secret |
/// | `request-body` | `client_id`, `client_secret` |
/// | `private-key-jwt`, `client-secret-jwt` | `client_id`, `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, `client_assertion` = a JWT signed for this request (new `jti`, `exp` 5 minutes after `iat`); no `Authorization` header |
/// | `client-assertion` | the same, with the assertion read (again) from its source |
/// | `tls-client-auth` | `client_id`; the TLS client certificate identifies the client |
///
/// | Reply | Result |
/// |---|---|
/// | 2xx, RFC 6749 5.1 JSON, `token_type` Bearer (any case) | a [`Token`]; without `expires_in` its lifetime is `None` |
/// | 2xx, anything else (HTML, not JSON, `token_type` not Bearer, illegal token, negative `expires_in`) | [`InvalidResponse`](tokensource_core::ErrorKind::InvalidResponse) |
/// | 400, 401, 403 | [`CredentialsRejected`](tokensource_core::ErrorKind::CredentialsRejected), with RFC 6749 5.2 `error: error_description (see error_uri)` as the provider message |
/// | 408, 429, 5xx, connect failure, timeout | [`Unavailable`](tokensource_core::ErrorKind::Unavailable), with `Retry-After` |
/// | 3xx (never followed), other statuses, a body over the cap | [`InvalidResponse`](tokensource_core::ErrorKind::InvalidResponse) |
///
/// Secrets, keys and assertions are [`SecretSource`]s, read into zeroized strings for each
/// request; `Debug` never shows them, and they are blanked out of any message the server sends
/// back.
#[derive(Clone)]
pub struct ClientCredentialsTokenSource {
    settings: Arc<Settings>,
    token_url: TokenUrl,
}

impl ClientCredentialsTokenSource {
    /// Starts configuring a source that asks `token_url` (for example
    /// `https://auth.example.com/oauth/v2/token`) for tokens as `client_id` with `client_secret`
    /// (HTTP Basic unless [`auth_style`](ClientCredentialsBuilder::auth_style) says otherwise).
    ///
    /// The secret may be a [`SecretSource::file`], read again before each token request (see
    /// [`SecretSource`] for the rotation rule).
    pub fn builder(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretSource>,
    ) -> ClientCredentialsBuilder {
        ClientCredentialsBuilder::new(token_url, client_id).client_secret(client_secret)
    }

    pub(crate) fn new(settings: Settings) -> Self {
        let token_url = TokenUrl::from_url(settings.endpoint.url().clone());
        ClientCredentialsTokenSource {
            settings: Arc::new(settings),
            token_url,
        }
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> &url::Url {
        self.settings.endpoint.url()
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.settings.client_id
    }

    /// The scopes requested.
    pub fn scopes(&self) -> &[String] {
        &self.settings.scopes
    }

    /// How the client authenticates.
    pub fn auth_style(&self) -> AuthStyle {
        self.settings.style
    }

    /// The `aud` of the assertions this source signs (the token URL unless set).
    pub fn assertion_audience(&self) -> &str {
        &self.settings.assertion_audience
    }

    async fn fetch(&self) -> Result<Token, Error> {
        let settings = &*self.settings;
        let client_id = settings.client_id.as_str();
        let client = oauth2::Client::new(ClientId::new(client_id.to_owned()))
            .set_token_uri(self.token_url.clone());
        // What the server could echo back, blanked out of its messages.
        let mut secrets: Vec<Zeroizing<String>> = Vec::new();
        let mut body_params: Vec<(&str, SecretString)> = Vec::new();
        let client: OAuth2Client = match &settings.credential {
            Credential::Secret(secret) => {
                let secret = secret.read_for("client_secret")?;
                check_credential("client_secret", secret.expose_secret())?;
                let raw = secret.expose_secret();
                // The secret raw, form-encoded, and inside Basic credentials as oauth2 sends them.
                let encoded_secret: String =
                    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect();
                let encoded_id: String =
                    url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
                let basic = STANDARD.encode(format!("{encoded_id}:{encoded_secret}"));
                secrets.extend([raw.to_owned(), encoded_secret, basic].map(Zeroizing::new));
                // oauth2 keeps the secret in a plain String; the client lives for this request only.
                let auth_type = match settings.style {
                    AuthStyle::RequestBody => AuthType::RequestBody,
                    _ => AuthType::BasicAuth,
                };
                client
                    .set_client_secret(ClientSecret::new(raw.to_owned()))
                    .set_auth_type(auth_type)
            }
            Credential::Signed(signer) => {
                let assertion = signer.sign(client_id, &settings.assertion_audience)?;
                secrets.push(Zeroizing::new(assertion.expose_secret().to_owned()));
                body_params.push(("client_assertion", assertion));
                client.set_auth_type(AuthType::RequestBody)
            }
            Credential::Assertion(source) => {
                let assertion = source.read_for("client_assertion")?;
                check_credential("client_assertion", assertion.expose_secret())?;
                secrets.push(Zeroizing::new(assertion.expose_secret().to_owned()));
                body_params.push(("client_assertion", assertion));
                client.set_auth_type(AuthType::RequestBody)
            }
            // Without a secret, oauth2 sends `client_id` in the body (RFC 8705 section 2.1).
            Credential::TlsCertificate => client.set_auth_type(AuthType::RequestBody),
        };
        let mut request = client
            .exchange_client_credentials()
            .add_scopes(settings.scopes.iter().cloned().map(Scope::new));
        if !body_params.is_empty() {
            request = request.add_extra_param("client_assertion_type", JWT_BEARER_ASSERTION_TYPE);
        }
        for (name, value) in &body_params {
            request = request.add_extra_param(*name, value.expose_secret());
        }
        for (name, value) in &settings.params {
            request = request.add_extra_param(name.as_str(), value.as_str());
        }

        let secrets: Vec<&str> = secrets.iter().map(|s| s.as_str()).collect();
        let transport = EndpointClient::new(&settings.endpoint, &secrets);
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
        let settings = &*self.settings;
        let mut d = f.debug_struct("ClientCredentialsTokenSource");
        d.field("token_url", &settings.endpoint.url().as_str())
            .field("client_id", &settings.client_id)
            .field("auth_style", &settings.style);
        match &settings.credential {
            Credential::Secret(_) => d.field("client_secret", &"** redacted **"),
            Credential::Signed(signer) => d
                .field("signer", signer)
                .field("assertion_audience", &settings.assertion_audience),
            Credential::Assertion(source) => d.field("client_assertion", source),
            Credential::TlsCertificate => d.field("client_certificate", &"from the transport"),
        };
        d.field("scopes", &settings.scopes)
            .field("params", &ParamNames(&settings.params))
            .field("http_options", settings.endpoint.options())
            .finish()
    }
}
