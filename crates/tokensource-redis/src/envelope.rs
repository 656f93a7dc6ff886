//! How a token is sealed for Redis: encrypted and authenticated under a key derived from the
//! credential's own secret, bound to the Redis key it is stored under.
//!
//! A stored value is `ts2:<expiry ms>:<24-byte nonce><ciphertext and 16-byte tag>`:
//! - the key is HKDF-SHA256 of the client secret, salted with the Redis key the value lives
//!   under (which names the credential), so only processes holding the same secret can read or
//!   forge values, and each credential's values have their own encryption key;
//! - the cipher is XChaCha20-Poly1305: its 192-bit nonces can be drawn at random without a
//!   counter shared across the fleet and without birthday worries;
//! - the associated data is a domain tag, the full Redis key and the clear header, so a value
//!   copied under another key, or with its expiry edited, fails to open.
//!
//! The expiry (Unix milliseconds) is in clear only so an operator can see it; it is not secret,
//! and it is authenticated.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chacha20poly1305::aead::{Aead, Generate, Payload};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use tokensource_core::store::{decode, encode};
use tokensource_core::{SecretSource, Token};
use zeroize::{Zeroize, Zeroizing};

/// The version tag every value starts with.
const MAGIC: &[u8] = b"ts2:";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// The most digits an expiry may have (`u64::MAX` has 20).
const MAX_EXPIRY_DIGITS: usize = 20;

const HKDF_SALT: &[u8] = b"tokensource-redis/v2 salt\0";
const HKDF_INFO: &[u8] = b"tokensource-redis/v2 encryption key, XChaCha20-Poly1305";
const AAD_DOMAIN: &[u8] = b"tokensource-redis/v2 value\0";

/// Why a value could not be sealed.
#[derive(Debug)]
pub(crate) enum SealError {
    /// The operating system's random number generator failed.
    Random,
    /// The cipher refused the input (only for inputs far beyond any token's size).
    Cipher,
    /// The seal secret (a file) could not be read.
    Secret,
}

/// Encrypts and decrypts stored values for one credential.
pub(crate) struct Sealer {
    /// The seal secret: fixed, or a file read again at every operation (a rotated client secret
    /// seals with the new secret as soon as the file holds it).
    secret: SecretSource,
}

impl Sealer {
    /// A sealer keyed by `secret`, the credential's client secret.
    pub(crate) fn new(secret: &SecretString) -> Self {
        Sealer::from_source(SecretSource::from(secret.clone()))
    }

    /// A sealer keyed by the secret `secret` yields when it is used.
    pub(crate) fn from_source(secret: SecretSource) -> Self {
        Sealer { secret }
    }

    /// The cipher for values under `redis_key`: HKDF-SHA256 of the secret, salted with the key
    /// (length-prefixed). Deriving costs about a microsecond, far below one Redis round trip;
    /// reading a secret file, a few more. `None` when the secret cannot be read now.
    fn cipher(&self, redis_key: &str) -> Option<XChaCha20Poly1305> {
        let secret = match self.secret.read() {
            Ok(secret) => secret,
            Err(error) => {
                tracing::debug!(error = %error, "the seal secret cannot be read");
                return None;
            }
        };
        let mut salt = Zeroizing::new(Vec::with_capacity(HKDF_SALT.len() + 8 + redis_key.len()));
        salt.extend_from_slice(HKDF_SALT);
        salt.extend_from_slice(&(redis_key.len() as u64).to_be_bytes());
        salt.extend_from_slice(redis_key.as_bytes());
        let hkdf = Hkdf::<Sha256>::new(Some(&salt), secret.expose_secret().as_bytes());
        let mut key = Key::default();
        // 32 bytes is far below HKDF-SHA256's limit of 255 * 32, so this cannot fail.
        let _ = hkdf.expand(HKDF_INFO, key.as_mut_slice());
        let cipher = XChaCha20Poly1305::new(&key);
        key.as_mut_slice().zeroize();
        Some(cipher)
    }

    /// Seals `token`, expiring at `expiry_ms` (Unix milliseconds), for the Redis key `redis_key`.
    pub(crate) fn seal(
        &self,
        redis_key: &str,
        token: &Token,
        expiry_ms: u64,
    ) -> Result<Vec<u8>, SealError> {
        self.seal_bytes(redis_key, &encode(token), expiry_ms)
    }

    /// Opens a token sealed by [`seal`](Sealer::seal).
    pub(crate) fn open(&self, redis_key: &str, value: &[u8]) -> Option<Opened> {
        let (plaintext, expiry_ms) = self.open_bytes(redis_key, value)?;
        let token = decode(&plaintext).ok()?;
        Some(Opened { token, expiry_ms })
    }

    /// Seals `plaintext`, worth keeping until `expiry_ms`, for the Redis key `redis_key`.
    pub(crate) fn seal_bytes(
        &self,
        redis_key: &str,
        plaintext: &[u8],
        expiry_ms: u64,
    ) -> Result<Vec<u8>, SealError> {
        let mut value = header(expiry_ms);
        let header_len = value.len();
        let nonce = XNonce::try_generate().map_err(|_| SealError::Random)?;
        let aad = associated_data(redis_key, &value);
        let ciphertext = self
            .cipher(redis_key)
            .ok_or(SealError::Secret)?
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Cipher)?;
        value.reserve_exact(NONCE_LEN + ciphertext.len());
        value.extend_from_slice(&nonce);
        value.extend_from_slice(&ciphertext);
        debug_assert_eq!(value.len(), header_len + NONCE_LEN + ciphertext.len());
        Ok(value)
    }

    /// Opens a value read from `redis_key`: the plaintext and its expiry, or `None` for anything
    /// not sealed by this credential for this key. Never panics, whatever the bytes.
    pub(crate) fn open_bytes(
        &self,
        redis_key: &str,
        value: &[u8],
    ) -> Option<(Zeroizing<Vec<u8>>, u64)> {
        let (expiry_ms, header_len) = parse_header(value)?;
        let (header, rest) = value.split_at_checked(header_len)?;
        let (nonce, ciphertext) = rest.split_at_checked(NONCE_LEN)?;
        if ciphertext.len() < TAG_LEN {
            return None;
        }
        let nonce = XNonce::try_from(nonce).ok()?;
        let aad = associated_data(redis_key, header);
        let plaintext = Zeroizing::new(
            self.cipher(redis_key)?
                .decrypt(
                    &nonce,
                    Payload {
                        msg: ciphertext,
                        aad: &aad,
                    },
                )
                .ok()?,
        );
        Some((plaintext, expiry_ms))
    }
}

/// A value that opened.
pub(crate) struct Opened {
    pub(crate) token: Token,
    /// The expiry the value was stored with (Unix milliseconds).
    pub(crate) expiry_ms: u64,
}

fn header(expiry_ms: u64) -> Vec<u8> {
    let mut header = Vec::with_capacity(MAGIC.len() + MAX_EXPIRY_DIGITS + 1);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(expiry_ms.to_string().as_bytes());
    header.push(b':');
    header
}

/// The expiry and the header's length, if `value` starts with a well-formed header.
fn parse_header(value: &[u8]) -> Option<(u64, usize)> {
    let rest = value.strip_prefix(MAGIC)?;
    let digits = rest
        .iter()
        .take(MAX_EXPIRY_DIGITS + 1)
        .position(|&b| b == b':')?;
    if digits == 0 {
        return None;
    }
    let text = std::str::from_utf8(rest.get(..digits)?).ok()?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let expiry_ms = text.parse().ok()?;
    Some((expiry_ms, MAGIC.len() + digits + 1))
}

fn associated_data(redis_key: &str, header: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_DOMAIN.len() + 8 + redis_key.len() + header.len());
    aad.extend_from_slice(AAD_DOMAIN);
    // Length-prefixed, so that no (key, header) pair can be confused with another.
    aad.extend_from_slice(&(redis_key.len() as u64).to_be_bytes());
    aad.extend_from_slice(redis_key.as_bytes());
    aad.extend_from_slice(header);
    aad
}

/// Milliseconds since the Unix epoch, saturating at zero before it.
pub(crate) fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// When `token` stops being worth sharing: its expiry, or `assumed` after its issue time when the
/// provider did not say.
pub(crate) fn expiry_millis(token: &Token, assumed: Duration) -> u64 {
    let expires_at = token
        .expires_at()
        .or_else(|| token.issued_at().checked_add(assumed));
    expires_at.map_or(u64::MAX, unix_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sealer(secret: &str) -> Sealer {
        Sealer::new(&SecretString::from(secret.to_owned()))
    }

    fn token(secret: &str) -> Token {
        Token::builder(secret)
            .expires_in(Duration::from_secs(3600))
            .refresh_token("refresh-me")
            .build()
            .unwrap()
    }

    #[test]
    fn round_trip_hides_the_token() {
        let s = sealer("client-secret");
        let value = s.seal("k", &token("access-token-1"), 42).unwrap();
        assert!(value.starts_with(b"ts2:42:"));
        let text = String::from_utf8_lossy(&value);
        assert!(!text.contains("access-token-1"), "{text}");
        assert!(!text.contains("refresh-me"), "{text}");
        let opened = s.open("k", &value).unwrap();
        assert_eq!(opened.token.expose_secret(), "access-token-1");
        assert_eq!(opened.expiry_ms, 42);
        // A fresh nonce each time.
        assert_ne!(value, s.seal("k", &token("access-token-1"), 42).unwrap());
    }

    #[test]
    fn a_seal_secret_file_is_read_at_each_operation() {
        let dir = std::env::temp_dir().join(format!("sealer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "old\n").unwrap();
        let rotating = Sealer::from_source(SecretSource::file(&path));
        let sealed_old = rotating.seal("k", &token("t1"), 1).unwrap();
        assert!(sealer("old").open("k", &sealed_old).is_some());
        std::fs::write(&path, "new\n").unwrap();
        let sealed_new = rotating.seal("k", &token("t2"), 1).unwrap();
        assert!(sealer("new").open("k", &sealed_new).is_some());
        assert!(
            rotating.open("k", &sealed_old).is_none(),
            "the old secret is gone"
        );
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            rotating.seal("k", &token("t3"), 1),
            Err(SealError::Secret)
        ));
        assert!(rotating.open("k", &sealed_new).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rejects_other_keys_secrets_and_tampering() {
        let s = sealer("client-secret");
        let value = s.seal("k", &token("t"), 42).unwrap();
        assert!(s.open("other-key", &value).is_none());
        assert!(sealer("another-secret").open("k", &value).is_none());
        for i in 0..value.len() {
            let mut tampered = value.clone();
            tampered[i] ^= 0x01;
            assert!(s.open("k", &tampered).is_none(), "byte {i}");
        }
        let mut later = b"ts2:43:".to_vec();
        later.extend_from_slice(&value[b"ts2:42:".len()..]);
        assert!(s.open("k", &later).is_none());
        assert!(s.open("k", &value[..value.len() - 1]).is_none());
        assert!(s.open("k", b"").is_none());
        assert!(s.open("k", b"ts2::").is_none());
        assert!(s.open("k", b"ts2:99999999999999999999999:").is_none());
    }

    #[test]
    fn each_redis_key_has_its_own_encryption_key() {
        use chacha20poly1305::aead::Aead;
        let s = sealer("client-secret");
        let nonce = XNonce::default();
        let a = s
            .cipher("tokensource:v2:a:token")
            .unwrap()
            .encrypt(&nonce, &b"same"[..]);
        let b = s
            .cipher("tokensource:v2:b:token")
            .unwrap()
            .encrypt(&nonce, &b"same"[..]);
        assert_ne!(a.unwrap(), b.unwrap());
    }

    #[test]
    fn unknown_lifetimes_use_the_assumed_one() {
        let issued = UNIX_EPOCH + Duration::from_secs(1000);
        let t = Token::builder("t").issued_at(issued).build().unwrap();
        assert_eq!(expiry_millis(&t, Duration::from_secs(600)), 1_600_000);
        let t = Token::builder("t")
            .issued_at(issued)
            .expires_in(Duration::from_secs(5))
            .build()
            .unwrap();
        assert_eq!(expiry_millis(&t, Duration::from_secs(600)), 1_005_000);
    }

    proptest! {
        #[test]
        fn open_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = sealer("s").open("k", &bytes);
            let mut prefixed = b"ts2:12:".to_vec();
            prefixed.extend_from_slice(&bytes);
            let _ = sealer("s").open("k", &prefixed);
        }
    }
}
