//! Redis key names: the credential key the cache is given, and the namespaced keys built from it.

use sha2::{Digest, Sha256};

/// The key prefix used unless [`key_prefix`](crate::RedisTokenStoreBuilder::key_prefix) says
/// otherwise. The version lets a future storage format live beside this one.
pub const DEFAULT_KEY_PREFIX: &str = "tokensource:v1";

/// A store key for one credential: the hex SHA-256 of the provider name, the token endpoint and
/// the client id (length-prefixed, so no two different triples collide).
///
/// Pass it to [`CacheBuilder::store`](tokensource_core::CacheBuilder::store). It identifies the
/// credential without revealing the client id, and it never involves the secret: processes
/// sharing a key but holding different secrets cannot read each other's tokens (they only
/// overwrite each other, as during a secret rotation).
///
/// ```
/// use tokensource_redis::credential_key;
///
/// let key = credential_key("younium", "https://api.younium.com/auth/token", "my-client");
/// assert_eq!(key.len(), 64);
/// assert_eq!(key, credential_key("younium", "https://api.younium.com/auth/token", "my-client"));
/// assert_ne!(key, credential_key("younium", "https://api.younium.com/auth/token", "other"));
/// ```
pub fn credential_key(provider: &str, endpoint: &str, client_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"tokensource credential key v1\0");
    for part in [provider, endpoint, client_id] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The Redis key holding the sealed token for `key`.
pub(crate) fn token_key(prefix: &str, key: &str) -> String {
    format!("{prefix}:{key}:token")
}

/// The Redis key holding the refresh lease for `key`.
pub(crate) fn lease_key(prefix: &str, key: &str) -> String {
    format!("{prefix}:{key}:lease")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_keys_are_unambiguous() {
        assert_ne!(
            credential_key("ab", "c", "d"),
            credential_key("a", "bc", "d")
        );
        assert_ne!(
            credential_key("a", "b", "cd"),
            credential_key("a", "bc", "d")
        );
        assert!(
            credential_key("p", "e", "c")
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
        );
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[test]
    fn namespaced_keys() {
        assert_eq!(token_key("tokensource:v1", "k"), "tokensource:v1:k:token");
        assert_eq!(lease_key("tokensource:v1", "k"), "tokensource:v1:k:lease");
    }
}
