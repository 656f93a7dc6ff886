//! Hardening: the project keeps working under bad input, faults and load.
//!
//! - [`hostile`]: a table of hostile token-endpoint responses, run against every provider (Younium
//!   v1 and v2, Noyo, OAuth2 client credentials) over real loopback HTTP, through the test kit's
//!   mock servers and its raw TCP responder. Each case states the error kind (or token) it
//!   must produce; none may panic, hang or read without bound.
//! - [`faults`]: the token endpoint down, slow, flapping or resetting, during refresh-ahead and
//!   after expiry, through `CachedTokenSource` with 200 concurrent callers: callers holding a valid
//!   token never see an error, errors after expiry are `Unavailable`, and the endpoint sees no
//!   more requests than the backoff policy allows.
//! - [`soak`]: a million calls through the cache and (scaled by `TOKENSOURCE_SOAK_*` variables)
//!   through the reqwest middleware, crossing several token lifetimes: no error, one fetch per
//!   refresh period, flat memory.
//! - [`testkit`]: the test kit itself ends cleanly under load.
//!
//! Wired in `crates/tokensource/Cargo.toml`; run with
//! `cargo test -p tokensource --all-features --test hardening -- --nocapture` to see the table of
//! hostile cases; the summary lines and the soak figures are printed in any case.

mod faults;
mod hostile;
mod providers;
mod soak;
mod testkit;

/// Writes a line of figures past libtest's output capture (which only takes `print!` and
/// `eprint!`), so that it shows in CI logs even when the test passes.
fn report(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Soak tests measure memory and throughput, so they run alone: they take this lock for writing,
/// every other test for reading.
static EXCLUSIVE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());
