//! The HTTP client behind an endpoint: built from the [`HttpOptions`] with the rules applied last,
//! and built again when a certificate or key file it was made from has changed.

use std::sync::{Mutex, PoisonError};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokensource_core::Error;
use zeroize::Zeroizing;

use crate::HttpOptions;
use crate::options::Pem;

/// An endpoint's client, and what it was made from.
pub(crate) struct Transport {
    options: HttpOptions,
    /// The client, and the bytes of the files it was built from (compared before each request).
    current: Mutex<(Material, reqwest::Client)>,
}

impl Transport {
    /// Reads the files and builds the first client; errors name the setting.
    pub(crate) fn new(options: HttpOptions) -> Result<Self, Error> {
        let material = Material::read(&options)?;
        let client = build(&options, &material)?;
        Ok(Transport {
            options,
            current: Mutex::new((material, client)),
        })
    }

    pub(crate) fn options(&self) -> &HttpOptions {
        &self.options
    }

    /// The client last built, without reading the files: for building requests only.
    pub(crate) fn any_client(&self) -> reqwest::Client {
        self.lock().1.clone()
    }

    /// The client to send the next request with: the same one while the files it was built
    /// from are unchanged (they are read again each time), else a new one.
    pub(crate) fn client(&self) -> Result<reqwest::Client, Error> {
        if !self.options.reads_files() {
            return Ok(self.lock().1.clone());
        }
        let material = Material::read(&self.options)?;
        if let Some(client) = {
            let current = self.lock();
            (current.0 == material).then(|| current.1.clone())
        } {
            return Ok(client);
        }
        let client = build(&self.options, &material)?;
        *self.lock() = (material, client.clone());
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Material, reqwest::Client)> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// PEM bytes, zeroized on drop (a key is among them).
type PemBytes = Zeroizing<Vec<u8>>;

/// The PEM bytes of the extra roots and of the client certificate and key.
#[derive(PartialEq, Eq)]
struct Material {
    roots: Vec<PemBytes>,
    identity: Option<(PemBytes, PemBytes)>,
}

impl Material {
    fn read(options: &HttpOptions) -> Result<Self, Error> {
        let roots = options
            .extra_roots()
            .iter()
            .map(|pem| read(pem, "ca_file"))
            .collect::<Result<_, _>>()?;
        let identity = match options.client_identity() {
            None => None,
            Some(identity) => Some((
                read(&identity.cert, "client_cert_file")?,
                read(&identity.key, "client_key_file")?,
            )),
        };
        Ok(Material { roots, identity })
    }
}

fn read(pem: &Pem, field: &'static str) -> Result<PemBytes, Error> {
    match pem {
        Pem::Text(text) => Ok(Zeroizing::new(text.to_vec())),
        Pem::File(path) => std::fs::read(path).map(Zeroizing::new).map_err(|e| {
            Error::configuration(
                field,
                format!("the file {} cannot be read ({e})", path.display()),
            )
        }),
    }
}

/// The file's name for messages, or "the PEM text" for material given in memory.
fn what(pem: &Pem) -> String {
    match pem.path() {
        Some(path) => format!("the file {}", path.display()),
        None => "the PEM text".to_owned(),
    }
}

/// A client with `material`, the options' proxy and the rules: no redirects, the timeouts.
fn build(options: &HttpOptions, material: &Material) -> Result<reqwest::Client, Error> {
    let mut builder = options
        .base_builder()
        .redirect(reqwest::redirect::Policy::none())
        // Token requests are minutes apart: a pooled connection would mostly be a stale one, and
        // a new connection per request makes a proxy or certificate change take effect at once.
        .pool_max_idle_per_host(0)
        .timeout(options.timeout())
        .connect_timeout(options.connect_timeout())
        .user_agent(concat!("tokensource/", env!("CARGO_PKG_VERSION")));
    builder = match options.proxy() {
        crate::Proxy::System => builder,
        crate::Proxy::None => builder.no_proxy(),
        crate::Proxy::Url(url) => {
            builder.proxy(reqwest::Proxy::all(url.as_str()).map_err(|e| {
                Error::configuration("proxy", "the proxy URL cannot be used")
                    .with_source(e.without_url())
            })?)
        }
    };
    let mut roots = Vec::new();
    for (pem, bytes) in options.extra_roots().iter().zip(&material.roots) {
        let certificates = certificates(bytes, pem, "ca_file")?;
        for der in certificates {
            roots.push(reqwest::Certificate::from_der(&der).map_err(|e| {
                Error::configuration(
                    "ca_file",
                    format!("{} holds a certificate that cannot be used", what(pem)),
                )
                .with_source(e)
            })?);
        }
    }
    if !roots.is_empty() {
        builder = builder.tls_certs_merge(roots);
    }
    if let (Some(identity), Some((cert, key))) = (options.client_identity(), &material.identity) {
        certificates(cert, &identity.cert, "client_cert_file")?;
        if PrivateKeyDer::from_pem_slice(key).is_err() {
            return Err(Error::configuration(
                "client_key_file",
                format!(
                    "{} holds no PEM private key (PKCS#8 \"PRIVATE KEY\", PKCS#1 \"RSA PRIVATE KEY\" or SEC1 \"EC PRIVATE KEY\")",
                    what(&identity.key)
                ),
            ));
        }
        let mut both = Zeroizing::new(Vec::with_capacity(cert.len() + key.len() + 1));
        both.extend_from_slice(cert);
        both.push(b'\n');
        both.extend_from_slice(key);
        let identity = reqwest::Identity::from_pem(&both).map_err(|_| {
            Error::configuration(
                "client_key_file",
                "the client certificate and key cannot be used together",
            )
        })?;
        builder = builder.identity(identity);
    }
    builder.build().map_err(|e| {
        // reqwest checks the key against the certificate here, among other things.
        let field = if material.identity.is_some() {
            "client_key_file"
        } else {
            "token_url"
        };
        Error::configuration(field, "the HTTP client could not be built")
            .with_source(e.without_url())
    })
}

/// The certificates of a PEM text: at least one, and every `CERTIFICATE` block valid.
fn certificates(
    bytes: &[u8],
    pem: &Pem,
    field: &'static str,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certificates = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            Error::configuration(
                field,
                format!(
                    "{} holds a PEM block that is not a valid certificate",
                    what(pem)
                ),
            )
        })?;
    if certificates.is_empty() {
        return Err(Error::configuration(
            field,
            format!(
                "{} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")",
                what(pem)
            ),
        ));
    }
    Ok(certificates)
}

/// Why a TLS handshake failed, if that is what `error` is: rustls's own description (an
/// untrusted or expired server certificate, a name mismatch, an alert from a server that
/// refused the client certificate). It never holds a secret.
pub(crate) fn tls_failure(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = next {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        // An I/O error's `source` skips the error it wraps: look inside it instead.
        next = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    None
}
