//! Following the cache's refreshes: [`CachedTokenSource::next_token`](super::CachedTokenSource::next_token).

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::watch;

use super::flight::Reason;
use super::{FlightResult, Shared, flight, has_time_driver};
use crate::{Error, Token, TokenSource};

/// The longest single sleep while waiting for a refresh to be due. The cache's clock counts time
/// the machine spent suspended and tokio's timers do not: waking now and then re-reads the
/// clock, so a refresh due during a suspend starts soon after the resume.
const LONGEST_NAP: Duration = Duration::from_secs(10);

/// The least pause after a refresh that yielded the token being waited past.
const SAME_TOKEN_PAUSE: Duration = Duration::from_millis(100);

/// What a waiter does next.
enum Step<S: TokenSource + 'static> {
    /// Sleep this long, then look again.
    Sleep(Duration),
    /// Wait for this flight's result (after spawning it, when this waiter started it).
    Wait(watch::Receiver<FlightResult>, Option<flight::Launch<S>>),
}

/// Whether `a` and `b` are the same token: the same secret, issued and expiring at the same
/// times (a token read back from a store has millisecond times, like the one written).
fn same_token(a: &Token, b: &Token) -> bool {
    a.same_secret(b) && a.issued_at() == b.issued_at() && a.expires_at() == b.expires_at()
}

impl<S: TokenSource + 'static> Shared<S> {
    pub(super) async fn next_token(self: Arc<Self>, after: Option<&Token>) -> Result<Token, Error> {
        let here = Handle::try_current().map_err(|_| {
            Error::configuration(
                "runtime",
                "CachedTokenSource::next_token waits on a tokio runtime, and none is running here",
            )
        })?;
        if !has_time_driver(&here) {
            return Err(Error::configuration(
                "runtime",
                "the tokio runtime has no time driver, which CachedTokenSource::next_token needs: \
                 build it with enable_time() or enable_all()",
            ));
        }
        loop {
            let step = {
                let mut state = self.lock();
                let now = self.clock.now_millis();
                let current = self.current.load();
                if let Some(entry) = &*current
                    && now < entry.expires_at
                    && after.is_none_or(|after| !same_token(&entry.token, after))
                {
                    return Ok(entry.handout().clone());
                }
                match &state.flight {
                    Some(flight) => Step::Wait(flight.clone(), None),
                    None => {
                        // Due when `after` enters its margin (now, if nothing valid is cached),
                        // and not before the backoff after a failure has passed.
                        let due = current
                            .as_ref()
                            .map_or(0, |entry| entry.refresh_at)
                            .max(state.next_attempt_at);
                        if now < due {
                            Step::Sleep(Duration::from_millis(due - now))
                        } else {
                            let reason = match &*current {
                                Some(entry) if now < entry.expires_at => Reason::RefreshAhead,
                                Some(_) => Reason::Expired,
                                None => Reason::NoToken,
                            };
                            let (flight, launch) =
                                self.prepare_flight(&mut state, now, reason, true)?;
                            Step::Wait(flight, Some(launch))
                        }
                    }
                }
            };
            match step {
                Step::Sleep(wait) => tokio::time::sleep(wait.min(LONGEST_NAP)).await,
                Step::Wait(mut flight, launch) => {
                    // Spawned without the lock held, as in `token_slow`.
                    if let Some(launch) = launch {
                        launch.spawn();
                    }
                    let result = match flight.wait_for(Option::is_some).await {
                        Ok(result) => result
                            .clone()
                            .unwrap_or_else(|| Err(flight::ended_without_result())),
                        Err(_) => Err(flight::ended_without_result()),
                    };
                    match result {
                        // The store still held `after`: its entry now says when to look again;
                        // the pause keeps a zero minimum interval from turning this into a spin.
                        Ok(token) if after.is_some_and(|after| same_token(&token, after)) => {
                            tokio::time::sleep(self.policy.min_interval().max(SAME_TOKEN_PAUSE))
                                .await;
                        }
                        other => return other,
                    }
                }
            }
        }
    }
}
