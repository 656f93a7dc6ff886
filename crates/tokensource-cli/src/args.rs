//! The command line: commands, flags and the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  # Print a token for the file's default profile (cached on disk between runs)
  tokensource token --config tokensource.toml

  # Call an API with it
  curl -H \"Authorization: Bearer $(tokensource token --config tokensource.toml)\" https://api.example.com/v1/items

  # Send every header the profile needs (Younium: legal-entity, api-version)
  curl -H @<(tokensource headers --config tokensource.toml --profile younium) https://api.younium.com/Invoices

  # The token with its expiry, as JSON
  tokensource token --config tokensource.toml --profile partner --json

  # Configuration and profile from the environment; no disk cache
  TOKENSOURCE_CONFIG=tokensource.toml TOKENSOURCE_PROFILE=noyo tokensource token --no-cache

  # Validate every profile without network access
  tokensource check-config --config tokensource.toml

Exit codes:
  0  success
  2  usage or configuration error (bad flag, unreadable file, unknown profile, missing secret)
  3  credentials rejected by the token endpoint (HTTP 400, 401 or 403; never retried)
  4  token endpoint unavailable (connect error, timeout, 429 or 5xx after retries), or any
     other failure (such as a custom token source's error, or stdout being closed)
  5  invalid response from the token endpoint (malformed body, redirect, body over 1 MiB)

On failure stdout is empty and stderr has one line, which never contains the secret or the
token. Retryable failures are retried (3 attempts in all, backoff at most 4 s each).";

const TOKEN_HELP: &str = "\
With --json, prints one object:
  {\"access_token\": \"...\", \"token_type\": \"Bearer\", \"expires_at\": \"2030-01-01T00:00:00Z\", \"expires_in\": 3599}
expires_at is RFC 3339 in UTC and expires_in the whole seconds left. When the token endpoint did
not say how long the token lives (and it is not a JWT with an exp claim), both assume the cache's
default lifetime of 10 minutes from when the token was fetched.";

/// Prints cached access tokens and API headers for profiles of a TOML configuration file.
#[derive(Debug, Parser)]
#[command(name = "tokensource", version, after_help = EXAMPLES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print an access token and a newline (or, with --json, the token and its expiry)
    #[command(after_help = TOKEN_HELP)]
    Token {
        #[command(flatten)]
        profile: ProfileArgs,
        #[command(flatten)]
        cache: CacheArgs,
        /// Print one JSON object: access_token, token_type, expires_at, expires_in.
        #[arg(long)]
        json: bool,
    },
    /// Print the HTTP headers an API request needs, one `Name: value` a line
    ///
    /// `Authorization: Bearer <token>` comes first, then the provider's extra headers (for
    /// Younium, `legal-entity` and `api-version` when the profile sets them).
    Headers {
        #[command(flatten)]
        profile: ProfileArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Validate every profile without network access and print their names, one a line
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// The configuration file.
#[derive(Debug, Args)]
pub(crate) struct ConfigArg {
    /// The TOML configuration file.
    #[arg(long, value_name = "FILE", env = "TOKENSOURCE_CONFIG")]
    pub(crate) config: PathBuf,
}

/// The configuration file and the profile in it.
#[derive(Debug, Args)]
pub(crate) struct ProfileArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// The profile to use [default: the file's default_profile, or its only profile].
    #[arg(long, value_name = "NAME", env = "TOKENSOURCE_PROFILE")]
    pub(crate) profile: Option<String>,
}

/// Where tokens are cached between runs.
#[derive(Debug, Args)]
pub(crate) struct CacheArgs {
    /// The folder tokens are cached in (created with mode 0700; token files are mode 0600)
    /// [default: the user's cache folder + tokensource/, such as ~/.cache/tokensource/].
    /// Profiles with a `[store]` table (redis, ...) use that store instead.
    #[arg(long, value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// Cache nothing between runs: always fetch a new token, whatever the profile's store.
    #[arg(long, conflicts_with = "cache_dir")]
    pub(crate) no_cache: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
