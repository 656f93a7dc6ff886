//! `agent`: keeps a file holding a valid token for processes that are not Rust (a sidecar).
//!
//! The agent follows the profile's cache with
//! [`next_token`](tokensource::CachedTokenSource::next_token): the cache refreshes when the
//! written token enters its refresh margin (jittered up to a tenth of the margin earlier, and a
//! second before the expiry the endpoint stated), or, after a failure, when its backoff allows,
//! and the agent rewrites the file with each new token.

mod sink;

use std::path::Path;
use std::time::{Duration, SystemTime};

use tokensource::config::{BuildOptions, Profile};
use tokensource::{Error, RefreshPolicy, Token};
use zeroize::Zeroizing;

use crate::args::{ProfileArgs, SinkFormat};
use crate::failure::{self, Failure};
use crate::{output, run};

use sink::Sink;

/// The longest wait between two attempts, to fetch or to write: the file is rewritten at
/// most this long after the endpoint (or the disk) recovers.
const LONGEST_BACKOFF: Duration = Duration::from_secs(60);

/// The refresh policy of a long-running agent: a failed fetch is retried (3 attempts) and the
/// next fetch waits 0.5 s, doubling up to 60 s, with jitter.
fn policy() -> RefreshPolicy {
    RefreshPolicy::default().with_backoff(Duration::from_millis(500), LONGEST_BACKOFF)
}

/// Runs the agent until SIGTERM or SIGINT (exit 0), or, with `once`, writes one token.
pub(crate) async fn run(
    profile: &ProfileArgs,
    sink: &Path,
    format: SinkFormat,
    once: bool,
) -> Result<Zeroizing<String>, Failure> {
    if once {
        return write_once(profile, sink, format).await;
    }
    // Listening before anything else, so that a signal is never the default action (death).
    let shutdown = shutdown_signal()?;
    let sink = Sink::new(sink)?;
    // Memory, or the profile's own store; never the CLI's disk cache.
    let options = BuildOptions::default().with_policy(policy());
    let profile = run::load_profile(profile, &options)?;
    let mut agent = Agent {
        profile,
        sink,
        format,
        written: None,
        fetch_failing: false,
        told_expired: false,
    };
    tokio::select! {
        () = shutdown => Ok(Zeroizing::default()),
        never = agent.keep() => match never {},
    }
}

/// `--once`: one fetch with the policy and exit codes of `token`, one write.
async fn write_once(
    profile: &ProfileArgs,
    sink: &Path,
    format: SinkFormat,
) -> Result<Zeroizing<String>, Failure> {
    let sink = Sink::new(sink)?;
    let options = BuildOptions::default().with_policy(run::policy());
    let (profile, token) = run::fetch(profile, &options).await?;
    let contents = render(format, &profile, &token);
    sink.write(contents.as_bytes())
        .map_err(|e| Failure::internal(format!("cannot write {}: {e}", sink.path().display())))?;
    Ok(Zeroizing::default())
}

/// What the file holds for `token`.
fn render(format: SinkFormat, profile: &Profile, token: &Token) -> Zeroizing<String> {
    match format {
        SinkFormat::Token => output::plain(token),
        SinkFormat::Json => output::json(
            token,
            profile.cache().policy().default_lifetime(),
            SystemTime::now(),
        ),
        SinkFormat::Headers => run::headers(profile, token),
    }
}

/// The running agent's state.
struct Agent {
    profile: Profile,
    sink: Sink,
    format: SinkFormat,
    /// The token the file holds.
    written: Option<Token>,
    /// Whether fetches are failing (a failure episode, ended by the next successful fetch).
    fetch_failing: bool,
    /// Whether stderr was told that the written token expired in this episode.
    told_expired: bool,
}

/// Nothing: the agent's loop ends only when its future is dropped.
enum Never {}

impl Agent {
    async fn keep(&mut self) -> Never {
        loop {
            let token = self.next_token().await;
            self.write(token).await;
        }
    }

    /// The next token to write: the first one, then each refresh. Failures are reported once
    /// per episode, and once more if the written token expires meanwhile.
    async fn next_token(&mut self) -> Token {
        let cache = self.profile.cache().clone();
        loop {
            let expired_at = match &self.written {
                Some(token) if self.fetch_failing && !self.told_expired => Some(self.expiry(token)),
                _ => None,
            };
            let until_expiry = expired_at
                .map(|at| at.duration_since(SystemTime::now()).unwrap_or_default())
                .unwrap_or_default();
            tokio::select! {
                result = cache.next_token(self.written.as_ref()) => match result {
                    Ok(token) => {
                        self.fetch_failing = false;
                        self.told_expired = false;
                        return token;
                    }
                    Err(error) => self.fetch_failed(&error),
                },
                // Dropping `next_token` here cancels the wait only; a fetch it started goes on
                // and the next call joins it.
                () = tokio::time::sleep(until_expiry), if expired_at.is_some() => {
                    self.told_expired = true;
                    failure::warn(&format!(
                        "agent: the token in {} expired at {} and no new one could be fetched; \
                         the file is left as it is, retrying",
                        self.sink.path().display(),
                        output::rfc3339(expired_at.unwrap_or_else(SystemTime::now)),
                    ));
                }
            }
        }
    }

    fn fetch_failed(&mut self, error: &Error) {
        if self.fetch_failing {
            return;
        }
        self.fetch_failing = true;
        let sink = self.sink.path().display();
        match &self.written {
            None => failure::warn(&format!(
                "agent: cannot fetch a token for {sink} (retrying, nothing written yet): {error}"
            )),
            Some(token) => failure::warn(&format!(
                "agent: cannot refresh the token (retrying; {sink} keeps the current one, valid \
                 until {}): {error}",
                output::rfc3339(self.expiry(token)),
            )),
        }
    }

    /// Writes `token`, retrying (with a backoff up to 60 s) until it is written; one stderr
    /// line per episode of failed writes. A token that expires meanwhile is exchanged for the
    /// cache's next.
    async fn write(&mut self, mut token: Token) {
        let mut failures: u32 = 0;
        loop {
            let contents = render(self.format, &self.profile, &token);
            match self.sink.write(contents.as_bytes()) {
                Ok(()) => {
                    self.written = Some(token);
                    return;
                }
                Err(error) => {
                    if failures == 0 {
                        failure::warn(&format!(
                            "agent: cannot write {} (retrying): {error}",
                            self.sink.path().display()
                        ));
                    }
                    failures = failures.saturating_add(1);
                    let delay = Duration::from_millis(500)
                        .saturating_mul(1 << failures.min(8))
                        .min(LONGEST_BACKOFF);
                    tokio::time::sleep(delay).await;
                    if self.expiry(&token) <= SystemTime::now() {
                        token = self.next_token().await;
                    }
                }
            }
        }
    }

    /// When `token` expires (or, of unknown lifetime, is assumed to).
    fn expiry(&self, token: &Token) -> SystemTime {
        output::expiry(token, self.profile.cache().policy().default_lifetime())
    }
}

/// A future that completes on SIGTERM or SIGINT (on Windows, Ctrl-C).
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, Failure> {
    let cannot = |e: std::io::Error| Failure::internal(format!("cannot listen for signals: {e}"));
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).map_err(cannot)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(cannot)?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        let _ = cannot;
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
