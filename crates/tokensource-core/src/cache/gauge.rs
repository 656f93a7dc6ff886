//! Keeps the `tokensource_token_expires_in_seconds` gauge counting down between the moments the
//! cache looks at its token (feature `metrics`).
//!
//! The `metrics` facade has no callback at scrape time, and the hot path records nothing, so a
//! task of the cache's runtime sets the gauge every [`TICK`]: one per cache, started with its
//! first flight. It holds the cache weakly and ends once the cache is dropped, setting the gauge
//! to zero (no token); a runtime that shuts down drops it, and the next flight, on another
//! runtime, starts it again.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::runtime::Handle;

use super::Shared;
use crate::TokenSource;

/// How often the gauge is set between flights.
pub(super) const TICK: Duration = Duration::from_secs(1);

/// Starts the cache's ticker on `runtime` unless it runs already.
pub(super) fn ensure_ticking<S: TokenSource + 'static>(shared: &Arc<Shared<S>>, runtime: &Handle) {
    if shared.gauge_ticking.swap(true, Ordering::AcqRel) {
        return;
    }
    let ticker = Ticker {
        shared: Arc::downgrade(shared),
        provider: Arc::clone(&shared.provider),
    };
    runtime.spawn(ticker.run());
}

/// The ticker task's state: dropped when the task ends, however it ends.
struct Ticker<S: TokenSource + 'static> {
    shared: Weak<Shared<S>>,
    provider: Arc<str>,
}

impl<S: TokenSource + 'static> Ticker<S> {
    async fn run(self) {
        loop {
            tokio::time::sleep(TICK).await;
            // Held only for the moment: the ticker never keeps the cache alive.
            let Some(shared) = self.shared.upgrade() else {
                return;
            };
            shared.record_expiry(shared.clock.now_millis());
        }
    }
}

impl<S: TokenSource + 'static> Drop for Ticker<S> {
    fn drop(&mut self) {
        match self.shared.upgrade() {
            // The runtime went away under a live cache: its next flight starts a new ticker.
            Some(shared) => shared.gauge_ticking.store(false, Ordering::Release),
            None => crate::observability::record_expires_in(&self.provider, Duration::ZERO),
        }
    }
}
