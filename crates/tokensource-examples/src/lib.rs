//! The runnable examples of the repository's top-level `examples/` folder live in this package so
//! that `cargo run --example quickstart` works from the workspace root with every feature they
//! need. It has no library code of its own.
#![forbid(unsafe_code)]
