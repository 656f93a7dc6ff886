//! Configuration files: `Config::from_toml` on any text, then (when it parses) profile selection
//! and validating every profile with the built-in providers; never a panic, and every error a
//! configuration error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokensource::ErrorKind;
use tokensource::config::{Config, Registry};

/// Whether any table in the document has a `file` key: `{ file = "..." }` secrets are read when a
/// profile is validated, and a fuzzer must not read this machine's files (`/dev/zero`, say).
fn reads_files(value: &toml::Value) -> bool {
    match value {
        toml::Value::Table(table) => table.contains_key("file") || table.values().any(reads_files),
        toml::Value::Array(items) => items.iter().any(reads_files),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match Config::from_toml(text) {
        Ok(config) => config,
        Err(error) => {
            assert_eq!(error.kind(), ErrorKind::Configuration);
            return;
        }
    };
    let _ = format!("{config:?}");
    let names: Vec<String> = config.profile_names().map(str::to_owned).collect();
    if let Ok(selected) = config.select_profile(None) {
        assert!(names.iter().any(|n| n == selected));
    }
    let document: toml::Value = match toml::from_str(text) {
        Ok(document) => document,
        Err(_) => return,
    };
    if reads_files(&document) {
        return;
    }
    match config.check(&Registry::with_builtins()) {
        Ok(checked) => assert_eq!(checked, names),
        Err(error) => assert_eq!(error.kind(), ErrorKind::Configuration, "{error}"),
    }
});
