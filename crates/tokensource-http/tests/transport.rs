//! The transport over real TLS made at test time: a private CA, a server that requires a client
//! certificate, a CONNECT proxy, files changed between requests, and a caller's own client
//! builder that still follows the rules.

use std::time::Duration;

use tokensource_core::ErrorKind;
use tokensource_http::{HttpOptions, Proxy, TokenEndpoint};
use tokensource_testkit::proxy::ConnectProxy;
use tokensource_testkit::tls::{ClientAuth, TestPki, TlsFront};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A plaintext server answering every request `200 {}`, and its request count.
async fn upstream() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&server)
        .await;
    server
}

fn options() -> HttpOptions {
    HttpOptions::default()
        .with_timeout(Duration::from_secs(5))
        .with_proxy(Proxy::None)
}

async fn fetch(url: &str, options: HttpOptions) -> Result<u16, tokensource_core::Error> {
    let endpoint = TokenEndpoint::new("test", url, options)?;
    let reply = endpoint.send(endpoint.post().body("grant_type=x")).await?;
    Ok(reply.status().as_u16())
}

#[tokio::test]
async fn a_private_ca_is_refused_by_default_and_trusted_with_ca_file() {
    let pki = TestPki::new();
    let server = upstream().await;
    let front = TlsFront::start(&pki, *server.address(), ClientAuth::None);
    let url = front.url("/token");

    let refused = fetch(&url, options()).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unavailable, "{refused}");
    assert!(
        refused.to_string().contains("TLS handshake failed"),
        "{refused}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());

    assert_eq!(
        fetch(&url, options().with_ca_file(pki.ca_file()))
            .await
            .unwrap(),
        200
    );
    assert_eq!(
        fetch(&url, options().with_ca_pem(pki.ca_pem()))
            .await
            .unwrap(),
        200
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_server_requiring_a_client_certificate_gets_one_only_when_configured() {
    let pki = TestPki::new();
    let server = upstream().await;
    let front = TlsFront::start(&pki, *server.address(), ClientAuth::Required);
    let url = front.url("/token");
    let trusting = || options().with_ca_file(pki.ca_file());

    let refused = fetch(&url, trusting()).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unavailable, "{refused}");
    assert!(
        refused.to_string().contains("TLS handshake failed"),
        "{refused}"
    );

    let with_files =
        trusting().with_client_identity_files(pki.client_cert_file(), pki.client_key_file());
    assert_eq!(fetch(&url, with_files).await.unwrap(), 200);
    // Certificate and key in one file.
    let one_file = trusting()
        .with_client_identity_files(pki.client_identity_file(), pki.client_identity_file());
    assert_eq!(fetch(&url, one_file).await.unwrap(), 200);
    let (cert, key) = pki.issue_client("in-memory");
    assert_eq!(
        fetch(&url, trusting().with_client_identity_pem(cert, key))
            .await
            .unwrap(),
        200
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    assert_eq!(front.handshakes(), 3);
}

#[tokio::test]
async fn a_proxy_url_carries_exactly_one_tunnel_per_request() {
    let pki = TestPki::new();
    let server = upstream().await;
    let front = TlsFront::start(&pki, *server.address(), ClientAuth::None);
    let proxy = ConnectProxy::start();
    let endpoint = TokenEndpoint::new(
        "test",
        &front.url("/token"),
        options()
            .with_ca_file(pki.ca_file())
            .with_proxy(proxy.url().parse().unwrap()),
    )
    .unwrap();
    for round in 1..=3 {
        let reply = endpoint.send(endpoint.post()).await.unwrap();
        assert_eq!(reply.status(), 200);
        assert_eq!(proxy.tunnels().len(), round);
    }
    let target = format!("localhost:{}", front.address().port());
    assert!(
        proxy.tunnels().iter().all(|t| *t == target),
        "{:?}",
        proxy.tunnels()
    );

    // Without the proxy setting, nothing goes through it.
    assert_eq!(
        fetch(&front.url("/token"), options().with_ca_file(pki.ca_file()))
            .await
            .unwrap(),
        200
    );
    assert_eq!(proxy.tunnels().len(), 3);
}

#[tokio::test]
async fn certificate_files_are_read_again_before_each_request() {
    let pki = TestPki::new();
    let server = upstream().await;
    let front = TlsFront::start(&pki, *server.address(), ClientAuth::Required);
    let ca = pki.write("rotating-ca.pem", pki.ca_pem());
    let cert = pki.write(
        "rotating-client.pem",
        &std::fs::read_to_string(pki.client_cert_file()).unwrap(),
    );
    let key = pki.write(
        "rotating-client.key",
        &std::fs::read_to_string(pki.client_key_file()).unwrap(),
    );
    let endpoint = TokenEndpoint::new(
        "test",
        &front.url("/token"),
        options()
            .with_ca_file(&ca)
            .with_client_identity_files(&cert, &key),
    )
    .unwrap();
    assert_eq!(endpoint.send(endpoint.post()).await.unwrap().status(), 200);

    // A client certificate from another authority: the server refuses it at the next request.
    let stranger = TestPki::new();
    std::fs::copy(stranger.client_cert_file(), &cert).unwrap();
    std::fs::copy(stranger.client_key_file(), &key).unwrap();
    let refused = endpoint.send(endpoint.post()).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unavailable, "{refused}");

    // A new certificate of the right authority: accepted, without a new endpoint.
    let (new_cert, new_key) = pki.issue_client("renewed");
    std::fs::write(&cert, new_cert).unwrap();
    std::fs::write(&key, new_key).unwrap();
    assert_eq!(endpoint.send(endpoint.post()).await.unwrap().status(), 200);

    // A file that became unreadable fails the request, naming the setting.
    std::fs::remove_file(&ca).unwrap();
    let missing = endpoint.send(endpoint.post()).await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::Configuration, "{missing}");
    assert_eq!(missing.field(), Some("ca_file"));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn bad_files_are_configuration_errors_naming_the_setting() {
    let pki = TestPki::new();
    let url = "https://localhost:1/token";
    let garbage = pki.write("garbage.pem", "not a certificate\n");
    let key_only = pki.client_key_file();
    let cases = [
        (
            options().with_ca_file(pki.dir().join("missing.pem")),
            "ca_file",
        ),
        (options().with_ca_file(&garbage), "ca_file"),
        (options().with_ca_file(&key_only), "ca_file"),
        (
            options().with_client_identity_files(&garbage, pki.client_key_file()),
            "client_cert_file",
        ),
        (
            options().with_client_identity_files(pki.client_cert_file(), &garbage),
            "client_key_file",
        ),
        (
            options().with_client_identity_files(pki.client_cert_file(), pki.dir().join("nope")),
            "client_key_file",
        ),
    ];
    for (options, field) in cases {
        let error = TokenEndpoint::new("test", url, options).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Configuration, "{error}");
        assert_eq!(error.field(), Some(field), "{error}");
        assert!(!error.to_string().contains("PRIVATE KEY-----\n"), "{error}");
    }
}

#[tokio::test]
async fn a_callers_client_builder_still_follows_no_redirects_and_the_timeout() {
    let elsewhere = upstream().await;
    let redirecting = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/steal", elsewhere.uri())),
        )
        .mount(&redirecting)
        .await;
    let generous = || {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(10))
            .timeout(Duration::from_secs(3600))
    };
    let options = options()
        .with_client_builder(generous)
        .with_timeout(Duration::from_millis(500));
    let endpoint = TokenEndpoint::new(
        "test",
        &format!("{}/token", redirecting.uri()),
        options.clone(),
    )
    .unwrap();
    let reply = endpoint.send(endpoint.post()).await.unwrap();
    assert_eq!(reply.status(), 307, "the redirect was followed");
    let error = reply.error_for_status(|_| None).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidResponse, "{error}");
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the redirect was followed"
    );

    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&slow)
        .await;
    let error = fetch(&format!("{}/token", slow.uri()), options)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
}
