//! The commands: load the configuration, build the profile, fetch the token, format it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokensource::config::{BuildOptions, Config, Profile, Registry};
use tokensource::{Error, RefreshPolicy, Token};
use zeroize::Zeroizing;

use crate::args::{CacheArgs, Command, ProfileArgs};
use crate::failure::Failure;
use crate::{agent, exec_credential, git_credential, output};

/// Runs `command` and returns its whole output.
pub(crate) async fn run(command: Command) -> Result<Zeroizing<String>, Failure> {
    match command {
        Command::CheckConfig { config } => check_config(&config.config),
        Command::Token {
            profile,
            cache,
            json,
        } => {
            let options = build_options(&cache)?;
            let (_, token) = fetch(&profile, &options).await?;
            Ok(if json {
                output::json(
                    &token,
                    options.policy().default_lifetime(),
                    SystemTime::now(),
                )
            } else {
                output::plain(&token)
            })
        }
        Command::Headers { profile, cache } => {
            let options = build_options(&cache)?;
            let (profile, token) = fetch(&profile, &options).await?;
            Ok(headers(&profile, &token))
        }
        Command::ExecCredential {
            profile,
            cache,
            api_version,
        } => exec_credential::run(&profile, &cache, api_version).await,
        Command::GitCredential {
            profile,
            cache,
            username,
            action,
        } => git_credential::run(&profile, &cache, &username, action).await,
        Command::Agent {
            profile,
            sink,
            format,
            once,
        } => agent::run(&profile, &sink, format, once).await,
    }
}

/// `headers`' output for `token` of `profile`.
pub(crate) fn headers(profile: &Profile, token: &Token) -> Zeroizing<String> {
    let extra = profile
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()));
    output::headers(token, extra)
}

/// The refresh policy of a run.
///
/// A run makes one fetch with at most 3 attempts; a retryable failure (connect error,
/// timeout, 429, 5xx) waits 0.5 s to 4 s before the next attempt, however long a `Retry-After`
/// asks for. With `timeout_secs = 2`, a run that fails takes at most 3 × 2 s + 2 × 4 s = 14 s.
///
/// The lease time to live bounds how long a run waits for another run that is fetching the
/// same token (twice it, 10 s) before fetching itself; a run that dies frees its lease at once.
pub(crate) fn policy() -> RefreshPolicy {
    RefreshPolicy::default()
        .with_max_attempts(3)
        .with_backoff(Duration::from_millis(500), Duration::from_secs(4))
        .with_lease_ttl(Duration::from_secs(5))
}

fn check_config(path: &Path) -> Result<Zeroizing<String>, Failure> {
    let config = Config::load(path)?;
    let names = config.check(Registry::builtins())?;
    let mut text = String::new();
    for name in names {
        text.push_str(&name);
        text.push('\n');
    }
    Ok(Zeroizing::new(text))
}

/// Where tokens are cached: memory only with `--no-cache`, else files in `--cache-dir` or the
/// user's cache folder (for profiles without a `store` table of their own). A store that fails
/// is noted, to be said once on stderr (see [`fetch`]).
pub(crate) fn build_options(cache: &CacheArgs) -> Result<BuildOptions, Error> {
    let options = BuildOptions::default()
        .with_policy(policy())
        .on_store_unavailable(|error| {
            let mut first = STORE_FAILURE
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            first.get_or_insert_with(|| error.to_string());
        });
    if cache.no_cache {
        return Ok(options.memory_only());
    }
    let dir = match &cache.cache_dir {
        Some(dir) => dir.clone(),
        None => default_cache_dir()?,
    };
    Ok(options.with_default_file_dir(dir))
}

fn default_cache_dir() -> Result<PathBuf, Error> {
    directories::BaseDirs::new()
        .map(|dirs| dirs.cache_dir().join("tokensource"))
        .ok_or_else(|| {
            Error::configuration(
                "--cache-dir",
                "the user's cache folder is unknown (is HOME set?); pass --cache-dir DIR or --no-cache",
            )
        })
}

/// The first failure of the profile's store in this run.
static STORE_FAILURE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Builds the selected profile (no network: configuration errors are found here).
pub(crate) fn load_profile(args: &ProfileArgs, options: &BuildOptions) -> Result<Profile, Error> {
    let config = Config::load(&args.config.config)?;
    let name = config.select_profile(args.profile.as_deref())?;
    config.build_with_options(name, Registry::builtins(), options)
}

/// Builds the selected profile and fetches its token. When its store failed and the token was
/// fetched without it, says so in one stderr line (a failed run has only its failure line).
pub(crate) async fn fetch(
    args: &ProfileArgs,
    options: &BuildOptions,
) -> Result<(Profile, Token), Error> {
    let profile = load_profile(args, options)?;
    let token = profile.source().token().await?;
    let store_failure = STORE_FAILURE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if let Some(failure) = store_failure {
        let line: String = failure
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let _ = writeln!(
            std::io::stderr().lock(),
            "tokensource: {line}; the token was fetched without the store"
        );
    }
    Ok((profile, token))
}
