//! Tests against a real Redis: set `TOKENSOURCE_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`)
//! to run them; without it they are skipped, unless `CI` is set, where they fail. The outage
//! test runs its own `redis-server` (which must then be on `PATH`).
//!
//! One binary for all areas, to keep link times down.

mod fleet;
mod outage;
mod store_ops;
mod support;
mod tamper;
