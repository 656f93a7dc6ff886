//! Interoperability with a real OAuth2 authorization server that nobody here wrote: panva's
//! `oidc-provider` (npm), installed by `interop/setup.sh` and started on a free loopback port by
//! each test. The server form-decodes `client_secret_basic` credentials as RFC 6749 2.3.1 says,
//! and its introspection endpoint (RFC 7662) tells whether it accepts a token it issued.
//!
//! The server is looked for in `interop/` beside this crate's manifest, or in the folder that env
//! `TOKENSOURCE_INTEROP` names (`TOKENSOURCE_INTEROP=1` keeps the usual folder). When it is not
//! installed, the first test installs it (`interop/setup.sh`, `npm ci` of the pinned version);
//! without node or npm the tests fail and say what to install. They never pass by skipping.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokensource_client_credentials::{AuthStyle, ClientCredentialsTokenSource};
use tokensource_core::{ErrorKind, TokenSource};
use tokensource_http::reqwest;

/// A secret with every character that RFC 6749 2.3.1's form-encoding must protect.
const SECRET: &str = "s3cr:t+%&= x";
const BASIC_CLIENT: &str = "tokensource-basic";
const POST_CLIENT: &str = "tokensource-post";
/// The resource indicator the server knows (see `interop/server.mjs`).
const RESOURCE: &str = "urn:tokensource:interop-api";

/// Installs the server into `dir` with `setup.sh` unless it is there already.
fn install(dir: &std::path::Path) -> Result<(), String> {
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

/// The running server; killed when dropped.
struct AuthorizationServer {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl AuthorizationServer {
    /// Starts the server, installing it first (`interop/setup.sh`, once per test run) when it
    /// is not installed yet.
    ///
    /// # Panics
    /// When node or npm is missing, or the installation fails: the test says what to install
    /// and never passes by skipping.
    fn start_or_fail(test: &str) -> AuthorizationServer {
        // TOKENSOURCE_INTEROP names a folder that holds server.mjs and node_modules (1, true or
        // yes keep the usual one).
        let dir = std::env::var_os("TOKENSOURCE_INTEROP")
            .filter(|v| !matches!(v.to_str(), Some("1" | "true" | "yes")))
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop"));
        static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
        let installed = INSTALLED.get_or_init(|| install(&dir));
        if let Err(why) = installed {
            panic!(
                "interop test {test}: {why}. Install node (20 or later) and npm (Debian/Ubuntu: \
                 `apt-get install nodejs npm`), then run \
                 crates/tokensource-client-credentials/interop/setup.sh, or let the test run it"
            );
        }
        AuthorizationServer::start(dir)
    }

    fn start(dir: PathBuf) -> AuthorizationServer {
        let mut child = Command::new("node")
            .arg("server.mjs")
            .current_dir(&dir)
            .env("INTEROP_CLIENT_SECRET", SECRET)
            .env("INTEROP_PORT", "0")
            // The server exits when its stdin closes: a test process that dies leaves nothing behind.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts");

        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err_pipe.read_to_string(&mut text);
            if let Ok(mut sink) = sink.lock() {
                sink.push_str(&text);
            }
        });

        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("listening ") {
                    let _ = sender.send(port.trim().parse::<u16>().ok());
                    return;
                }
            }
            let _ = sender.send(None);
        });
        let port = receiver
            .recv_timeout(Duration::from_secs(30))
            .ok()
            .flatten();
        let mut server = AuthorizationServer {
            child,
            port: 0,
            stderr,
        };
        match port {
            Some(port) => server.port = port,
            None => {
                let _ = server.child.kill();
                let _ = server.child.wait();
                panic!("the interop server did not start: {}", server.stderr_text());
            }
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// RFC 7662 introspection of `token`, authenticated as the Basic client.
    async fn introspect(&self, token: &str) -> serde_json::Value {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .finish();
        let reply = reqwest::Client::new()
            .post(self.url("/oauth/v2/introspect"))
            .header("authorization", rfc6749_basic(BASIC_CLIENT, SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .expect("introspection answers");
        assert_eq!(reply.status(), 200, "introspection: {}", self.stderr_text());
        serde_json::from_slice(&reply.bytes().await.unwrap()).expect("introspection JSON")
    }
}

impl Drop for AuthorizationServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let _ = writeln!(
                std::io::stderr(),
                "interop server stderr:\n{}",
                self.stderr_text()
            );
        }
    }
}

/// `Basic` credentials as RFC 6749 2.3.1 wants them, built here independently of oauth2.
fn rfc6749_basic(id: &str, secret: &str) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(id), encode(secret)))
    )
}

#[tokio::test]
async fn basic_auth_with_a_special_character_secret_yields_an_active_token() {
    let server = AuthorizationServer::start_or_fail("basic_auth");
    let source =
        ClientCredentialsTokenSource::builder(server.url("/oauth/v2/token"), BASIC_CLIENT, SECRET)
            .scopes(["api:read"])
            .auth_style(AuthStyle::Basic)
            .build()
            .unwrap();
    let token = match source.token().await {
        Ok(token) => token,
        Err(error) => panic!("{error}; server said: {}", server.stderr_text()),
    };
    assert_eq!(token.token_type(), "Bearer");
    assert_eq!(token.lifetime(), Some(Duration::from_secs(600)));
    assert_eq!(token.scopes(), ["api:read"]);

    let introspection = server.introspect(token.expose_secret()).await;
    assert_eq!(introspection["active"], true, "{introspection}");
    assert_eq!(introspection["client_id"], BASIC_CLIENT, "{introspection}");
    assert_eq!(introspection["scope"], "api:read", "{introspection}");
    // And the check means something: a token the server did not issue is inactive.
    let forged = server.introspect("not-a-token-this-server-issued").await;
    assert_eq!(forged["active"], false, "{forged}");
}

#[tokio::test]
async fn the_server_is_strict_about_basic_encoding() {
    let server = AuthorizationServer::start_or_fail("strict_server");
    // Plain Basic (no form-encoding, as curl -u or reqwest's basic_auth would send it) is refused:
    // this server really decodes RFC 6749 2.3.1 credentials, so the success above is meaningful.
    let naive = format!(
        "Basic {}",
        STANDARD.encode(format!("{BASIC_CLIENT}:{SECRET}"))
    );
    let reply = reqwest::Client::new()
        .post(server.url("/oauth/v2/token"))
        .header("authorization", naive)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert!(
        matches!(reply.status().as_u16(), 400 | 401),
        "naive Basic got {}",
        reply.status()
    );
}

#[tokio::test]
async fn request_body_auth_with_a_resource_indicator() {
    let server = AuthorizationServer::start_or_fail("request_body");
    let source =
        ClientCredentialsTokenSource::builder(server.url("/oauth/v2/token"), POST_CLIENT, SECRET)
            .auth_style(AuthStyle::RequestBody)
            .extra_param("resource", RESOURCE)
            .build()
            .unwrap();
    let token = match source.token().await {
        Ok(token) => token,
        Err(error) => panic!("{error}; server said: {}", server.stderr_text()),
    };
    assert_eq!(token.lifetime(), Some(Duration::from_secs(600)));
    let introspection = server.introspect(token.expose_secret()).await;
    assert_eq!(introspection["active"], true, "{introspection}");
    assert_eq!(introspection["client_id"], POST_CLIENT, "{introspection}");
    assert_eq!(introspection["aud"], RESOURCE, "{introspection}");
}

#[tokio::test]
async fn wrong_credentials_are_rejected_with_the_servers_message() {
    let server = AuthorizationServer::start_or_fail("rejected");
    let token_url = server.url("/oauth/v2/token");
    let wrong_secret =
        ClientCredentialsTokenSource::builder(&token_url, BASIC_CLIENT, "s3cr:t+%&= y")
            .build()
            .unwrap();
    let error = wrong_secret.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected, "{error}");
    assert_eq!(error.status(), Some(401));
    assert!(
        error
            .provider_message()
            .is_some_and(|m| m.starts_with("invalid_client")),
        "{error}"
    );
    assert!(!error.to_string().contains("s3cr"), "{error}");

    // An unknown client is refused the same way.
    let unknown = ClientCredentialsTokenSource::builder(&token_url, "nobody", SECRET)
        .auth_style(AuthStyle::RequestBody)
        .build()
        .unwrap();
    let error = unknown.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected, "{error}");
    assert_eq!(error.status(), Some(401));
}

#[tokio::test]
async fn granted_scopes_come_from_the_server() {
    let server = AuthorizationServer::start_or_fail("granted_scopes");
    // oidc-provider grants the scopes the client may have and drops the rest.
    let source =
        ClientCredentialsTokenSource::builder(server.url("/oauth/v2/token"), BASIC_CLIENT, SECRET)
            .scopes(["api:write", "admin"])
            .build()
            .unwrap();
    let token = source.token().await.unwrap();
    assert_eq!(token.scopes(), ["api:write"]);
}
