//! JWT client assertions (RFC 7523 section 2.2, OpenID Connect Core section 9): `private_key_jwt`
//! signed with a private key, `client_secret_jwt` signed with the client secret.
//!
//! The signing is [`jsonwebtoken`]'s on aws-lc-rs (the cryptography library rustls already uses
//! here); nothing of the cryptography is written in this crate. [`AssertionSigner`] is public so
//! that a custom provider can sign its own assertions.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tokensource_core::{Error, SecretSource};

/// `client_assertion_type` for a JWT client assertion (RFC 7523 section 2.2).
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long a signed assertion is valid: `exp` is this long after `iat`.
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

/// The JWS algorithm a client assertion is signed with.
///
/// ```
/// use tokensource_client_credentials::SigningAlgorithm;
///
/// assert_eq!("PS256".parse::<SigningAlgorithm>()?, SigningAlgorithm::Ps256);
/// assert_eq!(SigningAlgorithm::Es256.as_str(), "ES256");
/// assert!("none".parse::<SigningAlgorithm>().is_err());
/// # Ok::<(), tokensource_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, an RSA key (the default for RSA keys).
    Rs256,
    /// RSASSA-PSS with SHA-256, an RSA key.
    Ps256,
    /// ECDSA on P-256 with SHA-256, an EC P-256 key (the default for EC keys).
    Es256,
    /// HMAC with SHA-256, keyed by the client secret (`client_secret_jwt`).
    Hs256,
}

impl SigningAlgorithm {
    /// The JWS name: `RS256`, `PS256`, `ES256` or `HS256`.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Rs256 => "RS256",
            SigningAlgorithm::Ps256 => "PS256",
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::Hs256 => "HS256",
        }
    }

    fn jws(self) -> Algorithm {
        match self {
            SigningAlgorithm::Rs256 => Algorithm::RS256,
            SigningAlgorithm::Ps256 => Algorithm::PS256,
            SigningAlgorithm::Es256 => Algorithm::ES256,
            SigningAlgorithm::Hs256 => Algorithm::HS256,
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlgorithm {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self, Error> {
        match value.trim().to_ascii_uppercase().as_str() {
            "RS256" => Ok(SigningAlgorithm::Rs256),
            "PS256" => Ok(SigningAlgorithm::Ps256),
            "ES256" => Ok(SigningAlgorithm::Es256),
            "HS256" => Ok(SigningAlgorithm::Hs256),
            _ => Err(Error::configuration(
                "signing_alg",
                "must be RS256, PS256 or ES256 (or HS256 for client-secret-jwt)",
            )),
        }
    }
}

/// Signs JWT client assertions: `iss` = `sub` = the client id, `aud` = one audience string, a
/// unique `jti`, `iat` now and `exp` [`ASSERTION_LIFETIME`] (5 minutes) later.
///
/// The key is a [`SecretSource`]: a PEM text fixed when the signer is made, or a file read again
/// at every signature (a rotated key is used at once). It is checked when the signer is made
/// (read, parsed and used once), so a bad key is a configuration error before any request.
///
/// ```
/// use tokensource_client_credentials::{AssertionSigner, SigningAlgorithm};
///
/// # fn run(pem: String) -> Result<(), tokensource_core::Error> {
/// // private_key_jwt with an RSA or EC P-256 PEM key (PKCS#8, PKCS#1 or SEC1):
/// let signer = AssertionSigner::private_key(pem, None)?.with_key_id("2026-11");
/// let assertion = signer.sign("my-client", "https://auth.example.com/oauth2/token")?;
/// # let _ = assertion;
/// // client_secret_jwt:
/// let hmac = AssertionSigner::client_secret("the client secret")?;
/// assert_eq!(hmac.algorithm(), SigningAlgorithm::Hs256);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AssertionSigner {
    key: SecretSource,
    kind: KeyKind,
    algorithm: SigningAlgorithm,
    key_id: Option<String>,
}

/// What the key material is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    /// A PEM private key.
    Private,
    /// The client secret's bytes, for HMAC.
    Secret,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: u64,
    exp: u64,
}

impl AssertionSigner {
    /// A `private_key_jwt` signer with the PEM private key `pem`: RSA (PKCS#8 `PRIVATE KEY` or
    /// PKCS#1 `RSA PRIVATE KEY`) or EC P-256 (PKCS#8 or SEC1 `EC PRIVATE KEY`). `algorithm`
    /// defaults to RS256 for RSA keys and ES256 for EC keys; PS256 takes an RSA key.
    ///
    /// # Errors
    /// A configuration error naming `private_key` when the key cannot be read or is not such a
    /// key, or `signing_alg` when the algorithm does not fit the key.
    pub fn private_key(
        pem: impl Into<SecretSource>,
        algorithm: Option<SigningAlgorithm>,
    ) -> Result<Self, Error> {
        let key = pem.into();
        let pem = key.read_for("private_key")?;
        let (_, family) = private_key(pem.expose_secret().as_bytes(), None)?;
        let algorithm = match (algorithm, family) {
            (None, Family::Rsa) => SigningAlgorithm::Rs256,
            (None, Family::Ec) => SigningAlgorithm::Es256,
            (Some(alg @ (SigningAlgorithm::Rs256 | SigningAlgorithm::Ps256)), Family::Rsa) => alg,
            (Some(SigningAlgorithm::Es256), Family::Ec) => SigningAlgorithm::Es256,
            (Some(alg), family) => {
                return Err(Error::configuration(
                    "signing_alg",
                    format!("{alg} does not fit the private key, which is {family}"),
                ));
            }
        };
        let signer = AssertionSigner {
            key,
            kind: KeyKind::Private,
            algorithm,
            key_id: None,
        };
        // Sign once, so that a key the library cannot use fails now rather than at a fetch.
        signer.sign("tokensource-check", "tokensource-check")?;
        Ok(signer)
    }

    /// A `client_secret_jwt` signer: HS256 keyed by the client secret's bytes.
    ///
    /// # Errors
    /// A configuration error naming `client_secret` when a secret file cannot be read.
    pub fn client_secret(secret: impl Into<SecretSource>) -> Result<Self, Error> {
        let key = secret.into();
        key.read_for("client_secret")?;
        Ok(AssertionSigner {
            key,
            kind: KeyKind::Secret,
            algorithm: SigningAlgorithm::Hs256,
            key_id: None,
        })
    }

    /// Sets the JWS `kid` header (the key's id in the client's registered JWKS).
    #[must_use]
    pub fn with_key_id(mut self, key_id: impl Into<String>) -> Self {
        self.key_id = Some(key_id.into());
        self
    }

    /// The algorithm assertions are signed with.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The `kid` header, if set.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// A new assertion for `client_id` (as `iss` and `sub`) and `audience` (`aud`, usually the
    /// token endpoint's URL or the authorization server's issuer identifier), with a fresh
    /// random `jti`. The key is read again first when it is a file.
    ///
    /// # Errors
    /// A configuration error when the key (file) can no longer be read or used; the error never
    /// holds the key.
    pub fn sign(&self, client_id: &str, audience: &str) -> Result<SecretString, Error> {
        let field = match self.kind {
            KeyKind::Private => "private_key",
            KeyKind::Secret => "client_secret",
        };
        let material = self.key.read_for(field)?;
        let key = match self.kind {
            KeyKind::Private => {
                private_key(material.expose_secret().as_bytes(), Some(self.algorithm))?.0
            }
            KeyKind::Secret => EncodingKey::from_secret(material.expose_secret().as_bytes())
                .map_err(|_| Error::configuration("client_secret", "must not be empty"))?,
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            iss: client_id,
            sub: client_id,
            aud: audience,
            jti: hex::encode(rand::random::<[u8; 16]>()),
            iat: now,
            exp: now + ASSERTION_LIFETIME.as_secs(),
        };
        let mut header = Header::new(self.algorithm.jws());
        header.kid.clone_from(&self.key_id);
        jsonwebtoken::encode(&header, &claims, &key)
            .map(SecretString::from)
            .map_err(|e| {
                // jsonwebtoken's errors describe the failure, never the key.
                Error::configuration(field, format!("the assertion could not be signed ({e})"))
            })
    }
}

impl fmt::Debug for AssertionSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key: &dyn fmt::Debug = match self.key.path() {
            Some(path) => &path.display().to_string(),
            None => &"** redacted **",
        };
        f.debug_struct("AssertionSigner")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id)
            .field("key", key)
            .finish()
    }
}

/// The family of a private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    Ec,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Rsa => "an RSA key",
            Family::Ec => "an EC key",
        })
    }
}

/// The signing key in the PEM text `pem`, and its family. With `algorithm`, the key must fit it.
fn private_key(
    pem: &[u8],
    algorithm: Option<SigningAlgorithm>,
) -> Result<(EncodingKey, Family), Error> {
    let invalid = |what: &str| {
        Error::configuration(
            "private_key",
            format!(
                "{what}: expected a PEM RSA key (\"PRIVATE KEY\" or \"RSA PRIVATE KEY\") or EC P-256 key (\"PRIVATE KEY\" or \"EC PRIVATE KEY\")"
            ),
        )
    };
    let der = PrivateKeyDer::from_pem_slice(pem).map_err(|_| invalid("no PEM private key"))?;
    let ec_from_der = |der: &[u8]| -> Result<EncodingKey, Error> {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|_| invalid("not an EC P-256 private key"))?;
        let pkcs8 = pair
            .to_pkcs8v1()
            .map_err(|_| invalid("the EC key could not be read"))?;
        Ok(EncodingKey::from_ec_der(pkcs8.as_ref()))
    };
    let rsa = |pem: &[u8]| EncodingKey::from_rsa_pem(pem).map_err(|_| invalid("not an RSA key"));
    let (key, family) = match &der {
        PrivateKeyDer::Pkcs1(_) => (rsa(pem)?, Family::Rsa),
        PrivateKeyDer::Sec1(sec1) => (ec_from_der(sec1.secret_sec1_der())?, Family::Ec),
        PrivateKeyDer::Pkcs8(pkcs8) => match algorithm {
            Some(SigningAlgorithm::Es256) => (ec_from_der(pkcs8.secret_pkcs8_der())?, Family::Ec),
            Some(_) => (rsa(pem)?, Family::Rsa),
            // Which family: whichever parses.
            None => match ec_from_der(pkcs8.secret_pkcs8_der()) {
                Ok(key) => (key, Family::Ec),
                Err(_) => (rsa(pem)?, Family::Rsa),
            },
        },
        _ => return Err(invalid("an unsupported kind of private key")),
    };
    Ok((key, family))
}
