//! Tests against a real Redis: `TOKENSOURCE_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`) if
//! set, else a `redis-server` the tests start themselves. Without either they fail and say what
//! to install; they never pass by skipping. The outage and fleet-scale tests run servers of
//! their own (so that they can kill them, or count every command).
//!
//! One binary for all areas, to keep link times down.

mod cluster;
mod fleet;
mod outage;
mod scale;
mod sentinel;
mod store_ops;
mod support;
mod tamper;
mod tls;
