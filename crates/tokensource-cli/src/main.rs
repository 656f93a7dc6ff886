//! `tokensource`: prints a cached access token, or the HTTP headers an API request needs, for a
//! profile of a TOML configuration file; or checks that file. It also hands tokens to tools that
//! are not Rust: kubectl (`exec-credential`), git (`git-credential`), and processes that read a
//! file (`agent`, a sidecar).
//!
//! The contract scripts rely on (commands, output formats, exit codes) is in `--help` and in
//! the repository's `docs/cli.md`:
//!
//! - stdout carries the result only on success, and is empty on failure;
//! - stderr carries one line on failure, which never contains the secret or the token;
//! - the exit code says what failed: 0 ok, 2 usage or configuration error, 3 credentials
//!   rejected, 4 token endpoint unavailable (and any other failure), 5 invalid response.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![forbid(unsafe_code)]

mod agent;
mod args;
mod exec_credential;
mod failure;
mod git_credential;
mod output;
mod run;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::failure::Failure;

fn main() -> ExitCode {
    // A panic is a bug; it still ends with one line on stderr (its location only: a panic
    // message could quote data) and exit 4.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr().lock(),
            "tokensource: internal error{at} (please report it)"
        );
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version: their text is the output.
        Err(error) if !error.use_stderr() => {
            return match error.print() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => Failure::internal(format!("cannot write to stdout: {e}")).report(),
            };
        }
        Err(error) => return Failure::usage(&error).report(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return Failure::internal(format!("cannot start the runtime: {error}")).report();
        }
    };
    // The whole output is computed before any of it is written, so stdout stays empty on failure.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(run::run(cli.command))
    }));
    drop(runtime);
    let Ok(result) = result else {
        return ExitCode::from(failure::EXIT_UNAVAILABLE);
    };
    match result {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    Failure::internal(format!("cannot write to stdout: {error}")).report()
                }
            }
        }
        Err(failure) => failure.report(),
    }
}
