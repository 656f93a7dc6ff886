//! The Younium provider's configuration keys (feature `config`): `client_id`, `secret`,
//! `environment`, `auth_version`, `token_url`, `api_base_url`, `legal_entity`, `api_version`,
//! plus the common `timeout_secs` and `allow_insecure_http`.

use tokensource_config::{CredentialIdentity, ProfileSettings, Provider};
use tokensource_core::Error;

use crate::{PROVIDER, YouniumTokenSource};

/// Builds a Younium provider from a profile's settings.
///
/// # Errors
/// A configuration error naming the key that is missing or wrong.
pub fn build(settings: &ProfileSettings<'_>) -> Result<Provider, Error> {
    let client_id = settings.required_str("client_id")?;
    let secret = settings.secret_source("secret")?;
    let mut builder = YouniumTokenSource::builder(client_id, secret.clone())
        .http_options(settings.http_options()?);
    if let Some(environment) = settings.optional_str("environment")? {
        builder = builder.environment(environment.parse()?);
    }
    if let Some(version) = settings.optional_str("auth_version")? {
        builder = builder.auth_version(version.parse()?);
    }
    if let Some(url) = settings.optional_str("token_url")? {
        builder = builder.token_url(url);
    }
    if let Some(url) = settings.optional_str("api_base_url")? {
        builder = builder.api_base_url(url);
    }
    if let Some(legal_entity) = settings.optional_str("legal_entity")? {
        builder = builder.legal_entity(legal_entity);
    }
    if let Some(api_version) = settings.optional_str("api_version")? {
        builder = builder.api_version(api_version);
    }
    let source = builder.build()?;
    let identity = CredentialIdentity::new(
        PROVIDER,
        source.token_url().as_str(),
        client_id,
        secret.read_for(settings.field("secret"))?,
    )
    .with_secret_source(secret);
    let headers = source.api_headers();
    let origin = source.api_base_url();
    let mut provider = Provider::new(source)
        .with_headers(headers)
        .with_identity(identity);
    if let Some(origin) = origin {
        provider = provider.with_api_origin(origin);
    }
    Ok(provider)
}
