//! Client authentication without a shared secret through profiles: the keys of each style, their
//! errors named with the profile, `audience` and `resource` in the store key, and the Redis seal
//! key a profile without a secret needs.

use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use tokensource::ErrorKind;
use tokensource::config::{BuildOptions, Config, ProfileSettings, Registry};
use tokensource_testkit::tls::TestPki;

/// A folder with `keys/client.pem` (an EC key made now), `token` (an assertion) and the test
/// PKI's client certificate as `client.pem`/`client.key`.
struct Files {
    dir: tempfile::TempDir,
    _pki: TestPki,
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(dir.path().join("keys/client.pem"), key.serialize_pem()).unwrap();
    std::fs::write(dir.path().join("token"), "eyJ.assertion.sig\n").unwrap();
    let pki = TestPki::new();
    std::fs::copy(pki.client_cert_file(), dir.path().join("client.pem")).unwrap();
    std::fs::copy(pki.client_key_file(), dir.path().join("client.key")).unwrap();
    Files { dir, _pki: pki }
}

fn config(files: &Files, profiles: &str) -> Config {
    let path = files.dir.path().join("tokensource.toml");
    std::fs::write(&path, profiles).unwrap();
    Config::load(&path).unwrap()
}

const CC: &str = "provider = \"client-credentials\"\ntoken_url = \"https://auth.example.com/oauth2/token\"\nclient_id = \"c\"";

#[test]
fn each_style_builds_from_its_keys() {
    let files = files();
    let text = format!(
        "[profiles.key]\n{CC}\nauth_style = \"private-key-jwt\"\nprivate_key = {{ file = \"keys/client.pem\" }}\nkey_id = \"k1\"\nsigning_alg = \"ES256\"\nassertion_audience = \"https://auth.example.com/\"\n\
         [profiles.inferred]\n{CC}\nprivate_key = {{ file = \"keys/client.pem\" }}\n\
         [profiles.hmac]\n{CC}\nauth_style = \"client-secret-jwt\"\nclient_secret = \"s\"\n\
         [profiles.workload]\n{CC}\nauth_style = \"client-assertion\"\nclient_assertion = {{ file = \"token\" }}\naudience = \"https://api.example.com\"\nresource = [\"https://api.example.com/\", \"urn:x\"]\n\
         [profiles.mtls]\n{CC}\nauth_style = \"tls-client-auth\"\nclient_cert_file = \"client.pem\"\nclient_key_file = \"client.key\"\n"
    );
    let config = config(&files, &text);
    assert_eq!(config.check(Registry::builtins()).unwrap().len(), 5);
    for name in ["key", "inferred", "hmac", "workload", "mtls"] {
        config
            .build_with_options(
                name,
                Registry::builtins(),
                &BuildOptions::default().memory_only(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn wrong_keys_are_named_with_their_profile() {
    let files = files();
    let cases = [
        ("auth_style = \"private-key-jwt\"", "profiles.p.private_key"),
        (
            "private_key = { file = \"keys/missing.pem\" }",
            "profiles.p.private_key",
        ),
        (
            "private_key = { file = \"token\" }",
            "profiles.p.private_key",
        ),
        (
            "private_key = { file = \"keys/client.pem\" }\nsigning_alg = \"RS256\"",
            "profiles.p.signing_alg",
        ),
        (
            "private_key = { file = \"keys/client.pem\" }\nsigning_alg = \"none\"",
            "profiles.p.signing_alg",
        ),
        (
            "auth_style = \"jwt\"\nclient_secret = \"s\"",
            "profiles.p.auth_style",
        ),
        (
            "auth_style = \"client-assertion\"",
            "profiles.p.client_assertion",
        ),
        (
            "client_assertion = { file = \"nope\" }",
            "profiles.p.client_assertion",
        ),
        (
            "auth_style = \"tls-client-auth\"",
            "profiles.p.client_cert_file",
        ),
        ("client_secret = \"s\"\nkey_id = \"k\"", "profiles.p.key_id"),
        (
            "client_secret = \"s\"\nprivate_key = { file = \"keys/client.pem\" }",
            "profiles.p.client_secret",
        ),
        (
            "client_secret = \"s\"\nresource = \"https://a/\"",
            "profiles.p.resource",
        ),
        (
            "client_secret = \"s\"\nresource = [\"relative\"]",
            "profiles.p.resource",
        ),
        (
            "client_secret = \"s\"\naudience = \"a\"\nextra_params = { audience = \"b\" }",
            "profiles.p.audience",
        ),
    ];
    for (extra, field) in cases {
        let config = config(&files, &format!("[profiles.p]\n{CC}\n{extra}\n"));
        let error = config.check(Registry::builtins()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Configuration, "{extra}: {error}");
        assert!(error.to_string().contains(field), "{extra}: {error}");
    }
}

/// The store key of the client-credentials profile `extra` describes.
fn store_key(files: &Files, extra: &str) -> String {
    let table: toml::Table = format!("{CC}\nclient_secret = \"s\"\n{extra}")
        .parse()
        .unwrap();
    let settings = ProfileSettings::new("p", &table, Some(files.dir.path()));
    let provider = Registry::builtins()
        .get("client-credentials")
        .unwrap()
        .build(&settings)
        .unwrap();
    let (.., identity) = provider.into_parts();
    identity.unwrap().store_key()
}

#[test]
fn audience_and_resource_are_part_of_the_store_key() {
    let files = files();
    let plain = store_key(&files, "");
    let audience = store_key(&files, "audience = \"https://a\"");
    let other_audience = store_key(&files, "audience = \"https://b\"");
    let resource = store_key(&files, "resource = [\"https://a/\"]");
    let two = store_key(&files, "resource = [\"https://a/\", \"https://b/\"]");
    let keys = [&plain, &audience, &other_audience, &resource, &two];
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[i + 1..] {
            assert_ne!(a, b);
        }
    }
    // The same request made two ways shares its tokens.
    assert_eq!(
        store_key(&files, "extra_params = { audience = \"https://a\" }"),
        audience
    );
    assert_eq!(
        store_key(&files, "resource = [\"https://b/\", \"https://a/\"]"),
        two,
        "resource order does not matter"
    );
}

#[test]
fn a_redis_store_needs_a_seal_key_without_a_secret_or_private_key() {
    let files = files();
    let store = "[profiles.p.store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:1\"";
    let assertion =
        format!("[profiles.p]\n{CC}\nclient_assertion = {{ file = \"token\" }}\n{store}\n");
    let error = config(&files, &assertion)
        .check(Registry::builtins())
        .unwrap_err();
    assert!(
        error.to_string().contains("profiles.p.store.seal_key"),
        "{error}"
    );
    let with_seal = format!("{assertion}seal_key = \"a seal\"\n");
    config(&files, &with_seal)
        .check(Registry::builtins())
        .unwrap();
    // A private key seals the tokens itself.
    let key =
        format!("[profiles.p]\n{CC}\nprivate_key = {{ file = \"keys/client.pem\" }}\n{store}\n");
    config(&files, &key).check(Registry::builtins()).unwrap();
}
