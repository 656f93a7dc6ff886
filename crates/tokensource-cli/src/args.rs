//! The command line: commands, flags and the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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

  # kubectl: a kubeconfig user whose exec command is (see tokensource exec-credential --help)
  tokensource exec-credential --config tokensource.toml --profile partner

  # git: a credential helper handing out the token as password (see git-credential --help)
  git -c credential.helper= -c credential.helper='!tokensource git-credential --config /etc/tokensource.toml' clone https://git.example.com/repo.git

  # A sidecar keeping a token file fresh (see tokensource agent --help)
  tokensource agent --config tokensource.toml --profile partner --sink /run/tokens/partner

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

const EXEC_CREDENTIAL_HELP: &str = "\
Prints one ExecCredential object for kubectl (and any client-go program):
  {\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\",
   \"status\": {\"token\": \"...\", \"expirationTimestamp\": \"2030-01-01T00:00:00Z\"}}
The apiVersion is --api-version if given, else the one kubectl sets in KUBERNETES_EXEC_INFO, else
v1 (kubectl 1.19 and older set no KUBERNETES_EXEC_INFO and read only v1beta1: pass
--api-version client.authentication.k8s.io/v1beta1). An unknown apiVersion, or a
KUBERNETES_EXEC_INFO that is not JSON, is a usage error (2), found before any token request.

In a kubeconfig (kubectl runs it for each command; the disk cache keeps the token between runs):
  users:
  - name: partner
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1
        command: tokensource
        args: [exec-credential, --config, /etc/tokensource.toml, --profile, partner]
        interactiveMode: Never";

const GIT_CREDENTIAL_HELP: &str = "\
git's credential helper protocol: git writes key=value lines on stdin (up to a blank line; keys
this helper does not use are ignored) and reads the answer on stdout.
  get    prints username=<--username>, password=<access token> and password_expiry_utc=<unix
         seconds>, one a line; exits as `token` does
  store  does nothing (the token is cached already); exits 0 and prints nothing
  erase  drops the token git sends as password from the cache, if it is still the cached one,
         so that the next get fetches a new one; exits 0 and prints nothing

In git's configuration (the empty helper first clears helpers configured before it):
  git config --global credential.https://git.example.com.helper ''
  git config --global --add credential.https://git.example.com.helper \\
      '!tokensource git-credential --config /etc/tokensource.toml --profile partner'";

const AGENT_HELP: &str = "\
Keeps --sink holding a valid token for processes that read a file (a sidecar): the file is
written at start and rewritten after every refresh, before the token enters its last
refresh_margin_secs; each write goes to a private temporary file in the same folder, renamed over
the sink, so readers see a whole token, never an empty or partial file. The file is mode 0600.

When a refresh fails, the file keeps the still-valid token and stderr gets one line per failure
episode (an episode ends with the next successful fetch); retries back off up to 60 s, so the
file is rewritten at most 60 s after the token endpoint recovers. If the token expires during an
outage, the file is left as it is and stderr says so. Tokens are cached in memory (and in the
profile's [store], when it has one), not on disk. SIGTERM or SIGINT: exit 0, leaving the file.

With --once: write the file once and exit with the exit codes of `token`, writing nothing on
failure (for an init container before the application starts); a signal before the write ends it
as signals do, never with exit 0.

  tokensource agent --config /etc/tokensource.toml --profile partner --sink /run/tokens/partner";

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
    /// Print a Kubernetes ExecCredential: a kubectl (client-go) exec credential plugin
    #[command(after_help = EXEC_CREDENTIAL_HELP)]
    ExecCredential {
        #[command(flatten)]
        profile: ProfileArgs,
        #[command(flatten)]
        cache: CacheArgs,
        /// The ExecCredential apiVersion: client.authentication.k8s.io/v1 or
        /// client.authentication.k8s.io/v1beta1 [default: the one in KUBERNETES_EXEC_INFO, else v1].
        #[arg(long, value_name = "V", value_parser = ApiVersion::parse)]
        api_version: Option<ApiVersion>,
    },
    /// A git credential helper: answer git's `get` with the token as password
    #[command(after_help = GIT_CREDENTIAL_HELP)]
    GitCredential {
        #[command(flatten)]
        profile: ProfileArgs,
        #[command(flatten)]
        cache: CacheArgs,
        /// The user name git sends with the token.
        #[arg(long, value_name = "NAME", default_value = "x-access-token", value_parser = git_value)]
        username: String,
        /// What git asks: get (print the credential), store (nothing to do), erase (drop the
        /// cached token git says was refused).
        #[arg(value_enum)]
        action: GitAction,
    },
    /// Keep a file holding a valid token for other processes (a sidecar)
    #[command(after_help = AGENT_HELP)]
    Agent {
        #[command(flatten)]
        profile: ProfileArgs,
        /// The file to keep the token in (replaced atomically, mode 0600). Its folder must exist.
        #[arg(long, value_name = "PATH")]
        sink: PathBuf,
        /// What the file holds: the output of `token`, of `token --json`, or of `headers`.
        #[arg(long, value_enum, default_value_t = SinkFormat::Token)]
        format: SinkFormat,
        /// Write the file once and exit, with the exit codes of `token`; on failure nothing is
        /// written (for init containers).
        #[arg(long)]
        once: bool,
    },
}

/// The apiVersions of Kubernetes' ExecCredential that `exec-credential` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApiVersion {
    /// `client.authentication.k8s.io/v1` (Kubernetes 1.22 and later).
    V1,
    /// `client.authentication.k8s.io/v1beta1` (Kubernetes 1.11 to 1.28's clients).
    V1Beta1,
}

impl ApiVersion {
    const V1_NAME: &str = "client.authentication.k8s.io/v1";
    const V1BETA1_NAME: &str = "client.authentication.k8s.io/v1beta1";

    /// The version named `name`, or a message naming the versions known.
    pub(crate) fn parse(name: &str) -> Result<ApiVersion, String> {
        match name {
            Self::V1_NAME => Ok(ApiVersion::V1),
            Self::V1BETA1_NAME => Ok(ApiVersion::V1Beta1),
            _ => Err(format!(
                "unknown ExecCredential apiVersion {name:?}; expected {} or {}",
                Self::V1_NAME,
                Self::V1BETA1_NAME
            )),
        }
    }

    /// The version's name, as written in `apiVersion`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ApiVersion::V1 => Self::V1_NAME,
            ApiVersion::V1Beta1 => Self::V1BETA1_NAME,
        }
    }
}

/// What git asks a credential helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GitAction {
    /// Print the credential.
    Get,
    /// git says the credential worked: nothing to do.
    Store,
    /// git says the credential was refused: drop it from the cache.
    Erase,
}

/// What the agent's file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SinkFormat {
    /// The access token and a newline, as `token` prints it.
    Token,
    /// One JSON object, as `token --json` prints it.
    Json,
    /// HTTP headers, one a line, as `headers` prints them.
    Headers,
}

/// A value git's credential protocol can carry: one line, no NUL.
fn git_value(value: &str) -> Result<String, String> {
    if value.is_empty() || value.contains(['\n', '\r', '\0']) {
        return Err("must be a non-empty single line".to_owned());
    }
    Ok(value.to_owned())
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
