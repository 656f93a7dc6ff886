//! Real TLS for tests: a certificate authority made at test time ([`TestPki`]), and an HTTPS
//! front ([`TlsFront`]) that terminates TLS on loopback and forwards the plaintext to any local
//! server, such as a [`MockServer`](crate::MockServer), optionally demanding a client certificate.
//!
//! Nothing is committed to the repository: every key and certificate is generated when a test
//! asks for it and written, as PEM, to a folder removed when the [`TestPki`] is dropped.
//!
//! ```
//! use tokensource_testkit::tls::{ClientAuth, TestPki, TlsFront};
//! use tokensource_testkit::{MockServer, OAuth2Mock};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let pki = TestPki::new();
//! let server = MockServer::oauth2(OAuth2Mock::new("client", "secret")).start().await;
//! let front = TlsFront::start(&pki, server.address(), ClientAuth::Required);
//! assert!(front.url("/oauth/v2/token").starts_with("https://localhost:"));
//!
//! // Trusting the test CA, and presenting the client certificate:
//! let ca = reqwest::Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap();
//! let identity = reqwest::Identity::from_pem(pki.client_identity_pem().as_bytes()).unwrap();
//! let client = reqwest::Client::builder()
//!     .tls_certs_only([ca])
//!     .identity(identity)
//!     .build()
//!     .unwrap();
//! let reply = client.get(front.url("/api/ping")).send().await.unwrap();
//! assert_eq!(reply.status(), 401); // through TLS to the mock's API, which wants a token
//! assert_eq!(front.handshakes(), 1);
//! # }
//! ```

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate authority made at test time, with a server certificate for `localhost`,
/// `127.0.0.1` and `::1`, and a client certificate, all written as PEM files to a private folder
/// that is removed on drop.
pub struct TestPki {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

/// The client certificate's common name.
pub const CLIENT_COMMON_NAME: &str = "tokensource-test-client";

impl TestPki {
    /// A new authority with its server and client certificates (ECDSA P-256), written to a new
    /// folder under the system's temporary folder.
    ///
    /// # Panics
    /// If a key cannot be generated or the folder cannot be written.
    pub fn new() -> TestPki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A name of its own, as two real authorities have: a certificate of another TestPki
        // is then one of an unknown issuer, not a forged signature of this one.
        static NEXT_CA: AtomicUsize = AtomicUsize::new(0);
        params.distinguished_name.push(
            DnType::CommonName,
            format!(
                "tokensource test CA {}-{}",
                std::process::id(),
                NEXT_CA.fetch_add(1, Ordering::Relaxed)
            ),
        );
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("a CA key");
        let ca_cert = params.self_signed(&ca_key).expect("a CA certificate");
        let issuer = Issuer::new(params, ca_key);

        let (server_cert_pem, server_key_pem) = issue(
            &issuer,
            "localhost",
            &["localhost", "127.0.0.1", "::1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert_pem, client_key_pem) = issue(
            &issuer,
            CLIENT_COMMON_NAME,
            &[CLIENT_COMMON_NAME],
            ExtendedKeyUsagePurpose::ClientAuth,
        );

        let dir = private_dir();
        let pki = TestPki {
            dir,
            issuer,
            ca_pem: ca_cert.pem(),
            server_cert_pem,
            server_key_pem,
            client_cert_pem,
            client_key_pem,
        };
        pki.write("ca.pem", &pki.ca_pem);
        pki.write("server.pem", &pki.server_cert_pem);
        pki.write("server.key", &pki.server_key_pem);
        pki.write("client.pem", &pki.client_cert_pem);
        pki.write("client.key", &pki.client_key_pem);
        pki.write("client-identity.pem", &pki.client_identity_pem());
        pki
    }

    /// Writes `contents` to `name` in the folder (mode 0600 on Unix) and returns its path.
    ///
    /// # Panics
    /// If the file cannot be written.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        path
    }

    /// The folder holding the PEM files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The authority's certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// `ca.pem`: the authority's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// `server.pem`: the server certificate (for `localhost`, `127.0.0.1`, `::1`).
    pub fn server_cert_file(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    /// `server.key`: the server certificate's private key (PKCS#8).
    pub fn server_key_file(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// `client.pem`: the client certificate (common name [`CLIENT_COMMON_NAME`]).
    pub fn client_cert_file(&self) -> PathBuf {
        self.dir.join("client.pem")
    }

    /// `client.key`: the client certificate's private key (PKCS#8).
    pub fn client_key_file(&self) -> PathBuf {
        self.dir.join("client.key")
    }

    /// The client certificate followed by its key, PEM (what `reqwest::Identity::from_pem` reads).
    pub fn client_identity_pem(&self) -> String {
        format!("{}{}", self.client_cert_pem, self.client_key_pem)
    }

    /// `client-identity.pem`: the client certificate and its key in one file.
    pub fn client_identity_file(&self) -> PathBuf {
        self.dir.join("client-identity.pem")
    }

    /// Issues another client certificate with common name `name`: (certificate PEM, key PEM).
    pub fn issue_client(&self, name: &str) -> (String, String) {
        issue(
            &self.issuer,
            name,
            &[name],
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    /// A rustls server configuration with the server certificate, asking for client
    /// certificates as `client_auth` says.
    pub fn server_config(&self, client_auth: ClientAuth) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = match client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Required => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
                    roots.add(cert.expect("CA PEM")).expect("CA certificate");
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.server_cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .expect("server certificate PEM");
        let key =
            PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).expect("server key PEM");
        builder
            .with_single_cert(chain, key)
            .expect("server certificate and key")
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl fmt::Debug for TestPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPki")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// A certificate for `names` signed by `issuer`: (certificate PEM, PKCS#8 key PEM).
fn issue(
    issuer: &Issuer<'static, KeyPair>,
    common_name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names).expect("certificate names");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("a key");
    let cert = params.signed_by(&key, issuer).expect("a certificate");
    (cert.pem(), key.serialize_pem())
}

/// A new folder only this user can read.
fn private_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tokensource-pki-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    dir
}

/// Whether a [`TlsFront`] asks clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// A client certificate signed by the test CA is required; handshakes without one fail.
    Required,
}

/// An HTTPS front on `localhost`: terminates TLS with the [`TestPki`]'s server certificate and
/// forwards the plaintext, both ways, to `upstream` (a [`MockServer`](crate::MockServer), a
/// [`RawServer`](crate::raw::RawServer), anything on TCP).
///
/// It runs on a thread of its own (so it works under any runtime, paused clocks included) and
/// stops when dropped. It counts the handshakes that succeeded and those that failed.
pub struct TlsFront {
    address: SocketAddr,
    shared: Arc<FrontShared>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

#[derive(Default)]
struct FrontShared {
    handshakes: AtomicUsize,
    failed_handshakes: AtomicUsize,
}

impl TlsFront {
    /// Starts a front on a free port of `127.0.0.1` forwarding to `upstream`.
    ///
    /// # Panics
    /// If no port can be bound or the thread cannot start.
    pub fn start(pki: &TestPki, upstream: SocketAddr, client_auth: ClientAuth) -> TlsFront {
        let config = Arc::new(pki.server_config(client_auth));
        let shared = Arc::new(FrontShared::default());
        let thread_shared = Arc::clone(&shared);
        let (address, stop) = crate::proxy::serve_on_thread("tls", move |listener, stopped| {
            serve(listener, config, upstream, thread_shared, stopped)
        });
        TlsFront {
            address,
            shared,
            _stop: stop,
        }
    }

    /// The socket address the front listens on (`127.0.0.1`).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The base URL, `https://localhost:PORT` (no trailing slash).
    pub fn uri(&self) -> String {
        format!("https://localhost:{}", self.address.port())
    }

    /// The URL of `path` (starting with `/`) on this front.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.uri())
    }

    /// How many TLS handshakes completed.
    pub fn handshakes(&self) -> usize {
        self.shared.handshakes.load(Ordering::SeqCst)
    }

    /// How many TLS handshakes failed (an untrusted server certificate on the client's side, a
    /// missing or refused client certificate).
    pub fn failed_handshakes(&self) -> usize {
        self.shared.failed_handshakes.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for TlsFront {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsFront")
            .field("address", &self.address)
            .field("handshakes", &self.handshakes())
            .finish_non_exhaustive()
    }
}

async fn serve(
    listener: std::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    upstream: SocketAddr,
    shared: Arc<FrontShared>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stop => return,
        };
        let Ok((client, _)) = accepted else { continue };
        let (acceptor, shared) = (acceptor.clone(), Arc::clone(&shared));
        tokio::spawn(async move {
            let _ = relay(acceptor, client, upstream, &shared).await;
        });
    }
}

async fn relay(
    acceptor: tokio_rustls::TlsAcceptor,
    client: tokio::net::TcpStream,
    upstream: SocketAddr,
    shared: &FrontShared,
) -> io::Result<()> {
    let mut tls = match acceptor.accept(client).await {
        Ok(tls) => tls,
        Err(error) => {
            shared.failed_handshakes.fetch_add(1, Ordering::SeqCst);
            return Err(error);
        }
    };
    shared.handshakes.fetch_add(1, Ordering::SeqCst);
    let mut server = tokio::net::TcpStream::connect(upstream).await?;
    tokio::io::copy_bidirectional(&mut tls, &mut server).await?;
    Ok(())
}
