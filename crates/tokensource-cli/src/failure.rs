//! How a failed run ends: an exit code and one line on stderr.

use std::io::Write;
use std::process::ExitCode;

use tokensource::{Error, ErrorKind};

/// Exit code for a usage or configuration error.
pub(crate) const EXIT_CONFIGURATION: u8 = 2;
/// Exit code for credentials the token endpoint rejected.
pub(crate) const EXIT_REJECTED: u8 = 3;
/// Exit code for an unavailable token endpoint, and for any other failure.
pub(crate) const EXIT_UNAVAILABLE: u8 = 4;
/// Exit code for an invalid response from the token endpoint.
pub(crate) const EXIT_INVALID_RESPONSE: u8 = 5;

/// A failed run: what to print on stderr and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// A failure outside the token endpoint's answer (the runtime, stdout): exit 4.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_UNAVAILABLE,
            message: message.into(),
        }
    }

    /// A command line clap refused: exit 2.
    pub(crate) fn usage(error: &clap::Error) -> Self {
        let message = match error.kind() {
            // clap's answer to a bare `tokensource` is the whole help text.
            clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                "a command is required: token, headers, check-config, exec-credential, git-credential or agent".to_owned()
            }
            _ => one_line_usage(error),
        };
        Failure {
            code: EXIT_CONFIGURATION,
            message: format!("{message} (see tokensource --help)"),
        }
    }

    /// Prints the message on stderr and returns the exit code.
    pub(crate) fn report(self) -> ExitCode {
        let line = one_line(&self.message);
        // Nothing more can be done if stderr is closed.
        let _ = writeln!(std::io::stderr().lock(), "tokensource: {line}");
        ExitCode::from(self.code)
    }
}

/// Writes one line on stderr about a failure the process carries on after (the agent's).
pub(crate) fn warn(message: &str) {
    // Nothing more can be done if stderr is closed.
    let _ = writeln!(
        std::io::stderr().lock(),
        "tokensource: {}",
        one_line(message)
    );
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            code: exit_code(error.kind()),
            // The error's Display never holds a secret or a token: the provider, the status,
            // what was wrong, and the provider's own (sanitized) message.
            message: error.to_string(),
        }
    }
}

/// The exit code for an error of `kind`.
pub(crate) fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Configuration => EXIT_CONFIGURATION,
        ErrorKind::CredentialsRejected => EXIT_REJECTED,
        ErrorKind::InvalidResponse => EXIT_INVALID_RESPONSE,
        // Unavailable, a custom source's Other, and kinds added later: trying again may help.
        _ => EXIT_UNAVAILABLE,
    }
}

/// clap's multi-line error (message, usage, hint) as one line: the message and its details,
/// without the usage block.
fn one_line_usage(error: &clap::Error) -> String {
    let text = error.render().to_string();
    let line = text
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    if line.is_empty() {
        "invalid command line".to_owned()
    } else {
        line.to_owned()
    }
}

/// `text` on one line: control characters (newlines in a file name, say) become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_the_contract_codes() {
        assert_eq!(exit_code(ErrorKind::Configuration), 2);
        assert_eq!(exit_code(ErrorKind::CredentialsRejected), 3);
        assert_eq!(exit_code(ErrorKind::Unavailable), 4);
        assert_eq!(exit_code(ErrorKind::Other), 4);
        assert_eq!(exit_code(ErrorKind::InvalidResponse), 5);
    }

    #[test]
    fn messages_are_one_line() {
        assert_eq!(one_line("a\nb\r\n\tc\n"), "a b   c");
        let failure = Failure::from(Error::configuration(
            "config",
            "the file x\ny cannot be read",
        ));
        assert_eq!(failure.code, 2);
        assert!(!one_line(&failure.message).contains('\n'));
    }
}
