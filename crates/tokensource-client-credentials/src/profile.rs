//! The OAuth2 client-credentials provider's configuration keys (feature `config`):
//! `token_url`, `client_id`, `client_secret`, `auth_style`, `private_key`, `key_id`,
//! `signing_alg`, `client_assertion`, `assertion_audience`, `audience`, `resource`, `scopes`,
//! `extra_params`, plus the common and transport keys.

use tokensource_config::{CredentialIdentity, ProfileSettings, Provider};
use tokensource_core::Error;

use crate::{AuthStyle, ClientCredentialsBuilder, PROVIDER};

/// Builds a client-credentials provider from a profile's settings.
///
/// # Errors
/// A configuration error naming the key that is missing or wrong.
pub fn build(settings: &ProfileSettings<'_>) -> Result<Provider, Error> {
    let token_url = settings.required_str("token_url")?;
    let client_id = settings.required_str("client_id")?;
    let secret = settings.optional_secret_source("client_secret")?;
    let private_key = settings.optional_secret_source("private_key")?;
    let assertion = settings.optional_secret_source("client_assertion")?;
    let mut builder = ClientCredentialsBuilder::new(token_url, client_id);
    if let Some(style) = settings.optional_str("auth_style")? {
        let style: AuthStyle = style.parse().map_err(|e: Error| {
            Error::configuration(
                settings.field("auth_style"),
                format!("unknown auth_style {style:?}; {}", e.detail()),
            )
        })?;
        builder = builder.auth_style(style);
    }
    if let Some(secret) = &secret {
        builder = builder.client_secret(secret.clone());
    }
    if let Some(key) = &private_key {
        builder = builder.private_key(key.clone());
    }
    if let Some(assertion) = assertion {
        builder = builder.client_assertion(assertion);
    }
    if let Some(key_id) = settings.optional_str("key_id")? {
        builder = builder.key_id(key_id);
    }
    if let Some(alg) = settings.optional_str("signing_alg")? {
        builder = builder.signing_alg(alg.parse()?);
    }
    if let Some(audience) = settings.optional_str("assertion_audience")? {
        builder = builder.assertion_audience(audience);
    }
    let audience = settings.optional_str("audience")?;
    if let Some(audience) = audience {
        builder = builder.audience(audience);
    }
    let resources = settings.string_list("resource")?;
    for resource in &resources {
        builder = builder.resource(resource);
    }
    let mut scopes = settings.string_list("scopes")?;
    let extra_params = settings.string_table("extra_params")?;
    builder = builder
        .scopes(scopes.iter().cloned())
        .http_options(settings.http_options()?);
    for (name, value) in &extra_params {
        builder = builder.extra_param(name, value);
    }
    let source = builder.build()?;

    // Tokens for other scopes, audiences or resources are other tokens: keep them apart in
    // stores. (An audience given as an extra parameter makes the same request, so the same key.)
    scopes.sort();
    let mut params: Vec<String> = extra_params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain(audience.map(|a| format!("audience={a}")))
        .chain(resources.iter().map(|r| format!("resource={r}")))
        .collect();
    params.sort();
    // The secret that seals stored tokens: the client secret, else the private key.
    let (seal, seal_field) = match (&secret, &private_key) {
        (Some(secret), _) => (Some(secret), "client_secret"),
        (None, Some(key)) => (Some(key), "private_key"),
        (None, None) => (None, "client_secret"),
    };
    let current = match seal {
        Some(source) => source.read_for(settings.field(seal_field))?,
        None => secrecy::SecretString::from(String::new()),
    };
    let mut identity =
        CredentialIdentity::new(PROVIDER, source.token_url().as_str(), client_id, current)
            .with_qualifier(format!("scope={}&{}", scopes.join(" "), params.join("&")));
    if let Some(seal) = seal {
        identity = identity.with_secret_source(seal.clone());
    }
    Ok(Provider::new(source).with_identity(identity))
}
