//! A [tokensource](https://docs.rs/tokensource) provider that runs a program which prints a token,
//! like AWS's `credential_process` or kubectl's exec plugins: Vault, 1Password,
//! `gcloud auth print-access-token`, an in-house script.
//!
//! ```no_run
//! use std::time::Duration;
//! use tokensource_command::CommandTokenSource;
//! use tokensource_core::{CachedTokenSource, TokenSource};
//!
//! # async fn run() -> Result<(), tokensource_core::Error> {
//! let vault = CommandTokenSource::builder(["vault", "read", "-field=token", "secret/api-token"])
//!     .timeout(Duration::from_secs(10))
//!     .build()?;
//! let source = CachedTokenSource::new(vault); // runs the command once per token lifetime
//! let token = source.token().await?;
//! # let _ = token;
//! # Ok(())
//! # }
//! ```
//!
//! # The contract
//! - The argv runs without a shell: a bare name is looked up on `PATH`; a name with a `/` is
//!   relative to the [base folder](CommandBuilder::base_dir) (a configuration file's folder).
//! - The environment is the caller's plus [`env`](CommandBuilder::env) (the configuration layer
//!   adds `TOKENSOURCE_PROFILE`); stdin is closed; the working directory is the caller's; the
//!   command's stderr is passed through.
//! - Past the [timeout](CommandBuilder::timeout) (default 10 s) the process and everything it
//!   started (its process group, on Unix) are killed and reaped. A fetch that is cancelled, or a
//!   source that is dropped, kills them too. A command that leaves a child holding its output open
//!   after it exits does not hold the fetch open: reading stops shortly after the exit.
//! - Its stdout (at most 1 MiB, like an HTTP body) is a JSON object
//!   `{"access_token": "...", "expires_in": <seconds>}` or `{"access_token": "...",
//!   "expires_at": "<RFC 3339>"}` (with both, the earlier wins; `token_type`, if present, must be
//!   Bearer, in any case), or a bare token (one trailing newline removed; its lifetime unknown, or a
//!   JWT's `exp`). [`OutputFormat::Auto`] takes JSON when the output starts with `{`.
//! - Errors: a command that cannot be started is a
//!   [`Configuration`](tokensource_core::ErrorKind::Configuration) error naming `command`; a
//!   non-zero exit status or the timeout is
//!   [`Unavailable`](tokensource_core::ErrorKind::Unavailable) (retried); output that is not a
//!   valid token is [`InvalidResponse`](tokensource_core::ErrorKind::InvalidResponse) (not
//!   retried). The output is a secret from the moment it is read: it never appears in a message.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod output;
#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub mod profile;
mod run;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use tokensource_core::{Error, Token, TokenSource};

pub use output::parse_output;

/// The provider name errors carry and configuration files use (`provider = "command"`).
pub const PROVIDER: &str = "command";

/// The longest output read, in bytes (the same cap as an HTTP body).
pub const MAX_OUTPUT_LEN: usize = 1 << 20;

/// How the command's output is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutputFormat {
    /// JSON when the output starts with `{` (after white space), else a bare token.
    #[default]
    Auto,
    /// A JSON object with `access_token` and `expires_in` or `expires_at`.
    Json,
    /// The token itself, one trailing newline removed.
    Token,
}

impl std::str::FromStr for OutputFormat {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        match text {
            "auto" => Ok(OutputFormat::Auto),
            "json" => Ok(OutputFormat::Json),
            "token" => Ok(OutputFormat::Token),
            other => Err(Error::configuration(
                "output",
                format!("unknown output {other:?}; expected auto, json or token"),
            )),
        }
    }
}

impl OutputFormat {
    /// The name configuration files use.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Auto => "auto",
            OutputFormat::Json => "json",
            OutputFormat::Token => "token",
        }
    }
}

/// A [`TokenSource`] that runs a command and reads the token it prints; see the
/// [crate documentation](crate) for the contract. Wrap it in a
/// [`CachedTokenSource`](tokensource_core::CachedTokenSource): it runs the command on every call.
#[derive(Clone)]
pub struct CommandTokenSource {
    program: PathBuf,
    args: Vec<String>,
    argv: Vec<String>,
    output: OutputFormat,
    timeout: Duration,
    env: Vec<(String, String)>,
}

/// Builds a [`CommandTokenSource`]; see [`CommandTokenSource::builder`].
#[derive(Clone)]
pub struct CommandBuilder {
    argv: Vec<String>,
    output: OutputFormat,
    timeout: Duration,
    env: Vec<(String, String)>,
    base_dir: Option<PathBuf>,
}

impl CommandTokenSource {
    /// Starts configuring a source that runs `argv` (the program, then its arguments).
    pub fn builder<I, S>(argv: I) -> CommandBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        CommandBuilder {
            argv: argv.into_iter().map(Into::into).collect(),
            output: OutputFormat::Auto,
            timeout: Duration::from_secs(10),
            env: Vec::new(),
            base_dir: None,
        }
    }

    /// The argv as configured.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// How the output is read.
    pub fn output(&self) -> OutputFormat {
        self.output
    }
}

impl CommandBuilder {
    /// How the output is read (default [`OutputFormat::Auto`]).
    #[must_use]
    pub fn output(mut self, output: OutputFormat) -> Self {
        self.output = output;
        self
    }

    /// The hard limit on one run (default 10 s): past it the process and its children are killed.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Adds an environment variable for the command (besides the caller's environment).
    #[must_use]
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// The folder a program name containing `/` is relative to (a configuration file's folder).
    #[must_use]
    pub fn base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base_dir = Some(dir.into());
        self
    }

    /// Builds the source. Nothing runs yet.
    ///
    /// # Errors
    /// A configuration error naming `command` when the argv is empty or its program is empty,
    /// or naming `timeout_secs` for a zero timeout.
    pub fn build(self) -> Result<CommandTokenSource, Error> {
        let Some((program, args)) = self.argv.split_first() else {
            return Err(Error::configuration(
                "command",
                "must name a program to run: command = [\"program\", \"arg\", ...]",
            ));
        };
        if program.is_empty() {
            return Err(Error::configuration("command", "the program name is empty"));
        }
        if self.timeout.is_zero() {
            return Err(Error::configuration(
                "timeout_secs",
                "must be longer than zero",
            ));
        }
        let program = match &self.base_dir {
            Some(dir) if program.contains('/') && Path::new(program).is_relative() => {
                dir.join(program)
            }
            _ => PathBuf::from(program),
        };
        Ok(CommandTokenSource {
            program,
            args: args.to_vec(),
            argv: self.argv,
            output: self.output,
            timeout: self.timeout,
            env: self.env,
        })
    }
}

#[async_trait]
impl TokenSource for CommandTokenSource {
    async fn token(&self) -> Result<Token, Error> {
        let issued_at = std::time::SystemTime::now();
        let stdout = run::run(self).await?;
        output::parse_output(&stdout, self.output, issued_at)
    }
}

// The argv may carry secrets (a token passed as an argument): only the program is shown.
impl fmt::Debug for CommandTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandTokenSource")
            .field("program", &self.program)
            .field("args", &self.args.len())
            .field("output", &self.output)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for CommandBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandBuilder")
            .field("program", &self.argv.first())
            .field("args", &self.argv.len().saturating_sub(1))
            .field("output", &self.output)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The README's example, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
