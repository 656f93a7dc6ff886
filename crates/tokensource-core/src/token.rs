//! The access token and its lifetime.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use crate::jwt;
use crate::lifetime::MAX_LIFETIME;

/// The longest access token accepted, in bytes. Real tokens are a few KiB at most.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// An access token with what is known about its lifetime.
///
/// A `Token` is a cheap handle (cloning it copies one pointer), so the cache can hand the same
/// token to any number of callers. The access token and the refresh token are secrets: they are
/// held in [`SecretString`]s (zeroized on drop) and never shown by `Debug`. Read them with
/// [`expose_secret`](Token::expose_secret) or, for an HTTP request, take the ready
/// [`authorization_header`](Token::authorization_header).
///
/// Building a token validates it: the access token must be non-empty visible ASCII (no spaces, CR,
/// LF, NUL or other control characters; at most [`MAX_TOKEN_LEN`] bytes), so it is always a legal
/// header value.
///
/// When the access token is a JWT with an `exp` claim, that claim (decoded without verifying the
/// signature, only as a hint) also bounds the lifetime: [`lifetime`](Token::lifetime) is the
/// earlier of what the provider said and what the JWT says.
///
/// ```
/// use std::time::Duration;
/// use tokensource_core::Token;
///
/// let token = Token::builder("abc.def")
///     .expires_in(Duration::from_secs(3600))
///     .build()?;
/// assert_eq!(token.token_type(), "Bearer");
/// assert_eq!(token.lifetime(), Some(Duration::from_secs(3600)));
/// assert!(!format!("{token:?}").contains("abc.def"));
/// assert!(token.authorization_header().is_sensitive());
/// # Ok::<(), tokensource_core::InvalidToken>(())
/// ```
#[derive(Clone)]
pub struct Token {
    inner: Arc<Inner>,
}

struct Inner {
    access_token: SecretString,
    header: HeaderValue,
    token_type: String,
    issued_at: SystemTime,
    lifetime: Option<Duration>,
    jwt_expires_at: Option<SystemTime>,
    refresh_token: Option<SecretString>,
    scopes: Vec<String>,
}

/// Why a token could not be built. The message never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidToken {
    /// The access token is empty.
    #[error("the access token is empty")]
    Empty,
    /// The access token is longer than [`MAX_TOKEN_LEN`].
    #[error("the access token is {len} bytes long, over the limit of {MAX_TOKEN_LEN}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The access token contains a character that is not visible ASCII (a space, CR, LF, NUL, a
    /// control or non-ASCII character).
    #[error("the access token contains an illegal character at byte {position}")]
    IllegalCharacter {
        /// The byte offset of the first illegal character.
        position: usize,
    },
    /// The token type is empty or not a single HTTP token (RFC 9110 `token`).
    #[error("the token type is not a valid authentication scheme name")]
    InvalidTokenType,
}

/// A token that cannot be built is an invalid response from whatever produced it, so a custom
/// source can write `Token::builder(text).build()?`.
///
/// ```
/// use tokensource_core::{Error, ErrorKind, Token};
///
/// fn parse(text: &str) -> Result<Token, Error> {
///     Ok(Token::builder(text).build()?)
/// }
/// assert_eq!(parse("a b").unwrap_err().kind(), ErrorKind::InvalidResponse);
/// ```
impl From<InvalidToken> for crate::Error {
    fn from(error: InvalidToken) -> Self {
        crate::Error::invalid_response("token source", error.to_string())
    }
}

/// Builds a [`Token`]; see [`Token::builder`].
pub struct TokenBuilder {
    access_token: SecretString,
    token_type: String,
    issued_at: Option<SystemTime>,
    expires_in: Option<Duration>,
    expires_at: Option<SystemTime>,
    refresh_token: Option<SecretString>,
    scopes: Vec<String>,
}

impl Token {
    /// Starts building a token from the access token string. The token type defaults to `Bearer`,
    /// the issue time to now, the lifetime to unknown.
    pub fn builder(access_token: impl Into<String>) -> TokenBuilder {
        TokenBuilder {
            access_token: SecretString::from(access_token.into()),
            token_type: "Bearer".to_owned(),
            issued_at: None,
            expires_in: None,
            expires_at: None,
            refresh_token: None,
            scopes: Vec::new(),
        }
    }

    /// A bearer token with an unknown lifetime.
    pub fn bearer(access_token: impl Into<String>) -> Result<Token, InvalidToken> {
        Token::builder(access_token).build()
    }

    /// The access token itself. Handle with care: this is the secret.
    pub fn expose_secret(&self) -> &str {
        self.inner.access_token.expose_secret()
    }

    /// The `Authorization` header value (`Bearer <token>`), marked sensitive so that `http`'s
    /// `Debug` hides it. It is computed once, when the token is built.
    pub fn authorization_header(&self) -> HeaderValue {
        self.inner.header.clone()
    }

    /// The token type, `Bearer` for every provider in this project (normalized from any case).
    pub fn token_type(&self) -> &str {
        &self.inner.token_type
    }

    /// When the token was obtained.
    pub fn issued_at(&self) -> SystemTime {
        self.inner.issued_at
    }

    /// How long the token is valid from [`issued_at`](Token::issued_at): the earlier of the
    /// provider's answer and the JWT `exp` claim; `None` when neither says.
    pub fn lifetime(&self) -> Option<Duration> {
        self.inner.lifetime
    }

    /// When the token expires, when known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.inner.lifetime.map(|l| self.inner.issued_at + l)
    }

    /// The expiry claimed by the JWT `exp` claim, when the access token is a JWT that has one.
    pub fn jwt_expires_at(&self) -> Option<SystemTime> {
        self.inner.jwt_expires_at
    }

    /// The refresh token the provider returned, if any.
    pub fn refresh_token(&self) -> Option<&SecretString> {
        self.inner.refresh_token.as_ref()
    }

    /// The scopes the provider granted, if it said.
    pub fn scopes(&self) -> &[String] {
        &self.inner.scopes
    }

    /// The same token in a separate allocation (its own reference count, its own header bytes), so
    /// that threads cloning different copies do not contend on one cache line.
    pub(crate) fn duplicate(&self) -> Token {
        let inner = &*self.inner;
        let mut header = HeaderValue::from_bytes(inner.header.as_bytes())
            .unwrap_or_else(|_| inner.header.clone());
        header.set_sensitive(true);
        Token {
            inner: Arc::new(Inner {
                access_token: inner.access_token.clone(),
                header,
                token_type: inner.token_type.clone(),
                issued_at: inner.issued_at,
                lifetime: inner.lifetime,
                jwt_expires_at: inner.jwt_expires_at,
                refresh_token: inner.refresh_token.clone(),
                scopes: inner.scopes.clone(),
            }),
        }
    }

    /// Whether `other` carries the same access token (the same handle or an equal secret).
    pub fn same_secret(&self, other: &Token) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) || self.expose_secret() == other.expose_secret()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"** redacted **")
            .field("token_type", &self.inner.token_type)
            .field("issued_at", &self.inner.issued_at)
            .field("lifetime", &self.inner.lifetime)
            .field(
                "refresh_token",
                &self.inner.refresh_token.as_ref().map(|_| "** redacted **"),
            )
            .field("scopes", &self.inner.scopes)
            .finish()
    }
}

impl TokenBuilder {
    /// Sets the token type (`Bearer` in any case is normalized to `Bearer`).
    #[must_use]
    pub fn token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = token_type.into();
        self
    }

    /// Sets when the token was obtained (default: now).
    #[must_use]
    pub fn issued_at(mut self, issued_at: SystemTime) -> Self {
        self.issued_at = Some(issued_at);
        self
    }

    /// Sets the lifetime the provider announced, counted from the issue time. Lifetimes over
    /// [`MAX_LIFETIME`] are clamped to it.
    #[must_use]
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.expires_in = Some(lifetime);
        self
    }

    /// Sets the absolute expiry the provider announced; used when no relative lifetime is given.
    /// An expiry before the issue time means a lifetime of zero.
    #[must_use]
    pub fn expires_at(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Sets the refresh token.
    #[must_use]
    pub fn refresh_token(mut self, refresh_token: impl Into<String>) -> Self {
        self.refresh_token = Some(SecretString::from(refresh_token.into()));
        self
    }

    /// Sets the granted scopes.
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Validates and builds the token.
    pub fn build(self) -> Result<Token, InvalidToken> {
        let secret = self.access_token.expose_secret();
        validate_access_token(secret)?;
        let token_type = normalize_token_type(&self.token_type)?;
        let issued_at = self.issued_at.unwrap_or_else(SystemTime::now);

        let announced = self.expires_in.or_else(|| {
            self.expires_at
                .map(|at| at.duration_since(issued_at).unwrap_or(Duration::ZERO))
        });
        let claims = jwt::claims(secret);
        let jwt_expires_at = claims.and_then(|c| c.expires_at);
        let by_jwt = claims.and_then(|c| c.lifetime_from(issued_at));
        let lifetime = match (announced, by_jwt) {
            (Some(a), Some(j)) => Some(a.min(j)),
            (a, j) => a.or(j),
        }
        .map(|l| l.min(MAX_LIFETIME));

        let mut header_text =
            zeroize::Zeroizing::new(String::with_capacity(token_type.len() + 1 + secret.len()));
        header_text.push_str(&token_type);
        header_text.push(' ');
        header_text.push_str(secret);
        // Both parts were validated above, so this cannot fail; map it anyway rather than panic.
        let mut header = HeaderValue::from_str(&header_text)
            .map_err(|_| InvalidToken::IllegalCharacter { position: 0 })?;
        header.set_sensitive(true);

        Ok(Token {
            inner: Arc::new(Inner {
                access_token: self.access_token,
                header,
                token_type,
                issued_at,
                lifetime,
                jwt_expires_at,
                refresh_token: self.refresh_token,
                scopes: self.scopes,
            }),
        })
    }
}

impl fmt::Debug for TokenBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBuilder")
            .field("access_token", &"** redacted **")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

fn validate_access_token(token: &str) -> Result<(), InvalidToken> {
    if token.is_empty() {
        return Err(InvalidToken::Empty);
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(InvalidToken::TooLong { len: token.len() });
    }
    match token.bytes().position(|b| !b.is_ascii_graphic()) {
        Some(position) => Err(InvalidToken::IllegalCharacter { position }),
        None => Ok(()),
    }
}

fn normalize_token_type(token_type: &str) -> Result<String, InvalidToken> {
    if token_type.eq_ignore_ascii_case("bearer") {
        return Ok("Bearer".to_owned());
    }
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if token_type.is_empty() || token_type.len() > 64 || !token_type.bytes().all(is_tchar) {
        return Err(InvalidToken::InvalidTokenType);
    }
    Ok(token_type.to_owned())
}

/// Milliseconds since the Unix epoch, saturating at zero for times before it.
pub(crate) fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_illegal_tokens() {
        assert_eq!(Token::bearer("").unwrap_err(), InvalidToken::Empty);
        for bad in ["a b", "a\r\nX-Injected: 1", "a\0", "tök", "a\t", "a\n"] {
            assert!(
                matches!(
                    Token::bearer(bad),
                    Err(InvalidToken::IllegalCharacter { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Token::bearer("x".repeat(MAX_TOKEN_LEN + 1)),
            Err(InvalidToken::TooLong { .. })
        ));
        assert_eq!(
            Token::builder("abc")
                .token_type("Bad Type")
                .build()
                .unwrap_err(),
            InvalidToken::InvalidTokenType
        );
    }

    #[test]
    fn header_and_redaction() {
        let token = Token::builder("s3cr3t-token")
            .token_type("bearer")
            .refresh_token("r3fr3sh")
            .build()
            .unwrap();
        assert_eq!(token.token_type(), "Bearer");
        let header = token.authorization_header();
        assert_eq!(header.to_str().unwrap(), "Bearer s3cr3t-token");
        assert!(header.is_sensitive());
        let debug = format!("{token:?} {header:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(!debug.contains("r3fr3sh"), "{debug}");
    }

    #[test]
    fn lifetime_from_expires_at_and_clamps() {
        let now = SystemTime::now();
        let t = Token::builder("a")
            .issued_at(now)
            .expires_at(now + Duration::from_secs(90))
            .build()
            .unwrap();
        assert_eq!(t.lifetime(), Some(Duration::from_secs(90)));
        let past = Token::builder("a")
            .issued_at(now)
            .expires_at(now - Duration::from_secs(90))
            .build()
            .unwrap();
        assert_eq!(past.lifetime(), Some(Duration::ZERO));
        let huge = Token::builder("a")
            .expires_in(Duration::from_secs(u64::MAX))
            .build()
            .unwrap();
        assert_eq!(huge.lifetime(), Some(MAX_LIFETIME));
        assert!(huge.expires_at().is_some());
    }

    #[test]
    fn same_secret() {
        let a = Token::bearer("one").unwrap();
        let b = Token::bearer("one").unwrap();
        let c = Token::bearer("two").unwrap();
        assert!(a.same_secret(&a.clone()));
        assert!(a.same_secret(&b));
        assert!(!a.same_secret(&c));
    }
}
