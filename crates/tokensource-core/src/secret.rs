//! [`SecretSource`]: a secret that may change while the process runs.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::Error;

/// Where a secret (a client secret, a private key, a client assertion) comes from: a value fixed
/// when the source was made, or a file that is read again each time the secret is needed.
///
/// Providers read their secrets once per token request, so a file rotated by a secret manager,
/// a Kubernetes projected volume or a sidecar is used at the next fetch, without a restart.
///
/// # The rotation rule
/// - A changed file is used at the next fetch. A token fetched with the old secret stays valid
///   and keeps being served until its refresh is due: a rotation costs no extra fetch, and at
///   most one if the server refuses the old token (the 401 path).
/// - A file that became unreadable or empty fails that fetch with a
///   [`Configuration`](crate::ErrorKind::Configuration) error naming the file; a cache keeps
///   serving its still-valid token meanwhile and retries with backoff, so a rotation in progress
///   (file removed, then written) never causes an error burst or a refetch loop.
/// - One trailing newline (`\n` or `\r\n`) is removed, as editors and `echo` add one.
///
/// ```
/// use secrecy::ExposeSecret;
/// use tokensource_core::SecretSource;
///
/// let dir = std::env::temp_dir().join(format!("secret-source-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("client-secret");
/// std::fs::write(&path, "first\n")?;
///
/// let secret = SecretSource::file(&path);
/// assert_eq!(secret.read()?.expose_secret(), "first");
/// std::fs::write(&path, "second\n")?; // rotated
/// assert_eq!(secret.read()?.expose_secret(), "second");
///
/// let fixed = SecretSource::from("literal");
/// assert_eq!(fixed.read()?.expose_secret(), "literal");
/// assert!(!format!("{fixed:?}").contains("literal"));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SecretSource {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Fixed(SecretString),
    File(Arc<Path>),
}

impl SecretSource {
    /// A secret that is the content of the file at `path`, read again at every
    /// [`read`](Self::read).
    pub fn file(path: impl Into<PathBuf>) -> Self {
        SecretSource {
            repr: Repr::File(Arc::from(path.into())),
        }
    }

    /// The secret now: the fixed value, or the file's content less one trailing newline.
    ///
    /// # Errors
    /// A [`Configuration`](crate::ErrorKind::Configuration) error naming the file when it cannot
    /// be read, is not UTF-8, or is empty (its field is `secret`; callers set their own with
    /// [`Error::with_field`]). The error never holds the file's content.
    pub fn read(&self) -> Result<SecretString, Error> {
        match &self.repr {
            Repr::Fixed(secret) => Ok(secret.clone()),
            Repr::File(path) => read_file(path),
        }
    }

    /// [`read`](Self::read), with errors naming `field`.
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub fn read_for(&self, field: impl Into<Cow<'static, str>>) -> Result<SecretString, Error> {
        self.read().map_err(|e| e.with_field(field))
    }

    /// The file the secret is read from, if it is one.
    pub fn path(&self) -> Option<&Path> {
        match &self.repr {
            Repr::Fixed(_) => None,
            Repr::File(path) => Some(path),
        }
    }
}

fn read_file(path: &Path) -> Result<SecretString, Error> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
        Error::configuration(
            "secret",
            format!("the secret file {} cannot be read ({e})", path.display()),
        )
    })?);
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::configuration(
            "secret",
            format!("the secret file {} is not UTF-8 text", path.display()),
        )
    })?;
    let text = text
        .strip_suffix('\n')
        .map_or(text, |t| t.strip_suffix('\r').unwrap_or(t));
    if text.is_empty() {
        return Err(Error::configuration(
            "secret",
            format!("the secret file {} is empty", path.display()),
        ));
    }
    Ok(SecretString::from(text))
}

impl From<SecretString> for SecretSource {
    fn from(secret: SecretString) -> Self {
        SecretSource {
            repr: Repr::Fixed(secret),
        }
    }
}

impl From<String> for SecretSource {
    fn from(secret: String) -> Self {
        SecretSource::from(SecretString::from(secret))
    }
}

impl From<&str> for SecretSource {
    fn from(secret: &str) -> Self {
        SecretSource::from(SecretString::from(secret))
    }
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Fixed(_) => f.write_str("SecretSource::Fixed(** redacted **)"),
            Repr::File(path) => f.debug_tuple("SecretSource::File").field(path).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use secrecy::ExposeSecret;

    #[test]
    fn files_are_read_each_time_less_one_newline() {
        let dir = std::env::temp_dir().join(format!("secret-source-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s");
        let source = SecretSource::file(&path);
        for (content, expected) in [("a\n", "a"), ("b\r\n", "b"), ("c\n\n", "c\n"), ("d", "d")] {
            std::fs::write(&path, content).unwrap();
            assert_eq!(source.read().unwrap().expose_secret(), expected);
        }
        for content in ["", "\n", "\r\n"] {
            std::fs::write(&path, content).unwrap();
            let error = source.read().unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Configuration);
            assert!(error.to_string().contains("empty"), "{error}");
        }
        std::fs::write(&path, b"\xff\xfe").unwrap();
        assert!(source.read().unwrap_err().to_string().contains("UTF-8"));
        std::fs::remove_file(&path).unwrap();
        let error = source.read_for("client_secret").unwrap_err();
        assert_eq!(error.field(), Some("client_secret"));
        assert!(error.to_string().contains("cannot be read"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn debug_never_shows_a_fixed_secret() {
        let fixed = SecretSource::from("hunter2");
        assert!(!format!("{fixed:?}").contains("hunter2"));
        assert_eq!(fixed.path(), None);
        let file = SecretSource::file("/run/secrets/x");
        assert!(format!("{file:?}").contains("/run/secrets/x"));
    }
}
