//! The transport keys through the binary: a private CA (`ca_file`), a server that requires a
//! client certificate (`client_cert_file`, `client_key_file`), and `proxy` against a CONNECT
//! proxy that counts its tunnels, with the proxy environment variables set around the run.

use tokensource_testkit::proxy::ConnectProxy;
use tokensource_testkit::tls::{ClientAuth, TestPki, TlsFront};
use tokensource_testkit::{MockServer, OAuth2Mock};

use crate::support::{CLIENT_ID, SECRET, Setup, oauth2_profile};

/// The proxy variables a run could inherit from the machine: removed unless a test sets them.
const PROXY_VARIABLES: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

struct Https {
    pki: TestPki,
    server: MockServer,
    front: TlsFront,
}

async fn https(client_auth: ClientAuth) -> Https {
    let pki = TestPki::new();
    let server = MockServer::oauth2(OAuth2Mock::new(CLIENT_ID, SECRET))
        .start()
        .await;
    let front = TlsFront::start(&pki, server.address(), client_auth);
    Https { pki, server, front }
}

/// A setup whose one profile `p` asks `https` for tokens, with `extra` lines, and the test CA
/// copied beside the configuration as `ca.pem` (so `ca_file = "ca.pem"` is a relative path).
fn setup(https: &Https, extra: &str) -> Setup {
    let mut setup = Setup::new(&oauth2_profile(
        "p",
        &https.front.url("/oauth/v2/token"),
        extra,
    ));
    for variable in PROXY_VARIABLES {
        setup.unset_env(variable);
    }
    std::fs::copy(https.pki.ca_file(), setup.dir().join("ca.pem")).unwrap();
    std::fs::copy(https.pki.client_cert_file(), setup.dir().join("client.pem")).unwrap();
    std::fs::copy(https.pki.client_key_file(), setup.dir().join("client.key")).unwrap();
    setup
}

#[tokio::test]
async fn a_private_ca_needs_ca_file() {
    let https = https(ClientAuth::None).await;
    let refused = setup(&https, "").token_now().await;
    let line = refused.failure(4, &[]);
    assert!(line.contains("TLS handshake failed"), "{line}");
    assert_eq!(https.server.token_hits(), 0);

    let trusted = setup(&https, "ca_file = \"ca.pem\"").token_now().await;
    assert!(!trusted.success().trim().is_empty());
    assert_eq!(https.server.token_hits(), 1);
}

#[tokio::test]
async fn a_server_requiring_a_client_certificate() {
    let https = https(ClientAuth::Required).await;
    let without = setup(&https, "ca_file = \"ca.pem\"").token_now().await;
    let line = without.failure(4, &[]);
    assert!(line.contains("TLS handshake failed"), "{line}");

    let with = setup(
        &https,
        "ca_file = \"ca.pem\"\nclient_cert_file = \"client.pem\"\nclient_key_file = \"client.key\"",
    );
    with.token_now().await.success();
    assert_eq!(https.server.token_hits(), 1);
    assert_eq!(https.front.handshakes(), 1);
}

#[tokio::test]
async fn bad_transport_files_and_keys_are_configuration_errors() {
    let https = https(ClientAuth::None).await;
    std::fs::write(https.pki.dir().join("empty.pem"), "").unwrap();
    let cases = [
        ("ca_file = \"missing.pem\"", "profiles.p.ca_file"),
        ("ca_file = \"client.key\"", "profiles.p.ca_file"),
        (
            "client_cert_file = \"client.pem\"",
            "profiles.p.client_key_file",
        ),
        (
            "client_cert_file = \"client.pem\"\nclient_key_file = \"ca.pem\"",
            "profiles.p.client_key_file",
        ),
        (
            "client_cert_file = \"client.key\"\nclient_key_file = \"client.key\"",
            "profiles.p.client_cert_file",
        ),
        ("proxy = \"socks5://127.0.0.1:1080\"", "profiles.p.proxy"),
        ("proxy = \"sometimes\"", "profiles.p.proxy"),
    ];
    for (extra, field) in cases {
        let setup = setup(&https, extra);
        let run = setup.token_now().await;
        let line = run.failure(2, &[]);
        assert!(line.contains(field), "{extra}: {line}");
        let config = setup.config();
        let check = setup
            .run(&["check-config", "--config", config.to_str().unwrap()])
            .await;
        assert!(check.failure(2, &[]).contains(field), "{extra}: {check:?}");
    }
    assert_eq!(https.server.token_hits(), 0);
}

#[tokio::test]
async fn proxy_url_none_and_the_environment() {
    let https = https(ClientAuth::None).await;
    let proxy = ConnectProxy::start();
    let target = format!("localhost:{}", https.front.address().port());

    // proxy = URL: one tunnel per run, and NO_PROXY does not apply to it.
    let mut explicit = setup(
        &https,
        &format!("ca_file = \"ca.pem\"\nproxy = \"{}\"", proxy.url()),
    );
    explicit.set_env("NO_PROXY", "localhost,127.0.0.1");
    explicit.token_now().await.success();
    explicit.token_now().await.success();
    assert_eq!(proxy.tunnels(), vec![target.clone(), target.clone()]);

    // proxy = "none": HTTPS_PROXY is ignored.
    let mut none = setup(&https, "ca_file = \"ca.pem\"\nproxy = \"none\"");
    none.set_env("HTTPS_PROXY", &proxy.url());
    none.token_now().await.success();
    assert_eq!(proxy.tunnels().len(), 2);

    // The default follows HTTPS_PROXY (upper or lower case) ...
    for variable in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"] {
        let mut system = setup(&https, "ca_file = \"ca.pem\"");
        system.set_env(variable, &proxy.url());
        system.token_now().await.success();
    }
    assert_eq!(proxy.tunnels().len(), 5);
    // ... except for hosts in NO_PROXY.
    let mut bypass = setup(&https, "ca_file = \"ca.pem\"\nproxy = \"system\"");
    bypass.set_env("HTTPS_PROXY", &proxy.url());
    bypass.set_env("NO_PROXY", "example.com,localhost");
    bypass.token_now().await.success();
    assert_eq!(proxy.tunnels().len(), 5);
    assert_eq!(https.server.token_hits(), 7);
}
