//! The transport and rotating secrets: a client key given as PEM text, a proxy password, secret
//! files that change or break, and the errors of each, never show a secret.

use std::time::Duration;

use tokensource::client_credentials::ClientCredentialsTokenSource;
use tokensource::{HttpOptions, Proxy, SecretSource, TokenSource};
use tokensource_testkit::tls::{ClientAuth, TestPki, TlsFront};
use tokensource_testkit::{MockServer, OAuth2Mock};

use crate::sentinel::{CLIENT_ID, SECRET, Seen, form_encoded_secret};

#[tokio::test]
async fn transport_settings_and_their_errors() {
    let mut seen = Seen::new("transport");
    let pki = TestPki::new();
    let (cert, key) = pki.issue_client("hygiene");
    // A key PEM the test marks: its base64 body must never be printed.
    let key_body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    seen.forbid(key_body[..24].to_owned());

    let proxy: Proxy = format!("http://user:{}@proxy.internal:3128", form_encoded_secret())
        .parse()
        .unwrap();
    seen.debug("proxy", &proxy);
    let options = HttpOptions::default()
        .with_proxy(proxy)
        .with_client_identity_pem(cert.clone(), key.clone())
        .with_ca_pem(pki.ca_pem());
    seen.debug("options", &options);

    // Bad proxy values quote nothing.
    for bad in [
        format!("ftp://u:{SECRET}@h"),
        SECRET.to_owned(),
        format!("http://u:{SECRET}@"),
    ] {
        seen.token_error("bad proxy", &bad.parse::<Proxy>().unwrap_err());
    }
    // A key that is not a key, holding the secret: the error names the setting only.
    let broken = HttpOptions::default().with_client_identity_pem(
        cert,
        format!("-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n"),
    );
    let error = ClientCredentialsTokenSource::builder("https://localhost:1/t", CLIENT_ID, SECRET)
        .http_options(broken)
        .build()
        .unwrap_err();
    seen.token_error("bad client key", &error);

    // A TLS failure at request time.
    let server = MockServer::oauth2(OAuth2Mock::new(CLIENT_ID, SECRET))
        .start()
        .await;
    let front = TlsFront::start(&pki, server.address(), ClientAuth::Required);
    let source =
        ClientCredentialsTokenSource::builder(front.url("/oauth/v2/token"), CLIENT_ID, SECRET)
            .http_options(
                options
                    .with_proxy(Proxy::None)
                    .with_timeout(Duration::from_secs(5)),
            )
            .build()
            .unwrap();
    seen.debug("source", &source);
    let wrong_ca =
        ClientCredentialsTokenSource::builder(front.url("/oauth/v2/token"), CLIENT_ID, SECRET)
            .http_options(HttpOptions::default().with_proxy(Proxy::None))
            .build()
            .unwrap();
    seen.token_error("untrusted server", &wrong_ca.token().await.unwrap_err());
    let token = source.token().await.unwrap();
    seen.forbid(token.expose_secret().to_owned());
    seen.check();
}

#[tokio::test]
async fn secret_files_that_change_or_break() {
    let mut seen = Seen::new("secret files");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, format!("{SECRET}\n")).unwrap();
    let fixed = SecretSource::from(SECRET);
    seen.debug("fixed secret", &fixed);
    let file = SecretSource::file(&path);
    seen.debug("file secret", &file);

    let server = MockServer::oauth2(OAuth2Mock::new(CLIENT_ID, SECRET))
        .start()
        .await;
    let source = ClientCredentialsTokenSource::builder(server.token_url(), CLIENT_ID, file.clone())
        .build()
        .unwrap();
    let token = source.token().await.unwrap();
    seen.forbid(token.expose_secret().to_owned());
    seen.debug("source with a file secret", &source);

    // The file now holds the secret with a control character, then bytes that are not UTF-8,
    // then nothing, then it is gone: each fetch fails, and no message quotes the file.
    std::fs::write(&path, format!("{SECRET}\u{7}x")).unwrap();
    seen.token_error("control character", &source.token().await.unwrap_err());
    let mut bytes = SECRET.as_bytes().to_vec();
    bytes.push(0xff);
    std::fs::write(&path, bytes).unwrap();
    seen.token_error("not UTF-8", &source.token().await.unwrap_err());
    std::fs::write(&path, "").unwrap();
    seen.token_error("empty", &source.token().await.unwrap_err());
    std::fs::remove_file(&path).unwrap();
    seen.token_error("missing", &source.token().await.unwrap_err());
    seen.token_error("read", &file.read().unwrap_err());
    seen.check();
}
