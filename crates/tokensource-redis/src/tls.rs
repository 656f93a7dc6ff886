//! TLS for `rediss://`: the roots a server certificate must chain to, the client identity for
//! mutual TLS, and how a handshake that failed on a certificate is recognized.
//!
//! The handshake itself is the `redis` crate's (rustls with aws-lc-rs). This module checks what
//! the user gives before anything connects, so that a bad file is a configuration error naming
//! its setting, not a connection failure later.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokensource_core::Error;
use zeroize::Zeroizing;

use crate::connection::{Connector, Timeouts, Topology};

/// The TLS settings of a store: extra roots and a client identity, both checked.
#[derive(Clone, Default)]
pub(crate) struct TlsSettings {
    /// Root certificates trusted in addition to the system's (DER).
    extra_roots: Vec<CertificateDer<'static>>,
    /// The client certificate chain and key, as PEM, for mutual TLS.
    identity: Option<ClientIdentity>,
}

#[derive(Clone)]
struct ClientIdentity {
    cert_pem: Vec<u8>,
    key_pem: Zeroizing<Vec<u8>>,
}

impl TlsSettings {
    /// Whether anything was set (which then needs `rediss://` URLs).
    pub(crate) fn is_set(&self) -> bool {
        !self.extra_roots.is_empty() || self.identity.is_some()
    }

    /// Adds the root certificates in `pem`, trusted in addition to the system's.
    ///
    /// # Errors
    /// A configuration error naming `field` when `pem` holds no certificate or one that does
    /// not parse.
    pub(crate) fn add_roots(&mut self, pem: &[u8], field: &str) -> Result<(), Error> {
        let certificates = certificates(pem, field)?;
        let mut store = rustls::RootCertStore::empty();
        for certificate in &certificates {
            store.add(certificate.clone()).map_err(|e| {
                Error::configuration(
                    field.to_owned(),
                    format!("holds a certificate that cannot be a trust root: {e}"),
                )
            })?;
        }
        self.extra_roots.extend(certificates);
        Ok(())
    }

    /// Sets the client identity for mutual TLS: a PEM certificate chain (end entity first) and
    /// its PEM private key (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    /// A configuration error naming `cert_field` for a chain without a certificate, or
    /// `key_field` for a missing, unsupported or mismatched key.
    pub(crate) fn set_identity(
        &mut self,
        cert_pem: &[u8],
        key_pem: &[u8],
        (cert_field, key_field): (&str, &str),
    ) -> Result<(), Error> {
        let chain = certificates(cert_pem, cert_field)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| {
            Error::configuration(
                key_field.to_owned(),
                "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
            )
        })?;
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        rustls::sign::CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
            let why = match e {
                rustls::Error::InconsistentKeys(_) => {
                    "is not the private key of the client certificate".to_owned()
                }
                other => format!("is not a usable private key: {other}"),
            };
            Error::configuration(key_field.to_owned(), why)
        })?;
        self.identity = Some(ClientIdentity {
            cert_pem: cert_pem.to_vec(),
            key_pem: Zeroizing::new(key_pem.to_vec()),
        });
        Ok(())
    }

    /// The certificates the `redis` crate connects with: the system's roots, read once here
    /// (when the store is built, and again when its TLS files change), and the extra ones.
    ///
    /// The roots are always given: left to itself, the `redis` crate would read the system's
    /// roots from disk for every connection, blocking the runtime thread that connects (about
    /// 2 ms in a release build, 14 ms in a debug one, for each connection of a cold fleet or a
    /// failover); its `tls-rustls-webpki-roots` feature, which this crate enables, is what
    /// stops that, and the bundled roots it would otherwise use are never trusted.
    pub(crate) fn redis_certificates(&self) -> redis::TlsCertificates {
        let loaded = rustls_native_certs::load_native_certs();
        if let Some(error) = loaded.errors.first() {
            tracing::debug!(error = %error, "some system root certificates could not be loaded");
        }
        if loaded.certs.is_empty() && self.extra_roots.is_empty() {
            tracing::warn!(
                "no system root certificates were found: rediss:// servers can only be \
                 verified with ca_file"
            );
        }
        let pems: Vec<pem::Pem> = loaded
            .certs
            .iter()
            .chain(&self.extra_roots)
            .map(|der| pem::Pem::new("CERTIFICATE", der.as_ref().to_vec()))
            .collect();
        let root_cert = Some(pem::encode_many(&pems).into_bytes());
        redis::TlsCertificates {
            client_tls: self
                .identity
                .as_ref()
                .map(|identity| redis::ClientTlsConfig {
                    client_cert: identity.cert_pem.clone(),
                    client_key: identity.key_pem.to_vec(),
                }),
            root_cert,
        }
    }
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("extra_roots", &self.extra_roots.len())
            .field("client_identity", &self.identity.is_some())
            .finish()
    }
}

/// The certificates of a PEM text: at least one, each a well-formed block.
fn certificates(pem: &[u8], field: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            Error::configuration(
                field.to_owned(),
                "holds a PEM block that does not parse as a certificate",
            )
        })?;
    if certificates.is_empty() {
        return Err(Error::configuration(
            field.to_owned(),
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certificates)
}

/// One TLS setting as given to the builder, kept to make the settings again when a file changes.
#[derive(Clone)]
pub(crate) enum TlsInput {
    CaFile(PathBuf),
    CaPem(Vec<u8>),
    IdentityFiles(PathBuf, PathBuf),
    IdentityPem(Vec<u8>, Zeroizing<Vec<u8>>),
}

/// The bytes of a store's TLS files, in the order they were given.
type FileBytes = Vec<Zeroizing<Vec<u8>>>;

/// Makes a store's connector again when its TLS files change: the files are read before each
/// operation, and a new certificate, key or root is used from the next connection on (the old
/// connections close), without a restart. A file that cannot be read, or no longer holds what
/// it should, leaves the connector as it is (the connections made keep working) and is logged.
pub(crate) struct TlsRenewal {
    topology: Topology,
    tls_field: &'static str,
    timeouts: Timeouts,
    inputs: Vec<TlsInput>,
    /// The file bytes the connector in use was made from, and whether a bad file was logged.
    last: Mutex<(FileBytes, bool)>,
}

impl TlsRenewal {
    /// `None` when no setting is a file (nothing can change).
    pub(crate) fn new(
        topology: Topology,
        tls_field: &'static str,
        timeouts: Timeouts,
        inputs: Vec<TlsInput>,
    ) -> Result<Option<Self>, Error> {
        let reads_files = inputs
            .iter()
            .any(|input| matches!(input, TlsInput::CaFile(_) | TlsInput::IdentityFiles(..)));
        if !reads_files {
            return Ok(None);
        }
        let renewal = TlsRenewal {
            topology,
            tls_field,
            timeouts,
            inputs,
            last: Mutex::new((Vec::new(), false)),
        };
        let bytes = renewal.read_files()?;
        renewal.lock().0 = bytes;
        Ok(Some(renewal))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (FileBytes, bool)> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read_files(&self) -> Result<FileBytes, Error> {
        let mut bytes = Vec::new();
        for input in &self.inputs {
            match input {
                TlsInput::CaFile(path) => {
                    bytes.push(Zeroizing::new(read_pem_file(path, "ca_file")?));
                }
                TlsInput::IdentityFiles(cert, key) => {
                    bytes.push(Zeroizing::new(read_pem_file(cert, "client_cert_file")?));
                    bytes.push(Zeroizing::new(read_pem_file(key, "client_key_file")?));
                }
                TlsInput::CaPem(_) | TlsInput::IdentityPem(..) => {}
            }
        }
        Ok(bytes)
    }

    /// The settings made from the inputs, with `files` for the file inputs.
    fn settings(&self, files: &FileBytes) -> Result<TlsSettings, Error> {
        let mut tls = TlsSettings::default();
        let mut files = files.iter();
        let mut next = || files.next().map(|b| b.as_slice()).unwrap_or_default();
        for input in &self.inputs {
            match input {
                TlsInput::CaFile(_) => tls.add_roots(next(), "ca_file")?,
                TlsInput::CaPem(pem) => tls.add_roots(pem, "ca_pem")?,
                TlsInput::IdentityFiles(..) => {
                    let (cert, key) = (next(), next());
                    tls.set_identity(cert, key, ("client_cert_file", "client_key_file"))?;
                }
                TlsInput::IdentityPem(cert, key) => {
                    tls.set_identity(cert, key, ("client_cert_pem", "client_key_pem"))?;
                }
            }
        }
        Ok(tls)
    }

    /// A new connector when the files changed since the last one was made; `None` when they did
    /// not, or cannot be used now.
    pub(crate) fn renewed(&self) -> Option<Connector> {
        let made = self.read_files().and_then(|files| {
            if self.lock().0 == files {
                return Ok(None);
            }
            let tls = self.settings(&files)?;
            let connector = Connector::new(&self.topology, &tls, self.tls_field, self.timeouts)?;
            Ok(Some((files, connector)))
        });
        match made {
            Ok(Some((files, connector))) => {
                *self.lock() = (files, false);
                tracing::info!("the Redis TLS files changed: new connections use them");
                Some(connector)
            }
            Ok(None) => None,
            Err(error) => {
                let mut last = self.lock();
                if !last.1 {
                    last.1 = true;
                    tracing::warn!(
                        error = %error,
                        "a Redis TLS file cannot be used now; the connections made keep working"
                    );
                }
                None
            }
        }
    }
}

/// Reads a PEM file for `field`.
///
/// # Errors
/// A configuration error naming `field` when the file cannot be read.
pub(crate) fn read_pem_file(path: &Path, field: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| {
        Error::configuration(
            field.to_owned(),
            format!("cannot read {}: {e}", path.display()),
        )
    })
}

/// A TLS handshake that failed on a certificate: the store must not be used with this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The server's certificate failed verification (untrusted issuer, wrong name, expired...).
    ServerCertificate(String),
    /// The server refused this client's certificate, or asked for one and got none.
    ClientCertificate(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::ServerCertificate(why) => {
                write!(
                    f,
                    "the Redis server's TLS certificate failed verification ({why})"
                )
            }
            Refusal::ClientCertificate(why) => write!(
                f,
                "the Redis server refused the TLS client certificate, or needs one ({why})"
            ),
        }
    }
}

/// The certificate refusal behind `error`, if that is what it is.
pub(crate) fn refusal(error: &redis::RedisError) -> Option<Refusal> {
    if let Some(found) = rustls_error(error) {
        return classify(found);
    }
    // Some paths (a cluster's start-up) keep only the message of the error they met.
    let text = error.to_string();
    if let Some(at) = text.find("invalid peer certificate") {
        return Some(Refusal::ServerCertificate(text[at..].to_owned()));
    }
    None
}

fn classify(error: &rustls::Error) -> Option<Refusal> {
    use rustls::AlertDescription as Alert;
    match error {
        rustls::Error::InvalidCertificate(why) => {
            Some(Refusal::ServerCertificate(format!("{why:?}")))
        }
        rustls::Error::AlertReceived(
            alert @ (Alert::CertificateRequired
            | Alert::BadCertificate
            | Alert::UnknownCA
            | Alert::AccessDenied
            | Alert::CertificateUnknown
            | Alert::CertificateExpired
            | Alert::CertificateRevoked
            | Alert::UnsupportedCertificate),
        ) => Some(Refusal::ClientCertificate(format!(
            "the server sent the alert {alert:?}"
        ))),
        _ => None,
    }
}

/// The rustls error in `error`'s chain: a source, the inner error of an `io::Error`, or behind
/// the `Arc` the `redis` crate keeps its causes in.
fn rustls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(found) = error.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(found) = rustls_error(inner)
        {
            return Some(found);
        }
        if let Some(shared) = error.downcast_ref::<Arc<dyn std::error::Error + Send + Sync>>()
            && let Some(found) = rustls_error(&**shared)
        {
            return Some(found);
        }
        next = error.source();
    }
    None
}

/// Makes sure rustls has a process-wide crypto provider before the `redis` crate asks for one:
/// aws-lc-rs, unless the application installed another.
pub(crate) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: one provider is installed either way.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_found_behind_io_errors_and_arcs() {
        let untrusted = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, untrusted);
        let error = redis::RedisError::from(io);
        assert!(matches!(
            refusal(&error),
            Some(Refusal::ServerCertificate(why)) if why.contains("UnknownIssuer")
        ));

        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        let error = redis::RedisError::from(std::io::Error::other(alert));
        assert!(matches!(
            refusal(&error),
            Some(Refusal::ClientCertificate(_))
        ));

        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(refusal(&redis::RedisError::from(refused)), None);
        let other = rustls::Error::AlertReceived(rustls::AlertDescription::InternalError);
        assert_eq!(
            refusal(&redis::RedisError::from(std::io::Error::other(other))),
            None
        );
    }

    #[test]
    fn the_system_roots_are_always_given_with_the_extra_ones() {
        let pki = tokensource_testkit::tls::TestPki::new();
        let mut tls = TlsSettings::default();
        tls.add_roots(pki.ca_pem().as_bytes(), "ca_pem").unwrap();
        assert!(tls.is_set());
        let system = rustls_native_certs::load_native_certs().certs;
        let roots_given = |tls: &TlsSettings| -> Vec<CertificateDer<'static>> {
            let pem = tls
                .redis_certificates()
                .root_cert
                .expect("the roots are always given");
            CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let given = roots_given(&tls);
        assert_eq!(given.len(), system.len() + 1);
        assert!(system.iter().all(|root| given.contains(root)));
        // Without extra roots, the system's are given all the same: the redis crate neither
        // reads them again for each connection nor falls back to its bundled roots.
        assert_eq!(roots_given(&TlsSettings::default()), system);
    }

    #[test]
    fn files_are_checked_for_what_their_setting_expects() {
        let mut tls = TlsSettings::default();
        let error = tls.add_roots(b"no pem here", "ca_file").unwrap_err();
        assert_eq!(error.field(), Some("ca_file"));
        let error = tls
            .add_roots(
                b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
                "ca_file",
            )
            .unwrap_err();
        assert_eq!(error.field(), Some("ca_file"));
        let error = tls
            .add_roots(
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "ca_file",
            )
            .unwrap_err();
        assert_eq!(error.field(), Some("ca_file"), "{error}");
        assert!(!tls.is_set());
    }
}
