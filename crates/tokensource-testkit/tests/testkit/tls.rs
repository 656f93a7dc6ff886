//! The TLS front and the CONNECT proxy: what they refuse, and what they count.

use tokensource_testkit::proxy::ConnectProxy;
use tokensource_testkit::tls::{ClientAuth, TestPki, TlsFront};
use tokensource_testkit::{MockServer, OAuth2Mock};

fn trusting(pki: &TestPki) -> reqwest::ClientBuilder {
    let ca = reqwest::Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap();
    reqwest::Client::builder().no_proxy().tls_certs_only([ca])
}

#[tokio::test]
async fn an_untrusted_server_certificate_fails_the_handshake() {
    let pki = TestPki::new();
    let server = MockServer::oauth2(OAuth2Mock::new("c", "s")).start().await;
    let front = TlsFront::start(&pki, server.address(), ClientAuth::None);

    let other = TestPki::new();
    let error = trusting(&other)
        .build()
        .unwrap()
        .get(front.url("/api/ping"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    let ok = trusting(&pki)
        .build()
        .unwrap()
        .get(front.url("/api/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 401);
    assert_eq!(front.handshakes(), 1);
    assert_eq!(server.api_hits(), 1);
}

#[tokio::test]
async fn a_required_client_certificate_is_checked() {
    let pki = TestPki::new();
    let server = MockServer::oauth2(OAuth2Mock::new("c", "s")).start().await;
    let front = TlsFront::start(&pki, server.address(), ClientAuth::Required);

    let without = trusting(&pki)
        .build()
        .unwrap()
        .get(front.url("/api/ping"))
        .send()
        .await;
    assert!(without.is_err(), "{without:?}");

    // A certificate from another authority is refused too.
    let other = TestPki::new();
    let stranger = reqwest::Identity::from_pem(other.client_identity_pem().as_bytes()).unwrap();
    let refused = trusting(&pki)
        .identity(stranger)
        .build()
        .unwrap()
        .get(front.url("/api/ping"))
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");

    let identity = reqwest::Identity::from_pem(pki.client_identity_pem().as_bytes()).unwrap();
    let ok = trusting(&pki)
        .identity(identity)
        .build()
        .unwrap()
        .get(front.url("/api/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 401);
    assert_eq!((front.handshakes(), server.api_hits()), (1, 1));
    assert!(
        front.failed_handshakes() >= 2,
        "{}",
        front.failed_handshakes()
    );
}

#[tokio::test]
async fn the_proxy_records_tunnels_and_refuses_other_requests() {
    let proxy = ConnectProxy::start();
    let server = MockServer::oauth2(OAuth2Mock::new("c", "s")).start().await;
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(proxy.url()).unwrap())
        .build()
        .unwrap();
    // Plain http through a proxy is sent in absolute form, not tunnelled.
    let reply = client.get(server.api_url()).send().await.unwrap();
    assert_eq!(reply.status(), 502);
    assert_eq!(proxy.other_requests().len(), 1);
    assert!(proxy.tunnels().is_empty());
    assert_eq!(server.api_hits(), 0);
}
