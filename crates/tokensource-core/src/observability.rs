//! What the cache reports about its work: `tracing` spans and events, and, with the `metrics`
//! feature, metrics through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! Nothing here is on the hot path: a call answered from a fresh cached token emits no span, no
//! event and no metric. No field or label ever holds a secret or a token: the provider label is
//! the name given to [`CacheBuilder::provider`](crate::CacheBuilder::provider), the store label
//! is [`TokenStore::name`](crate::store::TokenStore::name), errors appear through their
//! `Display`, which never shows one.
//!
//! # The `tokensource.fetch` span
//! One span per *flight*: the work of getting a new token for a cache, shared by every caller
//! that needed it (a thousand callers on a cold cache make one flight). It is an `INFO` span with
//! these fields:
//!
//! | field | value |
//! |---|---|
//! | `provider` | the provider's name ([`CacheBuilder::provider`](crate::CacheBuilder::provider)) |
//! | `reason` | why the flight started: `no_token` (first use, or earlier fetches failed), `expired`, `invalidated` (an API refused the token), `refresh_ahead` (a valid token is inside its refresh margin) |
//! | `attempt` | how many times the provider was called (retries included); `0` when the token came from the shared store |
//! | `origin` | where the new token came from: `provider` or `store` (set on success) |
//! | `outcome` | `ok`, or the failure: `rejected`, `unavailable`, `invalid`, `other` (see below) |
//! | `status` | the HTTP status of the failure, when it carries one |
//! | `duration_ms` | from the start of the flight to its result, backoff between attempts included |
//!
//! **Link to the caller.** The flight runs in a task of its own, so the span is linked to the
//! span current in the caller that started it:
//! - when that caller waits for the flight (no usable token), the `tokensource.fetch` span is a
//!   *child* of the caller's span: a trace of a request shows the fetch inside it;
//! - for a refresh ahead of expiry, the caller does not wait (it gets the valid token at once), so
//!   the span is a *root* span that [`follows_from`](tracing::Span::follows_from) the caller's
//!   span: the caller's span still ends when the caller is done, and the trace links the two.
//!
//! Events inside the span: `fetching a token` (`DEBUG`, per attempt, field `attempt`), `token
//! fetch attempt finished` (`DEBUG`, fields `attempt`, `outcome`, `status`, `duration_ms`), `token
//! fetch failed, retrying` (`DEBUG`, `retry_in_ms`), `token fetch failed` (`WARN`, when the flight
//! fails, `failures`, `retry_in_ms`). A provider's own events during a call appear inside it too.
//!
//! To see the spans with `tracing-subscriber`'s fmt layer, have it print spans when they close:
//!
//! ```
//! use tracing_subscriber::fmt::format::FmtSpan;
//!
//! tracing_subscriber::fmt()
//!     .with_max_level(tracing::Level::INFO)
//!     .with_span_events(FmtSpan::CLOSE)
//!     .init();
//! ```
//!
//! # Events
//! | event | level | fields | when |
//! |---|---|---|---|
//! | `refreshing the token ahead of expiry` | `DEBUG` | `provider`, `expires_in_ms` | a caller found the token inside its refresh margin and a background refresh starts; callers keep getting the valid token |
//! | `cached token invalidated` | `INFO` | `provider` | [`TokenSource::invalidate`](crate::TokenSource::invalidate) dropped the cached token (an API answered 401) |
//! | `freshly fetched tokens keep being refused; backing off` | `WARN` | `provider`, `refused`, `refetch_in_ms` | tokens are refused right after they were fetched |
//! | `token store unavailable; fetching tokens locally until it is back` | `WARN` | `provider`, `store`, `error` | a store operation failed; the cache fetches in this process meanwhile. Once per episode, not per failed operation |
//! | `token store is back; sharing tokens again` | `INFO` | `provider`, `store` | the store answered again after such a failure. Once per episode |
//! | `the API refused the token (401); replaying the request with a new token` | `INFO` | `integration` (`middleware` or `tower`) | the `tokensource` facade's reqwest middleware or tower layer resends a request after a 401 |
//! | `the API refused the token (401); the request cannot be replayed` | `DEBUG` | | its body cannot be copied: the 401 goes to the caller, the next request gets a new token |
//! | `the API refused the token (401); the source gives the same token, so the request is not replayed` | `DEBUG` | | a source that cannot give another token (a static one, say) |
//!
//! # Metrics
//! With the `metrics` feature (off by default), through whichever recorder the application
//! installed (a Prometheus exporter, say). The names are stable:
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `tokensource_fetches_total` | counter | `provider`, `outcome` | calls of the provider by the cache, one per attempt (a retried fetch counts each attempt) |
//! | `tokensource_fetch_duration_seconds` | histogram | `provider` | how long each of those calls took |
//! | `tokensource_store_errors_total` | counter | `store` | failed operations of a shared token store (each one, while the events above come once per episode) |
//! | `tokensource_replays_total` | counter | none | requests resent after a 401 by the facade's middleware or tower layer |
//! | `tokensource_token_expires_in_seconds` | gauge | `provider` | how long the cached token has left before the cache stops handing it out; `0` when it holds none |
//!
//! `outcome` maps the [`ErrorKind`]: `ok` for a token, `rejected` for
//! [`CredentialsRejected`](ErrorKind::CredentialsRejected), `unavailable` for
//! [`Unavailable`](ErrorKind::Unavailable) (an attempt past its deadline included), `invalid` for
//! [`InvalidResponse`](ErrorKind::InvalidResponse), `other` for everything else (a source that
//! panicked, a configuration error, a custom source's error).
//!
//! The gauge is set when the cache gets a token (from the provider or the shared store), when a
//! refresh ahead of expiry starts, when a fetch fails and when a token is invalidated, and every
//! second in between: the `metrics` facade has no callback at scrape time and the hot path records
//! nothing, so a task of the cache's runtime (one per cache, started with its first fetch, holding
//! the cache weakly) keeps it counting down. When the cache is dropped the task ends and sets the
//! gauge to `0`; when its runtime shuts down, the cache's next fetch starts it again.
//!
//! Call [`describe_metrics`] after installing the recorder for units and help texts. With
//! `metrics-exporter-prometheus`:
//!
//! ```
//! # #[cfg(feature = "metrics")] {
//! let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
//!     .install_recorder()
//!     .expect("no other recorder installed");
//! tokensource_core::observability::describe_metrics();
//! // Serve `prometheus.render()` on your /metrics endpoint.
//! # let _ = prometheus;
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use crate::ErrorKind;

/// The name of the span of one flight; see the [module documentation](self).
pub const FETCH_SPAN: &str = "tokensource.fetch";
/// Counter: calls of the provider, labels `provider` and `outcome`.
pub const FETCHES_TOTAL: &str = "tokensource_fetches_total";
/// Histogram: seconds each call of the provider took, label `provider`.
pub const FETCH_DURATION_SECONDS: &str = "tokensource_fetch_duration_seconds";
/// Counter: failed operations of a shared token store, label `store`.
pub const STORE_ERRORS_TOTAL: &str = "tokensource_store_errors_total";
/// Counter: requests resent after a 401 by an HTTP integration.
pub const REPLAYS_TOTAL: &str = "tokensource_replays_total";
/// Gauge: seconds the cached token has left, label `provider`.
pub const TOKEN_EXPIRES_IN_SECONDS: &str = "tokensource_token_expires_in_seconds";

/// The `outcome` label and field of a failure of `kind`; a token is `ok`.
pub(crate) fn outcome(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::CredentialsRejected => "rejected",
        ErrorKind::Unavailable => "unavailable",
        ErrorKind::InvalidResponse => "invalid",
        _ => "other",
    }
}

/// Registers the units and help texts of every metric above with the installed recorder. Call it
/// once, after installing the recorder (descriptions given to no recorder are lost). Without the
/// `metrics` feature there is nothing to describe.
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub fn describe_metrics() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        FETCHES_TOTAL,
        Unit::Count,
        "Calls of the token provider by the tokensource cache, by provider and outcome."
    );
    describe_histogram!(
        FETCH_DURATION_SECONDS,
        Unit::Seconds,
        "How long each call of the token provider took."
    );
    describe_counter!(
        STORE_ERRORS_TOTAL,
        Unit::Count,
        "Failed operations of a shared token store, by store."
    );
    describe_counter!(
        REPLAYS_TOTAL,
        Unit::Count,
        "Requests resent with a new token after an API answered 401."
    );
    describe_gauge!(
        TOKEN_EXPIRES_IN_SECONDS,
        Unit::Seconds,
        "Seconds the cached token had left when the cache last looked (0: no token)."
    );
}

/// Counts a request resent after a 401 ([`REPLAYS_TOTAL`]): for HTTP integrations, such as the
/// `tokensource` facade's middleware and tower layer. Does nothing without the `metrics`
/// feature.
#[inline]
pub fn record_replay() {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(REPLAYS_TOTAL).increment(1);
}

/// Counts one call of the provider and its duration.
#[inline]
pub(crate) fn record_fetch(provider: &Arc<str>, outcome: &'static str, elapsed: Duration) {
    #[cfg(feature = "metrics")]
    {
        ::metrics::counter!(FETCHES_TOTAL, "provider" => Arc::clone(provider), "outcome" => outcome)
            .increment(1);
        ::metrics::histogram!(FETCH_DURATION_SECONDS, "provider" => Arc::clone(provider))
            .record(elapsed.as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (provider, outcome, elapsed);
}

/// Counts one failed store operation.
#[inline]
pub(crate) fn record_store_error(store: &Arc<str>) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(STORE_ERRORS_TOTAL, "store" => Arc::clone(store)).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = store;
}

/// Sets how long the cached token has left (zero: none).
#[cfg(feature = "metrics")]
#[inline]
pub(crate) fn record_expires_in(provider: &Arc<str>, left: Duration) {
    ::metrics::gauge!(TOKEN_EXPIRES_IN_SECONDS, "provider" => Arc::clone(provider))
        .set(left.as_secs_f64());
}
