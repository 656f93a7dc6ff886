//! The one error type every token source returns.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A boxed error from a provider or store, shared so that [`Error`] stays cheap to clone.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What went wrong, at the granularity a caller branches on.
///
/// Obtain it with [`Error::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The token endpoint refused the credentials (HTTP 400, 401 or 403). Retrying will not help.
    CredentialsRejected,
    /// The token endpoint could not be reached or answered with a transient failure
    /// (connect error, timeout, HTTP 429 or 5xx). Retrying later may help.
    Unavailable,
    /// The token endpoint answered, but not with a usable token (malformed body, missing field, illegal
    /// token characters, a redirect, a body over the size cap, ...).
    InvalidResponse,
    /// The source or the cache is configured wrongly (missing secret, bad URL, insecure scheme, ...).
    Configuration,
    /// An error from a custom token source or store, carried as its [`source`](StdError::source).
    Other,
}

/// The error returned by [`TokenSource::token`](crate::TokenSource::token) and everything built on it.
///
/// It is cheap to clone (one reference count), so the cache can hand the same error to every
/// caller that waited for a failed fetch. Its `Display` and `Debug` never contain a client secret
/// or an access token: only the provider name, the HTTP status, a description of what was wrong,
/// and the provider's own error message (control characters removed, length capped).
///
/// ```
/// use tokensource_core::{Error, ErrorKind};
///
/// let err = Error::credentials_rejected("younium", 401, Some("Invalid client secret".into()));
/// assert_eq!(err.kind(), ErrorKind::CredentialsRejected);
/// assert_eq!(err.status(), Some(401));
/// assert!(!err.is_retryable());
/// assert_eq!(
///     err.to_string(),
///     "younium: credentials rejected by the token endpoint (HTTP 401): Invalid client secret"
/// );
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    /// For configuration errors: the setting (or its key path, such as
    /// `profiles.NAME.token_url`) that is wrong.
    field: Option<Cow<'static, str>>,
    provider: Cow<'static, str>,
    status: Option<u16>,
    detail: String,
    provider_message: Option<String>,
    retry_after: Option<Duration>,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

/// The longest provider message kept, in characters.
const MAX_MESSAGE_CHARS: usize = 300;

/// Removes control characters and caps the length of text that came from the network.
pub(crate) fn sanitize(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_MESSAGE_CHARS)
        .collect();
    if text.chars().count() > MAX_MESSAGE_CHARS {
        out.push('…');
    }
    out.trim().to_owned()
}

impl Error {
    fn new(kind: ErrorKind, provider: impl Into<Cow<'static, str>>, detail: String) -> Self {
        Error {
            inner: Arc::new(Inner {
                kind,
                field: None,
                provider: provider.into(),
                status: None,
                detail,
                provider_message: None,
                retry_after: None,
                source: None,
            }),
        }
    }

    fn inner_mut(&mut self) -> &mut Inner {
        Arc::make_mut(&mut self.inner)
    }

    /// The token endpoint refused the credentials with `status` (400, 401, 403), optionally with
    /// the provider's own message (for example Younium's `errors[]` or RFC 6749's `error_description`).
    pub fn credentials_rejected(
        provider: impl Into<Cow<'static, str>>,
        status: u16,
        provider_message: Option<String>,
    ) -> Self {
        let mut err = Error::new(ErrorKind::CredentialsRejected, provider, String::new());
        let inner = err.inner_mut();
        inner.status = Some(status);
        inner.provider_message = provider_message
            .map(|m| sanitize(&m))
            .filter(|m| !m.is_empty());
        err
    }

    /// The token endpoint is unavailable; `detail` says how (for example "connection refused",
    /// "timed out after 5 s", "HTTP 503").
    pub fn unavailable(provider: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unavailable, provider, detail.into())
    }

    /// The token endpoint answered with something that is not a usable token; `detail` says what
    /// was wrong (never the token itself).
    pub fn invalid_response(
        provider: impl Into<Cow<'static, str>>,
        detail: impl Into<String>,
    ) -> Self {
        Error::new(ErrorKind::InvalidResponse, provider, detail.into())
    }

    /// A configuration error: `field` names the setting, `detail` says what was expected.
    ///
    /// The field is kept apart from the provider: a provider tags its errors with
    /// [`with_provider`](Error::with_provider), and a configuration layer turns the field into a
    /// key path with [`with_field`](Error::with_field), neither overwriting the other.
    ///
    /// ```
    /// use tokensource_core::Error;
    ///
    /// let error = Error::configuration("token_url", "not a valid URL").with_provider("oauth2");
    /// assert_eq!(error.field(), Some("token_url"));
    /// assert_eq!(error.provider(), "oauth2");
    /// let error = error.with_field("profiles.partner.token_url");
    /// assert_eq!(
    ///     error.to_string(),
    ///     "configuration error: profiles.partner.token_url: not a valid URL"
    /// );
    /// ```
    pub fn configuration(field: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        let field = field.into();
        let mut error = Error::new(ErrorKind::Configuration, field.clone(), detail.into());
        error.inner_mut().field = Some(field);
        error
    }

    /// An error from a custom token source, kept as the [`source`](StdError::source).
    pub fn other(provider: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        Error::new(ErrorKind::Other, provider, String::new()).with_source(source)
    }

    /// Attaches the HTTP status the token endpoint answered with.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.inner_mut().status = Some(status);
        self
    }

    /// Attaches a `Retry-After` delay the endpoint asked for.
    #[must_use]
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        self.inner_mut().retry_after = Some(delay);
        self
    }

    /// Attaches the provider's own error message (sanitized: control characters removed, length capped).
    #[must_use]
    pub fn with_provider_message(mut self, message: impl AsRef<str>) -> Self {
        let message = sanitize(message.as_ref());
        self.inner_mut().provider_message = Some(message).filter(|m| !m.is_empty());
        self
    }

    /// Attaches an underlying cause. It must not print secrets.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner_mut().source = Some(Arc::from(source.into()));
        self
    }

    /// Replaces the provider name. A configuration error keeps its [`field`](Error::field).
    #[must_use]
    pub fn with_provider(mut self, provider: impl Into<Cow<'static, str>>) -> Self {
        self.inner_mut().provider = provider.into();
        self
    }

    /// Replaces the field a configuration error names (for example with its key path in a
    /// configuration file). Other errors are returned unchanged.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        if self.inner.kind == ErrorKind::Configuration {
            self.inner_mut().field = Some(field.into());
        }
        self
    }

    /// The setting a configuration error is about (`None` for other kinds).
    pub fn field(&self) -> Option<&str> {
        self.inner.field.as_deref()
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The provider the error is about (for a configuration error not tagged with one, its
    /// field).
    pub fn provider(&self) -> &str {
        &self.inner.provider
    }

    /// The HTTP status the token endpoint answered with, when there was one.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// The provider's own error message, when it sent one.
    pub fn provider_message(&self) -> Option<&str> {
        self.inner.provider_message.as_deref()
    }

    /// The description of what was wrong (empty for [`ErrorKind::Other`]).
    pub fn detail(&self) -> &str {
        &self.inner.detail
    }

    /// The delay the endpoint asked for with `Retry-After`, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// Whether trying again later may succeed: true for [`ErrorKind::Unavailable`] only.
    pub fn is_retryable(&self) -> bool {
        self.inner.kind == ErrorKind::Unavailable
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let provider = &inner.provider;
        match inner.kind {
            ErrorKind::CredentialsRejected => {
                write!(f, "{provider}: credentials rejected by the token endpoint")?;
                if let Some(status) = inner.status {
                    write!(f, " (HTTP {status})")?;
                }
            }
            ErrorKind::Unavailable => write!(
                f,
                "{provider}: token endpoint unavailable: {}",
                inner.detail
            )?,
            ErrorKind::InvalidResponse => {
                write!(f, "{provider}: invalid response from the token endpoint")?;
                if let Some(status) = inner.status {
                    write!(f, " (HTTP {status})")?;
                }
                write!(f, ": {}", inner.detail)?;
            }
            ErrorKind::Configuration => {
                let field = inner.field.as_deref().unwrap_or(provider);
                write!(f, "configuration error: {field}: {}", inner.detail)?
            }
            ErrorKind::Other => {
                write!(f, "{provider}: ")?;
                match &inner.source {
                    Some(source) => write!(f, "{source}")?,
                    None => f.write_str("token source failed")?,
                }
            }
        }
        if let Some(message) = &inner.provider_message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &inner.kind)
            .field("provider", &inner.provider);
        if let Some(field) = &inner.field {
            d.field("field", field);
        }
        if let Some(status) = inner.status {
            d.field("status", &status);
        }
        if !inner.detail.is_empty() {
            d.field("detail", &inner.detail);
        }
        if let Some(message) = &inner.provider_message {
            d.field("provider_message", message);
        }
        if let Some(delay) = inner.retry_after {
            d.field("retry_after", &delay);
        }
        if let Some(source) = &inner.source {
            d.field("source", &format_args!("{source}"));
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_retryability() {
        assert!(
            Error::unavailable("p", "HTTP 503")
                .with_status(503)
                .is_retryable()
        );
        assert!(!Error::invalid_response("p", "missing access_token").is_retryable());
        assert!(!Error::configuration("client_id", "must not be empty").is_retryable());
        let other = Error::other("vault", std::io::Error::other("sealed"));
        assert_eq!(other.kind(), ErrorKind::Other);
        assert_eq!(other.to_string(), "vault: sealed");
        assert!(other.source().is_some());
    }

    #[test]
    fn provider_messages_are_sanitized_and_capped() {
        let err = Error::credentials_rejected("p", 400, Some("bad\r\nclient\0".into()));
        assert_eq!(err.provider_message(), Some("bad  client"));
        let long = "x".repeat(10_000);
        let err = Error::credentials_rejected("p", 400, Some(long));
        assert!(err.to_string().len() < 400);
    }

    #[test]
    fn display_forms() {
        assert_eq!(
            Error::invalid_response("noyo", "body is not JSON")
                .with_status(200)
                .to_string(),
            "noyo: invalid response from the token endpoint (HTTP 200): body is not JSON"
        );
        assert_eq!(
            Error::configuration("profiles.a.client_id", "must not be empty").to_string(),
            "configuration error: profiles.a.client_id: must not be empty"
        );
        let tagged = Error::configuration("secret", "missing").with_provider("noyo");
        assert_eq!(
            tagged.field(),
            Some("secret"),
            "the provider does not overwrite the field"
        );
        let relabeled = tagged.with_field("profiles.x.secret");
        assert_eq!(relabeled.field(), Some("profiles.x.secret"));
        assert_eq!(relabeled.provider(), "noyo");
        assert_eq!(
            relabeled.to_string(),
            "configuration error: profiles.x.secret: missing"
        );
        assert_eq!(Error::unavailable("p", "x").with_field("f").field(), None);
    }
}
