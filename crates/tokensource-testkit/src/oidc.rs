//! A real OAuth2 authorization server nobody here wrote, for interoperability tests: panva's
//! `oidc-provider` (npm), run by node from a folder that holds its `server.mjs` and
//! `node_modules` (in this repository, `crates/tokensource-client-credentials/interop`, installed
//! by its `setup.sh`). [`OidcServer::start_or_fail`] installs it when needed (once per test
//! process) and starts it on a free loopback port; without node or npm it panics saying what to
//! install: these tests never pass by skipping.
//!
//! The server's clients (see its `server.mjs`): `tokensource-basic` (`client_secret_basic`),
//! `tokensource-post` (`client_secret_post`), `tokensource-rs256`, `tokensource-ps256` and
//! `tokensource-es256` (`private_key_jwt`; their private keys, made when the server starts, are
//! written to [`OidcServer::key_dir`]), `tokensource-hs256` (`client_secret_jwt`) and
//! `tokensource-mtls` (`tls_client_auth`, over the HTTPS listener that
//! [`OidcServer::start_tls_or_fail`] adds: a client certificate of a [`TestPki`] whose subject is
//! `CN=tokensource-test-client`).

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

use crate::tls::TestPki;

/// The running server; killed when dropped (it also exits when this process does: it ends when
/// its standard input closes).
pub struct OidcServer {
    child: Child,
    port: u16,
    tls_port: Option<u16>,
    stderr: Arc<Mutex<String>>,
    key_dir: PathBuf,
}

impl OidcServer {
    /// Starts the server from `dir` with `secret` as the secret of its secret-based clients,
    /// installing it first (`setup.sh` in `dir`, once per process) when it is not installed.
    ///
    /// # Panics
    /// When node or npm is missing, the installation fails or the server does not start: the
    /// message says what to install.
    pub fn start_or_fail(test: &str, dir: &Path, secret: &str) -> OidcServer {
        OidcServer::start_with(test, dir, secret, None)
    }

    /// Like [`start_or_fail`](OidcServer::start_or_fail), with an HTTPS listener as well
    /// ([`tls_url`](OidcServer::tls_url)): `pki`'s server certificate, and every client asked
    /// for a certificate, which the `tokensource-mtls` client must present (signed by `pki`'s
    /// CA, with `pki`'s client subject). Clients without one still connect (the provider, not
    /// the handshake, refuses them).
    ///
    /// # Panics
    /// As [`start_or_fail`](OidcServer::start_or_fail).
    pub fn start_tls_or_fail(test: &str, dir: &Path, secret: &str, pki: &TestPki) -> OidcServer {
        OidcServer::start_with(test, dir, secret, Some(pki.dir()))
    }

    fn start_with(test: &str, dir: &Path, secret: &str, tls_dir: Option<&Path>) -> OidcServer {
        static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
        if let Err(why) = INSTALLED.get_or_init(|| install(dir)) {
            panic!(
                "interop test {test}: {why}. Install node (20 or later) and npm (Debian/Ubuntu: \
                 `apt-get install nodejs npm`), then run {}/setup.sh, or let the test run it",
                dir.display()
            );
        }
        OidcServer::start(dir, secret, tls_dir)
    }

    fn start(dir: &Path, secret: &str, tls_dir: Option<&Path>) -> OidcServer {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let key_dir = std::env::temp_dir().join(format!(
            "tokensource-oidc-keys-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&key_dir).expect("a key folder");
        let mut command = Command::new("node");
        if let Some(tls_dir) = tls_dir {
            command.env("INTEROP_TLS_DIR", tls_dir);
        }
        let mut child = command
            .arg("server.mjs")
            .current_dir(dir)
            .env("INTEROP_CLIENT_SECRET", secret)
            .env("INTEROP_PORT", "0")
            .env("INTEROP_KEY_DIR", &key_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts");

        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                if let Ok(mut sink) = sink.lock() {
                    sink.push_str(&String::from_utf8_lossy(&chunk[..n]));
                }
            }
        });

        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tls_port = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("listening-tls ") {
                    tls_port = port.trim().parse::<u16>().ok();
                } else if let Some(port) = line.strip_prefix("listening ") {
                    let _ = sender.send(port.trim().parse::<u16>().ok().map(|p| (p, tls_port)));
                    return;
                }
            }
            let _ = sender.send(None);
        });
        let ports = receiver
            .recv_timeout(Duration::from_secs(30))
            .ok()
            .flatten();
        let mut server = OidcServer {
            child,
            port: 0,
            tls_port: None,
            stderr,
            key_dir,
        };
        match ports {
            Some((port, tls_port)) if tls_port.is_some() || tls_dir.is_none() => {
                server.port = port;
                server.tls_port = tls_port;
            }
            _ => {
                let _ = server.child.kill();
                let _ = server.child.wait();
                panic!("the interop server did not start: {}", server.stderr_text());
            }
        }
        server
    }

    /// The URL of `path` on the server (`http://127.0.0.1:PORT/...`).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The URL of `path` on the HTTPS listener (`https://localhost:PORT/...`).
    ///
    /// # Panics
    /// For a server started without TLS.
    pub fn tls_url(&self, path: &str) -> String {
        let port = self
            .tls_port
            .expect("a server started with start_tls_or_fail");
        format!("https://localhost:{port}{path}")
    }

    /// The server's issuer identifier.
    pub fn issuer(&self) -> &'static str {
        "http://127.0.0.1"
    }

    /// The folder holding the private keys of the `private_key_jwt` clients: `rs256.pem`
    /// (PKCS#1), `ps256.pem` (PKCS#8), `es256.pem` (SEC1) and `es256-pkcs8.pem` (PKCS#8).
    pub fn key_dir(&self) -> &Path {
        &self.key_dir
    }

    /// What the server wrote to stderr so far (its error details).
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for OidcServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.key_dir);
        if std::thread::panicking() {
            let _ = writeln!(
                std::io::stderr(),
                "interop server stderr:\n{}",
                self.stderr_text()
            );
        }
    }
}

impl fmt::Debug for OidcServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcServer")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Installs the server into `dir` with its `setup.sh` unless it is there already.
fn install(dir: &Path) -> Result<(), String> {
    let works = |program: &str| {
        Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !works("node") {
        return Err("node is not on PATH".to_owned());
    }
    if dir
        .join("node_modules/oidc-provider/package.json")
        .is_file()
    {
        return Ok(());
    }
    if !works("npm") {
        return Err(format!(
            "oidc-provider is not installed in {} and npm is not on PATH to install it",
            dir.display()
        ));
    }
    let output = Command::new("bash")
        .arg(dir.join("setup.sh"))
        .output()
        .map_err(|e| format!("cannot run setup.sh: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "setup.sh failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
