//! Secret hygiene: every error path and every `Debug`/`Display` of the public types, run with a
//! sentinel client secret and sentinel tokens, and what is printed — the texts themselves,
//! `tracing` events at TRACE level, and the process's whole stdout and stderr — never holds a
//! sentinel, and neither does any metric label. The CLI is run for every exit code the same way.
//!
//! How the output is captured: [`whole_output_is_clean`] runs this test binary again as a child
//! process with `TOKENSOURCE_HYGIENE_CHILD=1`, in which every scenario also prints each text it
//! formats (as an application logging errors would) and the `tracing` subscriber tees its output
//! to stderr; the parent then reads the child's stdout and stderr entire. In every process, a
//! global `tracing-subscriber` fmt subscriber at TRACE writes into a shared buffer that each
//! scenario checks when it ends.

mod cli;
mod client_auth;
mod config;
mod core_types;
mod http_integrations;
mod observability;
mod providers;
mod sentinel;
mod stores;
mod transport;

use std::process::Command;

use sentinel::{CHILD_VAR, forbidden_in};

/// Runs every other test of this binary in a child process and checks all it printed.
#[test]
fn whole_output_is_clean() {
    if std::env::var_os(CHILD_VAR).is_some() {
        return; // The child runs the scenarios; this is the parent's test.
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--nocapture",
            "--test-threads=2",
            "--skip",
            "whole_output_is_clean",
            "--skip",
            "cli::",
        ])
        .env(CHILD_VAR, "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the scenarios failed in the child process:\n{stdout}\n{stderr}"
    );
    // Not vacuous: the scenarios printed what they formatted, and tracing events were written.
    let printed = stdout.matches(sentinel::PRINT_MARK).count();
    assert!(printed > 200, "only {printed} texts printed:\n{stdout}");
    assert!(
        stderr.contains("token fetch failed"),
        "no tracing output on stderr:\n{stderr}"
    );
    // The reports of the observability paths ran too: fetch spans with their fields, a 401
    // replay, a store outage.
    for report in [
        "tokensource.fetch{",
        "outcome=\"ok\"",
        "outcome=\"rejected\"",
        "replaying the request with a new token",
        "cached token invalidated",
        "token store unavailable",
    ] {
        assert!(
            stderr.contains(report),
            "no {report:?} on stderr:\n{stderr}"
        );
    }
    assert!(
        stdout.contains("tokensource_fetches_total"),
        "no metric printed:\n{stdout}"
    );
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        if let Some(found) = forbidden_in(text, &[]) {
            let line = text
                .lines()
                .find(|l| l.contains(found.as_str()))
                .unwrap_or_default();
            panic!("{name} holds {found:?}: {line}");
        }
    }
}
