//! Configuration end to end: TOML profiles for each provider against the test kit's mock servers.

use std::time::Duration;

use tokensource::config::{Config, Provider, Registry};
use tokensource::{ErrorKind, StaticTokenSource, Token};
use tokensource_testkit::{MockServer, NoyoMock, OAuth2Mock, YouniumMock};

mod client_auth;
mod rotation;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("tokensource-config-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn one_program_three_providers() {
    let younium = MockServer::younium(
        YouniumMock::new("y-client", "y-secret").require_legal_entity("Acme AB"),
    )
    .start()
    .await;
    let partner = MockServer::oauth2(
        OAuth2Mock::new("p-client", "p:ss+w%rd &").allowed_scopes(["read", "write"]),
    )
    .start()
    .await;
    let noyo = MockServer::noyo(NoyoMock::new("n-client", "n-secret"))
        .start()
        .await;

    let dir = temp_dir("three");
    std::fs::write(dir.join("noyo.txt"), "n-secret\n").unwrap();
    let text = format!(
        r#"
default_profile = "younium"

[profiles.younium]
provider = "younium"
client_id = "y-client"
secret = "y-secret"
token_url = "{younium_url}"
legal_entity = "Acme AB"
api_version = "2.1"

[profiles.partner]
provider = "client-credentials"
token_url = "{partner_url}"
client_id = "p-client"
client_secret = "p:ss+w%rd &"
scopes = ["read", "write"]
timeout_secs = 5
refresh_margin_secs = 30

[profiles.noyo]
provider = "noyo"
client_id = "n-client"
client_secret = {{ file = "noyo.txt" }}
token_url = "{noyo_url}"
"#,
        younium_url = younium.token_url(),
        partner_url = partner.token_url(),
        noyo_url = noyo.token_url(),
    );
    let path = dir.join("tokensource.toml");
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path).unwrap();
    assert_eq!(
        config.check(&Registry::with_builtins()).unwrap(),
        ["noyo", "partner", "younium"]
    );

    for (name, server) in [
        ("younium", &younium),
        ("partner", &partner),
        ("noyo", &noyo),
    ] {
        let profile = config.build(name).unwrap();
        let source = profile.source();
        let first = source.token().await.unwrap();
        for _ in 0..10 {
            assert!(source.token().await.unwrap().same_secret(&first), "{name}");
        }
        assert_eq!(server.token_hits(), 1, "{name}: one fetch, then the cache");
    }

    let profile = config.build(config.select_profile(None).unwrap()).unwrap();
    assert_eq!(profile.provider(), "younium");
    let headers = profile.headers();
    assert_eq!(headers["legal-entity"], "Acme AB");
    assert_eq!(headers["api-version"], "2.1");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn wrong_secret_is_a_rejection_with_the_providers_message() {
    let server = MockServer::younium(YouniumMock::new("id", "right"))
        .start()
        .await;
    let config = Config::from_toml(&format!(
        "[profiles.y]\nprovider = \"younium\"\nclient_id = \"id\"\nsecret = \"wrong\"\ntoken_url = \"{}\"\n",
        server.token_url()
    ))
    .unwrap();
    let error = config
        .build("y")
        .unwrap()
        .source()
        .token()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
    assert!(error.provider_message().is_some());
    assert!(!error.to_string().contains("wrong"));
}

#[test]
fn config_errors_name_the_profile_and_field() {
    let cases = [
        (
            "[profiles.y]\nprovider = \"younium\"\nclient_id = \"id\"\nsecret = \"s\"\nenvironment = \"mars\"\n",
            "profiles.y.environment",
        ),
        (
            "[profiles.p]\nprovider = \"client-credentials\"\ntoken_url = \"http://auth.example.com/token\"\nclient_id = \"id\"\nclient_secret = \"s\"\n",
            "profiles.p.token_url",
        ),
        (
            "[profiles.p]\nprovider = \"client-credentials\"\ntoken_url = \"not a url\"\nclient_id = \"id\"\nclient_secret = \"s\"\n",
            "profiles.p.token_url",
        ),
        (
            "[profiles.n]\nprovider = \"noyo\"\ntoken_url = \"::\"\nclient_id = \"id\"\nclient_secret = \"s\"\n",
            "profiles.n.token_url",
        ),
        (
            "[profiles.y]\nprovider = \"younium\"\nclient_id = \"id\"\nsecret = \"s\"\ntoken_url = \"https://y.example.com/auth/token\"\napi_base_url = \"http://y.example.com/\"\n",
            "profiles.y.api_base_url",
        ),
        (
            "[profiles.p]\nprovider = \"client-credentials\"\ntoken_url = \"https://auth.example.com/token\"\nclient_id = \"id\"\nclient_secret = \"s\"\nauth_style = \"digest\"\n",
            "profiles.p.auth_style",
        ),
        (
            "[profiles.n]\nprovider = \"noyo\"\nclient_id = \"id\"\nclient_secret = { file = \"/nonexistent/secret\" }\n",
            "profiles.n.client_secret",
        ),
        (
            "[profiles.n]\nprovider = \"noyo\"\nclient_id = \"id\"\nclient_secret = \"s\"\nscopes = [\"x\"]\n",
            "profiles.n.scopes",
        ),
        (
            "[profiles.y]\nprovider = \"younium\"\nclient_id = \"id\"\nsecret = \"s\"\nlegal_entity = \"a\\r\\nb\"\n",
            "profiles.y.legal_entity",
        ),
    ];
    for (text, field) in cases {
        let config = Config::from_toml(text).unwrap();
        let error = config.check(&Registry::with_builtins()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Configuration, "{text}");
        assert_eq!(error.field(), Some(field), "{text}: {error}");
        assert!(error.to_string().contains(field), "{text}: {error}");
    }
}

#[tokio::test]
async fn custom_providers_plug_in_by_name() {
    let mut registry = Registry::with_builtins();
    registry.register(
        "fixed",
        |settings: &tokensource::config::ProfileSettings<'_>| {
            let value = settings.required_str("value")?;
            let token = Token::builder(value)
                .expires_in(Duration::from_secs(60))
                .build()
                .map_err(|e| {
                    tokensource::Error::configuration(settings.field("value"), e.to_string())
                })?;
            Ok(Provider::new(StaticTokenSource::new(token)))
        },
    );
    let config =
        Config::from_toml("[profiles.mine]\nprovider = \"fixed\"\nvalue = \"abc\"\n").unwrap();
    let profile = config.build_with("mine", &registry).unwrap();
    assert_eq!(
        profile.source().token().await.unwrap().expose_secret(),
        "abc"
    );
    // Without the registration the same file is a clear error.
    let error = config.build("mine").unwrap_err();
    assert!(
        error.to_string().contains("unknown provider \"fixed\""),
        "{error}"
    );
}

/// The test Redis (started by the test kit if `TOKENSOURCE_TEST_REDIS_URL` is not set).
fn redis_url() -> String {
    tokensource_testkit::redis_server::redis_url(module_path!())
}

#[tokio::test]
async fn profiles_with_a_redis_store_share_one_fetch() {
    let redis = redis_url();
    let server = MockServer::oauth2(OAuth2Mock::new("fleet-client", "fleet-secret"))
        .start()
        .await;
    // The token URL (a fresh port) is part of the store key, so earlier runs' tokens in Redis
    // are not found.
    let text = format!(
        "[profiles.fleet]\nprovider = \"client-credentials\"\ntoken_url = \"{}\"\nclient_id = \"fleet-client\"\nclient_secret = \"fleet-secret\"\n[profiles.fleet.store]\nkind = \"redis\"\nurl = \"{redis}\"\n",
        server.token_url()
    );
    let config = Config::from_toml(&text).unwrap();
    // Eight "processes": eight independent profiles, each with its own memory cache.
    let secrets = eight_processes(&config, "fleet", 25).await;
    assert_eq!(server.token_hits(), 1, "one fetch for the whole fleet");
    assert_eq!(secrets.len(), 1);
}

/// Writes an executable `sh` script into `dir`.
#[cfg(unix)]
fn script(dir: &std::path::Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn a_command_profile_runs_its_program_relative_to_the_config_folder() {
    use tokensource::TokenSource;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    script(
        &dir.path().join("bin"),
        "print-token",
        r#"echo "{\"access_token\":\"tok-$TOKENSOURCE_PROFILE-$1\",\"expires_in\":600}""#,
    );
    let path = dir.path().join("tokensource.toml");
    std::fs::write(
        &path,
        "[profiles.vault]\nprovider = \"command\"\ncommand = [\"bin/print-token\", \"x\"]\ntimeout_secs = 5\n",
    )
    .unwrap();
    let config = Config::load(&path).unwrap();
    let profile = config.build("vault").unwrap();
    assert_eq!(profile.provider(), "command");
    let token = profile.source().token().await.unwrap();
    assert_eq!(token.expose_secret(), "tok-vault-x");

    for (text, field) in [
        (
            "[profiles.c]\nprovider = \"command\"\n",
            "profiles.c.command",
        ),
        (
            "[profiles.c]\nprovider = \"command\"\ncommand = []\n",
            "profiles.c.command",
        ),
        (
            "[profiles.c]\nprovider = \"command\"\ncommand = [\"x\"]\noutput = \"yaml\"\n",
            "profiles.c.output",
        ),
        (
            "[profiles.c]\nprovider = \"command\"\ncommand = [\"x\"]\n[profiles.c.store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:1\"\n",
            "profiles.c.store.seal_key",
        ),
    ] {
        let error = Config::from_toml(text)
            .unwrap()
            .check(Registry::builtins())
            .unwrap_err();
        assert_eq!(error.field(), Some(field), "{text}: {error}");
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_command_profiles_on_redis_runs_the_command_once() {
    use tokensource::TokenSource;
    let redis = redis_url();
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    script(
        dir.path(),
        "slow-token",
        &format!(
            "echo run >> {}; sleep 0.5; echo tok-fleet-$$",
            runs.display()
        ),
    );
    let path = dir.path().join("tokensource.toml");
    let argv = format!("{}", dir.path().join("slow-token").display());
    std::fs::write(
        &path,
        format!(
            "[profiles.fleet]\nprovider = \"command\"\ncommand = [\"{argv}\"]\n[profiles.fleet.store]\nkind = \"redis\"\nurl = \"{redis}\"\nseal_key = \"a-seal-key-for-this-test-{}\"\n",
            std::process::id()
        ),
    )
    .unwrap();
    // Eight "processes": eight profiles built from the file, each with its own cache and store.
    let config = Config::load(&path).unwrap();
    let profiles: Vec<_> = (0..8).map(|_| config.build("fleet").unwrap()).collect();
    let calls: Vec<_> = profiles
        .iter()
        .map(|profile| {
            let source = profile.source();
            tokio::spawn(async move { source.token().await })
        })
        .collect();
    let mut tokens = Vec::new();
    for call in calls {
        tokens.push(call.await.unwrap().unwrap());
    }
    assert!(tokens.iter().all(|t| t.same_secret(&tokens[0])));
    assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 1);
}

/// A client-credentials profile `p` for `token_url` with the store table `store`.
fn profile_with_store(token_url: &str, store: &str) -> String {
    format!(
        "[profiles.p]\nprovider = \"client-credentials\"\ntoken_url = \"{token_url}\"\nclient_id = \"fleet-client\"\nclient_secret = \"fleet-secret\"\n[profiles.p.store]\nkind = \"redis\"\n{store}\n"
    )
}

#[test]
fn redis_store_keys_are_checked_and_errors_name_them() {
    let pki = tokensource_testkit::tls::TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(pki.ca_file(), dir.path().join("ca.pem")).unwrap();
    std::fs::copy(pki.client_cert_file(), dir.path().join("client.pem")).unwrap();
    std::fs::copy(pki.client_key_file(), dir.path().join("client.key")).unwrap();
    std::fs::write(dir.path().join("not-pem.txt"), "hello").unwrap();
    let tls = "url = \"rediss://localhost:6380\"";
    let cases = [
        ("mode = \"ring\"\nurl = \"redis://h\"", "mode"),
        (
            "mode = \"sentinel\"\nurls = [\"redis://h:26379\"]",
            "master_name",
        ),
        (
            "mode = \"cluster\"\nurls = [\"redis://h\"]\nmaster_name = \"m\"",
            "master_name",
        ),
        ("master_name = \"m\"\nurl = \"redis://h\"", "master_name"),
        ("mode = \"cluster\"\nurl = \"redis://h\"", "url"),
        (
            "mode = \"sentinel\"\nmaster_name = \"m\"\nurl = \"redis://h\"",
            "url",
        ),
        ("urls = [\"redis://h\"]", "urls"),
        ("mode = \"cluster\"", "urls"),
        ("mode = \"cluster\"\nurls = []", "urls"),
        ("mode = \"cluster\"\nurls = \"redis://h\"", "urls"),
        ("mode = \"cluster\"\nurls = [\"http://h\"]", "urls"),
        (
            "mode = \"cluster\"\nurls = [\"redis://h:1\", \"rediss://h:2\"]",
            "urls",
        ),
        ("", "url"),
        ("url = \"rediss://h/#insecure\"", "url"),
        ("url = \"redis://h\"\nca_file = \"ca.pem\"", "ca_file"),
        (&format!("{tls}\nca_file = \"missing.pem\""), "ca_file"),
        (&format!("{tls}\nca_file = \"not-pem.txt\""), "ca_file"),
        (&format!("{tls}\nca_file = \"client.key\""), "ca_file"),
        (
            &format!("{tls}\nclient_cert_file = \"client.pem\""),
            "client_key_file",
        ),
        (
            &format!("{tls}\nclient_key_file = \"client.key\""),
            "client_cert_file",
        ),
        (
            &format!("{tls}\nclient_cert_file = \"not-pem.txt\"\nclient_key_file = \"client.key\""),
            "client_cert_file",
        ),
        (
            &format!("{tls}\nclient_cert_file = \"client.pem\"\nclient_key_file = \"ca.pem\""),
            "client_key_file",
        ),
        ("url = \"redis://h\"\nkey_prefix = \"\"", "key_prefix"),
        ("url = \"redis://h\"\nkey_prefx = \"a\"", "key_prefx"),
    ];
    for (store, key) in cases {
        let text = profile_with_store("https://auth.example.com/token", store);
        let config = Config::from_toml(&text).unwrap().with_base_dir(dir.path());
        let error = config.check(Registry::builtins()).unwrap_err();
        let field = format!("profiles.p.store.{key}");
        assert_eq!(error.kind(), ErrorKind::Configuration, "{store}");
        assert_eq!(error.field(), Some(field.as_str()), "{store}: {error}");
        assert!(error.to_string().contains(&field), "{store}: {error}");
    }

    // Good tables of every mode check without connecting anywhere.
    for store in [
        "url = \"redis://127.0.0.1:1\"\nkey_prefix = \"team-a:\"".to_owned(),
        format!(
            "{tls}\nca_file = \"ca.pem\"\nclient_cert_file = \"client.pem\"\nclient_key_file = \"client.key\""
        ),
        "mode = \"cluster\"\nurls = [\"redis://127.0.0.1:1\", \"redis://127.0.0.1:2\"]".to_owned(),
        "mode = \"sentinel\"\nurls = [\"rediss://127.0.0.1:1\"]\nmaster_name = \"m\"\nca_file = \"ca.pem\"".to_owned(),
    ] {
        let text = profile_with_store("https://auth.example.com/token", &store);
        let config = Config::from_toml(&text).unwrap().with_base_dir(dir.path());
        assert_eq!(config.check(Registry::builtins()).unwrap(), ["p"], "{store}");
        config.build("p").unwrap();
    }
}

/// Eight profiles `name` built from one file (eight processes), each asked by `callers` tasks at
/// once: returns the distinct tokens they got.
async fn eight_processes(
    config: &Config,
    name: &str,
    callers: usize,
) -> std::collections::BTreeSet<String> {
    let profiles: Vec<_> = (0..8).map(|_| config.build(name).unwrap()).collect();
    let tasks: Vec<_> = profiles
        .iter()
        .flat_map(|profile| {
            (0..callers).map(move |_| {
                let source = profile.source();
                tokio::spawn(async move { source.token().await })
            })
        })
        .collect();
    let mut secrets = std::collections::BTreeSet::new();
    for task in tasks {
        secrets.insert(task.await.unwrap().unwrap().expose_secret().to_owned());
    }
    secrets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_reaches_a_tls_redis_with_its_ca_file_client_certificate_and_key_prefix() {
    use tokensource_testkit::redis_server::RedisServer;
    use tokensource_testkit::tls::{ClientAuth, TestPki};
    let test = "a_profile_reaches_a_tls_redis_with_its_ca_file_client_certificate_and_key_prefix";
    let pki = TestPki::new();
    let redis = RedisServer::started_tls(test, &pki, ClientAuth::Required);
    let server = MockServer::oauth2(OAuth2Mock::new("fleet-client", "fleet-secret"))
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("certs")).unwrap();
    for (from, to) in [
        (pki.ca_file(), "certs/ca.pem"),
        (pki.client_cert_file(), "certs/client.pem"),
        (pki.client_key_file(), "certs/client.key"),
    ] {
        std::fs::copy(from, dir.path().join(to)).unwrap();
    }
    let path = dir.path().join("tokensource.toml");
    std::fs::write(
        &path,
        profile_with_store(
            &server.token_url(),
            &format!(
                "url = \"{}\"\nca_file = \"certs/ca.pem\"\nclient_cert_file = \"certs/client.pem\"\nclient_key_file = \"certs/client.key\"\nkey_prefix = \"team-a:tokens\"",
                redis.tls_url()
            ),
        ),
    )
    .unwrap();
    let config = Config::load(&path).unwrap();
    // Four processes one after the other (TLS handshakes of a debug build, many at once on a
    // busy machine, can outlast the store's 500 ms operation timeout).
    let mut secrets = std::collections::BTreeSet::new();
    for _ in 0..4 {
        let profile = config.build("p").unwrap();
        secrets.insert(
            profile
                .source()
                .token()
                .await
                .unwrap()
                .expose_secret()
                .to_owned(),
        );
    }
    assert_eq!(secrets.len(), 1);
    assert_eq!(
        server.token_hits(),
        1,
        "one fetch for the fleet, through TLS"
    );
    let output = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "--scan"])
        .output()
        .expect("redis-cli (install redis-tools)");
    let keys = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(!keys.trim().is_empty());
    assert!(
        keys.lines().all(|key| key.starts_with("team-a:tokens:")),
        "{keys}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_on_a_cluster_and_behind_sentinel_share_one_fetch() {
    use tokensource_testkit::redis_server::{RedisCluster, RedisSentinelSet};
    let test = "profiles_on_a_cluster_and_behind_sentinel_share_one_fetch";
    let (cluster, sentinel) = tokio::task::spawn_blocking(move || {
        (RedisCluster::start(test, 3), RedisSentinelSet::start(test))
    })
    .await
    .unwrap();
    let quoted = |urls: Vec<String>| {
        urls.iter()
            .map(|url| format!("\"{url}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for store in [
        format!("mode = \"cluster\"\nurls = [{}]", quoted(cluster.urls())),
        format!(
            "mode = \"sentinel\"\nurls = [{}]\nmaster_name = \"{}\"",
            quoted(sentinel.sentinel_urls()),
            sentinel.master_name()
        ),
    ] {
        // A fresh token endpoint: its URL is part of the key, so nothing is stored yet.
        let server = MockServer::oauth2(OAuth2Mock::new("fleet-client", "fleet-secret"))
            .start()
            .await;
        let config = Config::from_toml(&profile_with_store(&server.token_url(), &store)).unwrap();
        assert_eq!(eight_processes(&config, "p", 5).await.len(), 1, "{store}");
        assert_eq!(server.token_hits(), 1, "{store}");
    }
}
