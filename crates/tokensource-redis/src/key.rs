//! Redis key names: the credential key the cache is given, and the namespaced keys built from it.

use sha2::{Digest, Sha256};

/// The key prefix used unless [`key_prefix`](crate::RedisTokenStoreBuilder::key_prefix) says
/// otherwise. The version lets a future storage format live beside this one.
pub const DEFAULT_KEY_PREFIX: &str = "tokensource:v2";

/// A store key for one credential: the hex SHA-256 of the provider name, the token endpoint and
/// the client id (length-prefixed, so no two different triples collide). For a credential whose
/// tokens depend on more (requested scopes, audience, extra parameters), use [`CredentialKey`].
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
    CredentialKey::new(provider, endpoint, client_id).to_key()
}

/// Everything a token depends on, hashed into a store key: provider, endpoint and client id,
/// plus the requested scopes (in any order), the audience and extra token-request parameters.
/// Two users of one client asking for different scopes never share an entry.
///
/// ```
/// use tokensource_redis::CredentialKey;
///
/// let read = CredentialKey::new("oauth2", "https://auth.example.com/token", "client")
///     .scopes(["read", "profile"])
///     .to_key();
/// let same = CredentialKey::new("oauth2", "https://auth.example.com/token", "client")
///     .scopes(["profile", "read"])
///     .to_key();
/// let write = CredentialKey::new("oauth2", "https://auth.example.com/token", "client")
///     .scopes(["write"])
///     .to_key();
/// assert_eq!(read, same);
/// assert_ne!(read, write);
/// ```
#[derive(Debug, Clone)]
pub struct CredentialKey {
    provider: String,
    endpoint: String,
    client_id: String,
    scopes: Vec<String>,
    audience: Option<String>,
    params: Vec<(String, String)>,
}

impl CredentialKey {
    /// The key for `client_id` at `endpoint` of `provider`, with no scopes, audience or
    /// parameters yet.
    pub fn new(provider: &str, endpoint: &str, client_id: &str) -> Self {
        CredentialKey {
            provider: provider.to_owned(),
            endpoint: endpoint.to_owned(),
            client_id: client_id.to_owned(),
            scopes: Vec::new(),
            audience: None,
            params: Vec::new(),
        }
    }

    /// Adds requested scopes (order and duplicates do not matter).
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.scopes
            .extend(scopes.into_iter().map(|s| s.as_ref().to_owned()));
        self
    }

    /// Sets the requested audience.
    #[must_use]
    pub fn audience(mut self, audience: &str) -> Self {
        self.audience = Some(audience.to_owned());
        self
    }

    /// Adds an extra token-request parameter (order does not matter).
    #[must_use]
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.params.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The store key: hex SHA-256 of every part, length-prefixed and in a canonical order.
    pub fn to_key(&self) -> String {
        let mut scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
        scopes.sort_unstable();
        scopes.dedup();
        let mut params: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        params.sort_unstable();
        let mut hasher = Sha256::new();
        let mut part = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        };
        part(b"tokensource credential key v2");
        for field in [&self.provider, &self.endpoint, &self.client_id] {
            part(field.as_bytes());
        }
        part(&(scopes.len() as u64).to_be_bytes());
        for scope in scopes {
            part(scope.as_bytes());
        }
        match &self.audience {
            Some(audience) => {
                part(b"audience");
                part(audience.as_bytes());
            }
            None => part(b"no audience"),
        }
        part(&(params.len() as u64).to_be_bytes());
        for (name, value) in params {
            part(name.as_bytes());
            part(value.as_bytes());
        }
        hex::encode(hasher.finalize())
    }
}

/// The Redis key holding the sealed token for `key`.
pub(crate) fn token_key(prefix: &str, key: &str) -> String {
    format!("{prefix}:{key}:token")
}

/// The Redis key holding the refresh lease for `key`.
pub(crate) fn lease_key(prefix: &str, key: &str) -> String {
    format!("{prefix}:{key}:lease")
}

/// The Redis key holding the fleet's last failed fetch for `key`.
pub(crate) fn failure_key(prefix: &str, key: &str) -> String {
    format!("{prefix}:{key}:failure")
}

/// The pub/sub channel on which changes to `key` are announced.
pub(crate) fn change_channel(prefix: &str, key: &str) -> String {
    format!("{prefix}:{key}:changed")
}

/// The credential key of a change channel's name, if it is one under `prefix`.
pub(crate) fn key_of_channel<'a>(prefix: &str, channel: &'a str) -> Option<&'a str> {
    channel
        .strip_prefix(prefix)?
        .strip_prefix(':')?
        .strip_suffix(":changed")
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
    }

    #[test]
    fn namespaced_keys() {
        assert_eq!(token_key("tokensource:v2", "k"), "tokensource:v2:k:token");
        assert_eq!(lease_key("tokensource:v2", "k"), "tokensource:v2:k:lease");
        assert_eq!(failure_key("p", "k"), "p:k:failure");
        let channel = change_channel("tokensource:v2", "k");
        assert_eq!(key_of_channel("tokensource:v2", &channel), Some("k"));
        assert_eq!(key_of_channel("other", &channel), None);
    }

    #[test]
    fn scopes_audience_and_params_change_the_key() {
        let base = CredentialKey::new("p", "e", "c");
        let plain = base.clone().to_key();
        assert_eq!(plain, credential_key("p", "e", "c"));
        assert_ne!(plain, base.clone().scopes(["a"]).to_key());
        assert_eq!(
            base.clone().scopes(["a", "b", "a"]).to_key(),
            base.clone().scopes(["b", "a"]).to_key()
        );
        assert_ne!(plain, base.clone().audience("x").to_key());
        assert_ne!(
            base.clone().audience("").to_key(),
            plain,
            "an empty audience is still an audience"
        );
        assert_ne!(plain, base.clone().param("resource", "r").to_key());
        assert_eq!(
            base.clone().param("a", "1").param("b", "2").to_key(),
            base.clone().param("b", "2").param("a", "1").to_key()
        );
        // A scope is not a parameter.
        assert_ne!(
            base.clone().scopes(["a"]).to_key(),
            base.clone().param("a", "").to_key()
        );
    }
}
