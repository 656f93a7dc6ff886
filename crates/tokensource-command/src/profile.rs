//! The command provider's configuration keys (feature `config`): `command` (the argv), `output`
//! (`auto`, `json` or `token`), plus the common `timeout_secs`.

use secrecy::SecretString;
use tokensource_config::{CredentialIdentity, ProfileSettings, Provider};
use tokensource_core::Error;

use crate::{CommandTokenSource, OutputFormat, PROVIDER};

/// Builds a command provider from a profile's settings. The command gets
/// `TOKENSOURCE_PROFILE=<profile>` in its environment; a program name with a `/` is relative to
/// the configuration file's folder. The credential's identity is the argv and the output format;
/// it has no secret, so a Redis store needs the store's `seal_key`.
///
/// # Errors
/// A configuration error naming the key that is missing or wrong.
pub fn build(settings: &ProfileSettings<'_>) -> Result<Provider, Error> {
    let argv = settings.string_list("command")?;
    if argv.is_empty() {
        return Err(Error::configuration(
            settings.field("command"),
            "is required: the program to run and its arguments, e.g. command = [\"vault\", \"read\", \"-field=token\", \"secret/api\"]",
        ));
    }
    let output = match settings.optional_str("output")? {
        None => OutputFormat::Auto,
        Some(text) => text
            .parse()
            .map_err(|e: Error| e.with_field(settings.field("output")))?,
    };
    let mut builder = CommandTokenSource::builder(argv.iter().cloned())
        .output(output)
        .env("TOKENSOURCE_PROFILE", settings.name());
    if let Some(timeout) = settings.timeout()? {
        builder = builder.timeout(timeout);
    }
    if let Some(dir) = settings.base_dir() {
        builder = builder.base_dir(dir);
    }
    let source = builder.build()?;
    // Length-prefixed by JSON: no two argvs share an identity.
    let endpoint = format!("{argv:?}");
    let identity = CredentialIdentity::new(
        PROVIDER,
        endpoint,
        output.as_str(),
        SecretString::from(String::new()),
    );
    Ok(Provider::new(source).with_identity(identity))
}
