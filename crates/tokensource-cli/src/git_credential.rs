//! `git-credential`: a git credential helper (git's `credential.helper`).
//!
//! git runs the helper with an action and writes `key=value` lines on its stdin, ending with a
//! blank line or EOF (gitcredentials(7), git-credential(1)). `protocol` and `host` decide whether
//! a token may be handed out at all (never for plain `http` to a host other than loopback), and
//! `password` is the token `erase` drops; every other key is ignored.

use std::io::{BufRead, BufReader, Read};

use tokensource::{Token, TokenSource};
use zeroize::Zeroizing;

use crate::args::{CacheArgs, GitAction, ProfileArgs};
use crate::failure::Failure;
use crate::{output, run};

/// The most of git's request that is read; git's requests are a few hundred bytes.
const MAX_REQUEST: u64 = 1024 * 1024;

/// What git sent that this helper uses.
#[derive(Default)]
struct Request {
    /// The password git used (for `erase`: the token it says was refused).
    password: Option<Zeroizing<String>>,
    /// The remote's protocol (`https`, `http`, ...).
    protocol: Option<String>,
    /// The remote's host, with its port when it has one.
    host: Option<String>,
}

impl Request {
    /// Reads `key=value` lines up to a blank line or EOF (at most [`MAX_REQUEST`] bytes).
    /// Unknown keys, and lines that are not `key=value`, are ignored.
    fn read(input: impl Read) -> std::io::Result<Request> {
        let mut reader = BufReader::new(input.take(MAX_REQUEST));
        let mut request = Request::default();
        let mut line = Zeroizing::new(Vec::new());
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            let mut text: &[u8] = &line;
            text = text.strip_suffix(b"\n").unwrap_or(text);
            text = text.strip_suffix(b"\r").unwrap_or(text);
            if text.is_empty() {
                break;
            }
            if let Some(value) = text.strip_prefix(b"password=")
                && let Ok(value) = std::str::from_utf8(value)
            {
                request.password = Some(Zeroizing::new(value.to_owned()));
            } else if let Some(value) = text.strip_prefix(b"protocol=") {
                request.protocol = Some(String::from_utf8_lossy(value).into_owned());
            } else if let Some(value) = text.strip_prefix(b"host=") {
                request.host = Some(String::from_utf8_lossy(value).into_owned());
            }
        }
        Ok(request)
    }
}

impl Request {
    /// Refuses to hand a token to plain `http` unless the host is loopback: the token would cross
    /// the network in clear (the rule every token request follows, applied to git's remote).
    fn check_transport(&self) -> Result<(), Failure> {
        if !self
            .protocol
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("http"))
        {
            return Ok(());
        }
        let host = self.host.as_deref().unwrap_or_default();
        // The token-endpoint rule: plain http only to localhost, 127.0.0.0/8 or ::1.
        let loopback = tokensource_http::Url::parse(&format!("http://{host}/"))
            .is_ok_and(|url| tokensource_http::check_url(&url, false).is_ok());
        if loopback {
            return Ok(());
        }
        Err(Failure::from(tokensource::Error::configuration(
            "git-credential",
            format!(
                "git asks for a token for plain http://{}: tokens are sent over https (or to loopback) only",
                one_line_host(host)
            ),
        )))
    }
}

/// `host` as git sent it, without control characters, for a one-line message.
fn one_line_host(host: &str) -> String {
    host.chars().filter(|c| !c.is_control()).take(256).collect()
}

/// Answers git's `action`.
pub(crate) async fn run(
    profile: &ProfileArgs,
    cache: &CacheArgs,
    username: &str,
    action: GitAction,
) -> Result<Zeroizing<String>, Failure> {
    let request = Request::read(std::io::stdin().lock())
        .map_err(|e| Failure::internal(format!("cannot read git's request on stdin: {e}")))?;
    match action {
        GitAction::Get => {
            request.check_transport()?;
            let options = run::build_options(cache)?;
            let (_, token) = run::fetch(profile, &options).await?;
            Ok(output::git_credential(
                &token,
                username,
                options.policy().default_lifetime(),
            ))
        }
        // The token is cached already (or, with --no-cache, is not to be kept).
        GitAction::Store => Ok(Zeroizing::default()),
        GitAction::Erase => {
            // Without a cache there is nothing to drop; a password that is no valid token was
            // not handed out by this helper.
            if let Some(password) = &request.password
                && !cache.no_cache
                && let Ok(token) = Token::bearer(password.as_str())
            {
                let options = run::build_options(cache)?;
                let profile = run::load_profile(profile, &options)?;
                // Compare and delete: removed only if it is still the cached token, so a
                // newer token another run fetched meanwhile stays.
                profile.source().invalidate(&token).await;
            }
            Ok(Zeroizing::default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(input: &[u8]) -> Option<String> {
        Request::read(input)
            .unwrap()
            .password
            .map(|p| p.as_str().to_owned())
    }

    #[test]
    fn reads_the_password_and_ignores_everything_else() {
        let request = b"protocol=https\nhost=git.example.com\nusername=x-access-token\n\
            password=tok=en/with+signs\ncapability[]=authtype\nwwwauth[]=Basic realm=\"git\"\n\n";
        assert_eq!(password(request).as_deref(), Some("tok=en/with+signs"));
        assert_eq!(
            password(b"protocol=https\r\npassword=abc\r\n\r\n").as_deref(),
            Some("abc")
        );
        assert_eq!(
            password(b"password=abc").as_deref(),
            Some("abc"),
            "EOF ends it"
        );
        assert_eq!(password(b"host=x\n").as_deref(), None);
        assert_eq!(password(b"").as_deref(), None);
        // Up to the blank line only.
        assert_eq!(password(b"host=x\n\npassword=late\n").as_deref(), None);
        // Junk is ignored, never a panic.
        assert_eq!(
            password(b"\xff\xfe=\x00\nno equals sign\n=\npassword=ok\n").as_deref(),
            Some("ok")
        );
        assert_eq!(password(b"password=\xff\n").as_deref(), None);
        // The last password wins, as in git.
        assert_eq!(password(b"password=a\npassword=b\n").as_deref(), Some("b"));
    }

    #[test]
    fn plain_http_gets_a_token_only_on_loopback() {
        let allowed = |input: &[u8]| Request::read(input).unwrap().check_transport().is_ok();
        assert!(allowed(b"protocol=https\nhost=git.example.com\n"));
        assert!(
            allowed(b"host=git.example.com\n"),
            "git always names the protocol; none is not http"
        );
        assert!(allowed(b"protocol=http\nhost=127.0.0.1:8080\n"));
        assert!(allowed(b"protocol=http\nhost=localhost\n"));
        assert!(allowed(b"protocol=http\nhost=[::1]:3000\n"));
        assert!(!allowed(b"protocol=http\nhost=git.example.com\n"));
        assert!(!allowed(b"protocol=HTTP\nhost=10.0.0.1\n"));
        assert!(!allowed(b"protocol=http\nhost=127.0.0.1.evil.example\n"));
        assert!(!allowed(b"protocol=http\n"));
    }

    #[test]
    fn a_huge_request_is_cut_off() {
        let mut input = vec![b'x'; 3 * 1024 * 1024];
        input.extend_from_slice(b"\npassword=after-the-cap\n");
        assert_eq!(password(&input), None);
    }
}
