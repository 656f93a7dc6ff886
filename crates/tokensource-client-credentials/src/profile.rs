//! The OAuth2 client-credentials provider's configuration keys (feature `config`):
//! `token_url`, `client_id`, `client_secret`, `auth_style`, `scopes`, `extra_params`, plus the
//! common `timeout_secs` and `allow_insecure_http`.

use tokensource_config::{CredentialIdentity, ProfileSettings, Provider};
use tokensource_core::Error;

use crate::{AuthStyle, ClientCredentialsTokenSource, PROVIDER};

/// Builds a client-credentials provider from a profile's settings.
///
/// # Errors
/// A configuration error naming the key that is missing or wrong.
pub fn build(settings: &ProfileSettings<'_>) -> Result<Provider, Error> {
    let token_url = settings.required_str("token_url")?;
    let client_id = settings.required_str("client_id")?;
    let secret = settings.secret_source("client_secret")?;
    let auth_style = match settings.optional_str("auth_style")? {
        None => AuthStyle::default(),
        Some(style) => style.parse().map_err(|_| {
            Error::configuration(
                settings.field("auth_style"),
                format!("unknown auth_style {style:?}; expected basic or request-body"),
            )
        })?,
    };
    let mut scopes = settings.string_list("scopes")?;
    let extra_params = settings.string_table("extra_params")?;
    let mut builder = ClientCredentialsTokenSource::builder(token_url, client_id, secret.clone())
        .scopes(scopes.iter().cloned())
        .auth_style(auth_style)
        .http_options(settings.http_options()?);
    for (name, value) in &extra_params {
        builder = builder.extra_param(name, value);
    }
    let source = builder.build()?;
    // Tokens for other scopes or audiences are other tokens: keep them apart in stores.
    scopes.sort();
    let params: Vec<String> = extra_params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let identity = CredentialIdentity::new(
        PROVIDER,
        source.token_url().as_str(),
        client_id,
        secret.read_for(settings.field("client_secret"))?,
    )
    .with_secret_source(secret)
    .with_qualifier(format!("scope={}&{}", scopes.join(" "), params.join("&")));
    Ok(Provider::new(source).with_identity(identity))
}
