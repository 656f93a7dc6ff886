//! The Noyo provider's configuration keys (feature `config`): `client_id`, `client_secret`,
//! `token_url`, plus the common `timeout_secs` and `allow_insecure_http`.

use tokensource_config::{CredentialIdentity, ProfileSettings, Provider};
use tokensource_core::Error;

use crate::{NoyoTokenSource, PROVIDER};

/// Builds a Noyo provider from a profile's settings.
///
/// # Errors
/// A configuration error naming the key that is missing or wrong.
pub fn build(settings: &ProfileSettings<'_>) -> Result<Provider, Error> {
    let client_id = settings.required_str("client_id")?;
    let secret = settings.secret_source("client_secret")?;
    let mut builder =
        NoyoTokenSource::builder(client_id, secret.clone()).http_options(settings.http_options()?);
    if let Some(url) = settings.optional_str("token_url")? {
        builder = builder.token_url(url);
    }
    let source = builder.build()?;
    let identity = CredentialIdentity::new(
        PROVIDER,
        source.token_url().as_str(),
        client_id,
        secret.read_for(settings.field("client_secret"))?,
    )
    .with_secret_source(secret);
    Ok(Provider::new(source).with_identity(identity))
}
