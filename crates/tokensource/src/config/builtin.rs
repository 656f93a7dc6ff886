//! Factories for the providers compiled into this build.

use super::registry::Registry;

/// Registers every built-in provider enabled by features.
pub(crate) fn register_all(registry: &mut Registry) {
    #[cfg(feature = "client-credentials")]
    registry.register(
        tokensource_client_credentials::PROVIDER,
        client_credentials::build,
    );
    #[cfg(feature = "younium")]
    registry.register(tokensource_younium::PROVIDER, younium::build);
    #[cfg(feature = "noyo")]
    registry.register(tokensource_noyo::PROVIDER, noyo::build);
    let _ = registry;
}

/// The HTTP options from the common keys `timeout_secs` and `allow_insecure_http`.
#[cfg(any(feature = "client-credentials", feature = "younium", feature = "noyo"))]
fn http_options(
    settings: &super::ProfileSettings<'_>,
) -> Result<tokensource_http::HttpOptions, crate::Error> {
    let mut options = tokensource_http::HttpOptions::default()
        .with_allow_insecure_http(settings.allow_insecure_http()?);
    if let Some(timeout) = settings.timeout()? {
        options = options.with_timeout(timeout);
    }
    Ok(options)
}

#[cfg(feature = "client-credentials")]
mod client_credentials {
    use secrecy::ExposeSecret;
    use tokensource_client_credentials::{AuthStyle, ClientCredentialsTokenSource, PROVIDER};

    use crate::Error;
    use crate::config::{CredentialIdentity, ProfileSettings, Provider};

    pub(super) fn build(settings: &ProfileSettings<'_>) -> Result<Provider, Error> {
        let token_url = settings.required_str("token_url")?;
        let client_id = settings.required_str("client_id")?;
        let secret = settings.secret("client_secret")?;
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
        let mut builder = ClientCredentialsTokenSource::builder(
            token_url,
            client_id,
            secret.expose_secret().to_owned(),
        )
        .scopes(scopes.iter().cloned())
        .auth_style(auth_style)
        .http_options(super::http_options(settings)?);
        let extra_params = settings.string_table("extra_params")?;
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
        let identity =
            CredentialIdentity::new(PROVIDER, source.token_url().as_str(), client_id, secret)
                .with_qualifier(format!("scope={}&{}", scopes.join(" "), params.join("&")));
        Ok(Provider::new(source).with_identity(identity))
    }
}

#[cfg(feature = "younium")]
mod younium {
    use secrecy::ExposeSecret;
    use tokensource_younium::YouniumTokenSource;

    use crate::Error;
    use crate::config::{CredentialIdentity, ProfileSettings, Provider};

    pub(super) fn build(settings: &ProfileSettings<'_>) -> Result<Provider, Error> {
        let client_id = settings.required_str("client_id")?;
        let secret = settings.secret("secret")?;
        let mut builder = YouniumTokenSource::builder(client_id, secret.expose_secret().to_owned())
            .http_options(super::http_options(settings)?);
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
            tokensource_younium::PROVIDER,
            source.token_url().as_str(),
            client_id,
            secret,
        );
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
}

#[cfg(feature = "noyo")]
mod noyo {
    use secrecy::ExposeSecret;
    use tokensource_noyo::NoyoTokenSource;

    use crate::Error;
    use crate::config::{CredentialIdentity, ProfileSettings, Provider};

    pub(super) fn build(settings: &ProfileSettings<'_>) -> Result<Provider, Error> {
        let client_id = settings.required_str("client_id")?;
        let secret = settings.secret("client_secret")?;
        let mut builder = NoyoTokenSource::builder(client_id, secret.expose_secret().to_owned())
            .http_options(super::http_options(settings)?);
        if let Some(url) = settings.optional_str("token_url")? {
            builder = builder.token_url(url);
        }
        let source = builder.build()?;
        let identity = CredentialIdentity::new(
            tokensource_noyo::PROVIDER,
            source.token_url().as_str(),
            client_id,
            secret,
        );
        Ok(Provider::new(source).with_identity(identity))
    }
}
