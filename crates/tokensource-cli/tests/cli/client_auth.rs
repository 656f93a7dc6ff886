//! Client authentication without a shared secret through the binary, against the real OAuth2
//! server of the interoperability tests (panva's oidc-provider, whose private_key_jwt clients'
//! keys are made when it starts): a token with the client's key (exit 0), a key the server does
//! not know (exit 3, with the server's message), and a key file that cannot be used (exit 2).

use std::path::PathBuf;

use tokensource_testkit::oidc::OidcServer;

use crate::support::{SECRET, Setup};

fn server(test: &str) -> OidcServer {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tokensource-client-credentials/interop");
    OidcServer::start_or_fail(test, &dir, SECRET)
}

/// A setup whose profile `p` is the private_key_jwt client `tokensource-rs256` with `key` as
/// `keys/client.pem` beside the configuration.
fn setup(server: &OidcServer, key: &str) -> Setup {
    let setup = Setup::new(&format!(
        "[profiles.p]\nprovider = \"client-credentials\"\ntoken_url = \"{}\"\n\
         client_id = \"tokensource-rs256\"\nauth_style = \"private-key-jwt\"\n\
         private_key = {{ file = \"keys/client.pem\" }}\nkey_id = \"tokensource-rs256-key\"\n",
        server.url("/oauth/v2/token")
    ));
    std::fs::create_dir(setup.dir().join("keys")).unwrap();
    std::fs::write(setup.dir().join("keys/client.pem"), key).unwrap();
    setup
}

#[tokio::test]
async fn private_key_jwt_gets_a_token_and_a_wrong_key_is_exit_3() {
    let server = server("cli private_key_jwt");
    let key = std::fs::read_to_string(server.key_dir().join("rs256.pem")).unwrap();
    let ok = setup(&server, &key).token_now().await;
    assert!(!ok.success().trim().is_empty(), "{}", server.stderr_text());

    let stranger =
        rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            .unwrap()
            .serialize_pem();
    let refused = setup(&server, &stranger).token_now().await;
    let line = refused.failure(3, &[]);
    assert!(line.contains("invalid_client"), "{line}");
    assert!(!line.contains("PRIVATE KEY"), "{line}");
}

#[tokio::test]
async fn an_unusable_key_file_is_exit_2_naming_it() {
    let server = server("cli bad key");
    let run = setup(
        &server,
        "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    )
    .token_now()
    .await;
    let line = run.failure(2, &[]);
    assert!(line.contains("profiles.p.private_key"), "{line}");
}
