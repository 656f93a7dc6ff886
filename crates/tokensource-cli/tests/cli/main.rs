//! End-to-end tests of the `tokensource` binary: each test starts a mock token server from
//! `tokensource-testkit`, writes a configuration, runs the real binary as a child process and
//! checks its exit code, stdout and stderr, and the requests the server counted.

#[cfg(unix)]
mod agent;
mod cache;
mod client_auth;
mod exec_credential;
mod exit_codes;
mod git_credential;
mod git_http;
mod output;
mod support;
mod transport;
