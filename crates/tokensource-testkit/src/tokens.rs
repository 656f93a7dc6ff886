//! Minting access tokens and remembering which ones are valid.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// How a mock issues tokens: shared by every protocol.
#[derive(Debug, Clone)]
pub(crate) struct TokenSettings {
    /// How long issued tokens are accepted by the mock API.
    pub(crate) lifetime: Duration,
    /// Whether access tokens are unsigned JWTs with `iat` and `exp`.
    pub(crate) jwt: bool,
    /// A value sent as the lifetime field instead of the true lifetime.
    pub(crate) advertised_expires_in: Option<Value>,
}

impl TokenSettings {
    pub(crate) fn new(lifetime: Duration, jwt: bool) -> Self {
        TokenSettings {
            lifetime,
            jwt,
            advertised_expires_in: None,
        }
    }

    /// The lifetime field's value: the override, or the lifetime in whole seconds (a fraction
    /// only when the lifetime has one).
    pub(crate) fn expires_in_seconds(&self) -> Value {
        self.advertised_expires_in.clone().unwrap_or_else(|| {
            if self.lifetime.subsec_nanos() == 0 {
                json!(self.lifetime.as_secs())
            } else {
                json!(self.lifetime.as_secs_f64())
            }
        })
    }

    /// The lifetime field's value in milliseconds (Noyo), or the override.
    pub(crate) fn expires_in_millis(&self) -> Value {
        self.advertised_expires_in
            .clone()
            .unwrap_or_else(|| json!(u64::try_from(self.lifetime.as_millis()).unwrap_or(u64::MAX)))
    }
}

/// One token the mock issued.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    /// The wall-clock expiry (for `expires` fields).
    pub(crate) expires_at: SystemTime,
}

/// Why the mock API refuses a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Not a token this server issued (or not a bearer header at all).
    Unknown,
    /// Issued here, but expired or revoked.
    Expired,
}

#[derive(Debug)]
struct LedgerEntry {
    subject: String,
    valid_until: Instant,
    revoked: bool,
}

/// Every token issued, with its validity.
#[derive(Debug)]
pub(crate) struct Ledger {
    /// Distinguishes this server's tokens from another instance's.
    nonce: String,
    serial: u64,
    entries: HashMap<String, LedgerEntry>,
    last: Option<String>,
}

impl Ledger {
    pub(crate) fn new(nonce: u64) -> Self {
        Ledger {
            nonce: format!("{:08x}", nonce & 0xffff_ffff),
            serial: 0,
            entries: HashMap::new(),
            last: None,
        }
    }

    /// Issues a new token for `subject`, distinct from every other.
    pub(crate) fn issue(
        &mut self,
        provider: &str,
        subject: &str,
        settings: &TokenSettings,
    ) -> Issued {
        self.serial += 1;
        let serial = self.serial;
        let now = SystemTime::now();
        let lifetime = settings.lifetime;
        let access_token = if settings.jwt {
            unsigned_jwt(provider, subject, &self.nonce, serial, now, lifetime)
        } else {
            format!("{provider}-token-{}-{serial}", self.nonce)
        };
        let refresh_token = format!("{provider}-refresh-{}-{serial}", self.nonce);
        self.entries.insert(
            access_token.clone(),
            LedgerEntry {
                subject: subject.to_owned(),
                valid_until: Instant::now()
                    .checked_add(lifetime)
                    .unwrap_or_else(far_future),
                revoked: false,
            },
        );
        self.last = Some(access_token.clone());
        Issued {
            access_token,
            refresh_token,
            expires_at: now.checked_add(lifetime).unwrap_or(now),
        }
    }

    /// The subject of a currently valid token, or why it is refused.
    pub(crate) fn check(&self, token: &str) -> Result<&str, Refusal> {
        let entry = self.entries.get(token).ok_or(Refusal::Unknown)?;
        if entry.revoked || Instant::now() >= entry.valid_until {
            return Err(Refusal::Expired);
        }
        Ok(&entry.subject)
    }

    pub(crate) fn revoke(&mut self, token: &str) -> bool {
        match self.entries.get_mut(token) {
            Some(entry) => {
                entry.revoked = true;
                true
            }
            None => false,
        }
    }

    pub(crate) fn revoke_all(&mut self) {
        self.entries.values_mut().for_each(|e| e.revoked = true);
    }

    pub(crate) fn expire_all(&mut self) {
        let now = Instant::now();
        self.entries.values_mut().for_each(|e| e.valid_until = now);
    }

    pub(crate) fn issued(&self) -> u64 {
        self.serial
    }

    pub(crate) fn last(&self) -> Option<&str> {
        self.last.as_deref()
    }
}

fn far_future() -> Instant {
    // About 30 years: effectively never, without overflowing `Instant`.
    Instant::now() + Duration::from_secs(30 * 365 * 24 * 3600)
}

/// An unsecured JWT (RFC 7519 section 6: `alg: none`, empty signature) with `iat` and `exp` in
/// whole seconds.
fn unsigned_jwt(
    provider: &str,
    subject: &str,
    nonce: &str,
    serial: u64,
    now: SystemTime,
    lifetime: Duration,
) -> String {
    let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let exp = iat.saturating_add(lifetime.as_secs());
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = json!({
        "iss": format!("tokensource-testkit/{provider}"),
        "sub": subject,
        "jti": format!("{nonce}-{serial}"),
        "iat": iat,
        "exp": exp,
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_checked() {
        let mut ledger = Ledger::new(7);
        let settings = TokenSettings::new(Duration::from_secs(60), false);
        let a = ledger.issue("p", "id", &settings);
        let b = ledger.issue("p", "id", &settings);
        assert_ne!(a.access_token, b.access_token);
        assert_eq!(ledger.check(&a.access_token), Ok("id"));
        assert_eq!(ledger.check("nope"), Err(Refusal::Unknown));
        assert!(ledger.revoke(&a.access_token));
        assert_eq!(ledger.check(&a.access_token), Err(Refusal::Expired));
        ledger.expire_all();
        assert_eq!(ledger.check(&b.access_token), Err(Refusal::Expired));
        assert_eq!(ledger.issued(), 2);
    }

    #[test]
    fn jwt_claims() {
        let mut ledger = Ledger::new(1);
        let settings = TokenSettings::new(Duration::from_secs(600), true);
        let token = ledger.issue("noyo", "client", &settings).access_token;
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "");
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap())
            .expect("claims are JSON");
        let iat = claims["iat"].as_u64().unwrap();
        assert_eq!(claims["exp"].as_u64().unwrap(), iat + 600);
        assert_eq!(claims["sub"], "client");
    }
}
