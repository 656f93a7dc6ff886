//! Property tests across crates: what untrusted or hand-written input can reach — token responses
//! through the real HTTP path, configuration files, the disk cache, lifetimes and JWT claims —
//! never panics, and valid input round-trips.
//!
//! Per-crate properties live next to their parsers (each provider's `response.rs`,
//! `tokensource-core`'s `store.rs` and `lifetime.rs`, `tokensource-redis`'s `envelope.rs`); the
//! fuzz targets in `fuzz/` run the same parsers coverage-guided, and [`seeds`] replays their
//! committed inputs here so that a crash found once stays fixed without `cargo fuzz`.

mod config;
mod disk_cache;
mod lifetimes;
mod providers;
mod seeds;
