//! Replays the fuzz targets' committed inputs (`fuzz/seeds/<target>/`) through the same parsers,
//! so that an input that once crashed a target (saved there with the fix) is a regression test
//! on stable Rust, without `cargo fuzz`.

use std::path::PathBuf;
use std::time::SystemTime;

use tokensource::config::{Config, Registry};
use tokensource::younium::YouniumAuthVersion;

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut inputs: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no seeds in {}", dir.display());
    inputs
}

#[test]
fn provider_responses() {
    for (_, body) in seeds("younium_response") {
        for version in [YouniumAuthVersion::V1, YouniumAuthVersion::V2] {
            let _ = tokensource::younium::parse_token_response(&body, version, SystemTime::now());
        }
    }
    for (_, body) in seeds("noyo_response") {
        let _ = tokensource::noyo::parse_token_response(&body, SystemTime::now());
    }
    for (_, body) in seeds("client_credentials_response") {
        let _ = tokensource::client_credentials::parse_token_response(&body, SystemTime::now());
    }
}

#[test]
fn stored_tokens() {
    for (path, bytes) in seeds("store_decode") {
        if let Ok(token) = tokensource::extend::decode(&bytes) {
            let again = tokensource::extend::decode(&tokensource::extend::encode(&token));
            assert!(again.is_ok(), "{}", path.display());
        }
    }
}

#[test]
fn configuration_files() {
    for (path, bytes) in seeds("config_toml") {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        // Seeds only use `{ env = ... }` secrets, never files.
        if let Ok(config) = Config::from_toml(text) {
            let _ = config.check(&Registry::with_builtins());
        } else {
            assert!(path.ends_with("broken") || !path.ends_with("all_providers"));
        }
    }
}

#[test]
fn error_bodies() {
    for (_, body) in seeds("error_message") {
        if let Some(message) = tokensource_http_message(&body) {
            assert!(!message.is_empty());
        }
    }
}

/// What every provider reads from an error body (through a provider's public parser, which
/// reports a 200 without a token with the body's message).
fn tokensource_http_message(body: &[u8]) -> Option<String> {
    tokensource::noyo::parse_token_response(body, SystemTime::now())
        .err()
        .and_then(|e| e.provider_message().map(str::to_owned))
}
