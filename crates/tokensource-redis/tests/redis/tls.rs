//! `rediss://` against a real TLS `redis-server` with a CA made at test time: a certificate that
//! fails verification makes the store unusable (the cache fetches locally, nothing is written to
//! that Redis, later operations fail without connecting); the CA given with `ca_file` makes it
//! work; a server that demands client certificates refuses a store without one and accepts the
//! test CA's client certificate.

use std::time::Duration;

use tokensource_core::store::{Lease, TokenStore};
use tokensource_redis::RedisTokenStore;
use tokensource_testkit::redis_server::RedisServer;
use tokensource_testkit::tls::{ClientAuth, TestPki, TlsFront};

use crate::support::{TokenEndpoint, ask_at_once, raw_connection, secret, token, unique_key};

const CLIENT_SECRET: &str = "tls-client-secret";

/// How many keys the server holds, seen through its plain port.
async fn keys_in(server: &RedisServer) -> i64 {
    let mut raw = raw_connection(&server.url()).await;
    redis::cmd("DBSIZE").query_async(&mut raw).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_makes_the_store_unusable_and_nothing_is_written() {
    let test = "an_untrusted_certificate_makes_the_store_unusable_and_nothing_is_written";
    let pki = TestPki::new();
    let server = RedisServer::started_tls(test, &pki, ClientAuth::None);
    let key = unique_key(test);
    // The system roots do not know the test CA.
    let untrusting = RedisTokenStore::new(&server.tls_url(), &secret(CLIENT_SECRET)).unwrap();

    let error = untrusting.get(&key).await.expect_err("an untrusted server");
    let message = error.to_string();
    assert!(
        message.contains("certificate failed verification") && message.contains("UnknownIssuer"),
        "{message}"
    );
    assert!(message.contains("nothing is written"), "{message}");
    let t = token("never-written", Duration::from_secs(3600));
    assert!(untrusting.put(&key, &t).await.is_err());
    assert!(
        untrusting
            .try_lease(&key, Duration::from_secs(5))
            .await
            .is_err()
    );
    assert!(untrusting.release(&key, &Lease::random()).await.is_err());

    // The refusal holds: later operations fail without connecting again. (Counted at a TLS
    // front with the same untrusted certificate, before the same server: redis-server does not
    // count failed handshakes.)
    let front = TlsFront::start(
        &pki,
        ([127, 0, 0, 1], server.port()).into(),
        ClientAuth::None,
    );
    let fronted = RedisTokenStore::new(
        &format!("rediss://localhost:{}", front.address().port()),
        &secret(CLIENT_SECRET),
    )
    .unwrap();
    assert!(fronted.get(&key).await.is_err());
    // The front counts a failure when it sees the client's alert, a moment after the client.
    let settled = || async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        front.failed_handshakes()
    };
    let attempts = settled().await;
    // The operation's handshake, and maybe the connection manager's reconnection after it.
    assert!((1..=2).contains(&attempts), "{attempts} handshakes");
    for _ in 0..10 {
        assert!(fronted.get(&key).await.is_err());
        assert!(fronted.put(&key, &t).await.is_err());
        assert!(
            fronted
                .try_lease(&key, Duration::from_secs(5))
                .await
                .is_err()
        );
    }
    assert_eq!(settled().await, attempts, "no new handshake while refused");
    assert_eq!(front.handshakes(), 0);

    // A fleet on that Redis: every process fetches for itself, and every caller gets a token.
    let endpoint = TokenEndpoint::start(Duration::from_millis(50)).await;
    let url = server.tls_url();
    let secrets = ask_at_once(
        20,
        || {
            RedisTokenStore::builder(&url, &secret(CLIENT_SECRET))
                .build()
                .unwrap()
        },
        &endpoint,
        &key,
    )
    .await;
    assert_eq!(secrets.len(), 20);
    assert_eq!(
        endpoint.hits().await,
        20,
        "no sharing through an untrusted Redis"
    );
    assert_eq!(
        keys_in(&server).await,
        0,
        "nothing was written to the untrusted Redis"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ca_file_makes_a_tls_redis_work() {
    let test = "the_ca_file_makes_a_tls_redis_work";
    let pki = TestPki::new();
    let server = RedisServer::started_tls(test, &pki, ClientAuth::None);
    let key = unique_key(test);
    let endpoint = TokenEndpoint::start(Duration::from_millis(200)).await;
    let url = server.tls_url();
    let secrets = ask_at_once(
        20,
        || {
            RedisTokenStore::builder(&url, &secret(CLIENT_SECRET))
                .ca_file(pki.ca_file())
                .build()
                .unwrap()
        },
        &endpoint,
        &key,
    )
    .await;
    assert!(secrets.iter().all(|s| s == "tok-1"), "{secrets:?}");
    assert_eq!(
        endpoint.hits().await,
        1,
        "one fetch for the fleet, through TLS"
    );
    let store = RedisTokenStore::builder(&url, &secret(CLIENT_SECRET))
        .ca_pem(pki.ca_pem())
        .build()
        .unwrap();
    assert_eq!(
        store.get(&key).await.unwrap().unwrap().expose_secret(),
        "tok-1"
    );
    assert!(keys_in(&server).await >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_demands_client_certificates_gets_the_store_s_one() {
    let test = "a_server_that_demands_client_certificates_gets_the_store_s_one";
    let pki = TestPki::new();
    let server = RedisServer::started_tls(test, &pki, ClientAuth::Required);
    let key = unique_key(test);
    let url = server.tls_url();

    // Without a client certificate: refused, and nothing written.
    let anonymous = RedisTokenStore::builder(&url, &secret(CLIENT_SECRET))
        .ca_file(pki.ca_file())
        .build()
        .unwrap();
    let t = token("mtls-token", Duration::from_secs(3600));
    let error = anonymous
        .put(&key, &t)
        .await
        .expect_err("no client certificate");
    assert!(
        error
            .to_string()
            .contains("refused the TLS client certificate"),
        "{error}"
    );
    assert!(anonymous.get(&key).await.is_err());
    assert_eq!(keys_in(&server).await, 0);

    // With the test CA's client certificate: works, from files or from PEM.
    let identified = RedisTokenStore::builder(&url, &secret(CLIENT_SECRET))
        .ca_file(pki.ca_file())
        .client_identity_files(pki.client_cert_file(), pki.client_key_file())
        .build()
        .unwrap();
    identified.put(&key, &t).await.unwrap();
    let from_pem = RedisTokenStore::builder(&url, &secret(CLIENT_SECRET))
        .ca_pem(pki.ca_pem())
        .client_identity(
            std::fs::read(pki.client_cert_file()).unwrap(),
            std::fs::read(pki.client_key_file()).unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(
        from_pem.get(&key).await.unwrap().unwrap().expose_secret(),
        "mtls-token"
    );
    // One file holding both the certificate and the key works too.
    let one_file = RedisTokenStore::builder(&url, &secret(CLIENT_SECRET))
        .ca_file(pki.ca_file())
        .client_identity_files(pki.client_identity_file(), pki.client_identity_file())
        .build()
        .unwrap();
    assert!(one_file.get(&key).await.unwrap().is_some());

    // A client certificate from another CA is refused as well.
    let other = TestPki::new();
    let stranger = RedisTokenStore::builder(&url, &secret(CLIENT_SECRET))
        .ca_file(pki.ca_file())
        .client_identity_files(other.client_cert_file(), other.client_key_file())
        .build()
        .unwrap();
    assert!(stranger.get(&key).await.is_err());
}

#[test]
fn tls_settings_are_checked_when_the_store_is_built() {
    let pki = TestPki::new();
    let url = "rediss://localhost:6380";
    let s = secret(CLIENT_SECRET);
    let field = |builder: tokensource_redis::RedisTokenStoreBuilder| {
        builder
            .build()
            .expect_err("a bad TLS setting")
            .field()
            .map(str::to_owned)
    };
    let missing = pki.dir().join("missing.pem");
    let not_pem = pki.write("not-pem.txt", "hello");
    let key_only = pki.client_key_file();
    assert_eq!(
        field(RedisTokenStore::builder(url, &s).ca_file(&missing)).as_deref(),
        Some("ca_file")
    );
    assert_eq!(
        field(RedisTokenStore::builder(url, &s).ca_file(&not_pem)).as_deref(),
        Some("ca_file")
    );
    assert_eq!(
        field(RedisTokenStore::builder(url, &s).ca_file(&key_only)).as_deref(),
        Some("ca_file")
    );
    assert_eq!(
        field(RedisTokenStore::builder(url, &s).ca_pem("junk")).as_deref(),
        Some("ca_pem")
    );
    assert_eq!(
        field(
            RedisTokenStore::builder(url, &s)
                .client_identity_files(&not_pem, pki.client_key_file())
        )
        .as_deref(),
        Some("client_cert_file")
    );
    assert_eq!(
        field(
            RedisTokenStore::builder(url, &s)
                .client_identity_files(pki.client_cert_file(), pki.ca_file())
        )
        .as_deref(),
        Some("client_key_file")
    );
    // A key that is not the certificate's.
    let (_, other_key) = pki.issue_client("someone-else");
    let other_key = pki.write("other.key", &other_key);
    assert_eq!(
        field(
            RedisTokenStore::builder(url, &s)
                .client_identity_files(pki.client_cert_file(), &other_key)
        )
        .as_deref(),
        Some("client_key_file")
    );
    // TLS settings with a plain URL would be silently unused: refused.
    assert_eq!(
        field(RedisTokenStore::builder("redis://127.0.0.1:6379", &s).ca_file(pki.ca_file()))
            .as_deref(),
        Some("ca_file")
    );
    // Turning verification off through the URL is refused.
    assert_eq!(
        field(RedisTokenStore::builder(
            "rediss://localhost:6380/#insecure",
            &s
        ))
        .as_deref(),
        Some("redis_url")
    );
    // And good settings build, without connecting.
    RedisTokenStore::builder(url, &s)
        .ca_file(pki.ca_file())
        .client_identity_files(pki.client_cert_file(), pki.client_key_file())
        .build()
        .unwrap();
}

/// The store's TLS files are read before each operation: a client certificate replaced by one
/// the server refuses takes effect at the next operation (new connections, nothing written), and
/// a renewed one of the right authority works at once, without a new store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_client_certificate_files_are_used_without_a_restart() {
    let test = "rotated_client_certificate_files_are_used_without_a_restart";
    let pki = TestPki::new();
    let server = RedisServer::started_tls(test, &pki, ClientAuth::Required);
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("client.pem"), dir.path().join("client.key"));
    std::fs::copy(pki.client_cert_file(), &cert).unwrap();
    std::fs::copy(pki.client_key_file(), &key).unwrap();
    let store = RedisTokenStore::builder(&server.tls_url(), &secret(CLIENT_SECRET))
        .ca_file(pki.ca_file())
        .client_identity_files(&cert, &key)
        .build()
        .unwrap();
    let key_name = unique_key(test);
    store
        .put(&key_name, &token("first", Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(keys_in(&server).await, 1);

    // Another authority's certificate: the next operation connects with it and is refused.
    let stranger = TestPki::new();
    std::fs::copy(stranger.client_cert_file(), &cert).unwrap();
    std::fs::copy(stranger.client_key_file(), &key).unwrap();
    store
        .put(
            &unique_key("second"),
            &token("second", Duration::from_secs(3600)),
        )
        .await
        .expect_err("the server refuses the new certificate");
    assert_eq!(keys_in(&server).await, 1, "nothing written");

    // A renewed certificate of the server's authority: accepted at once.
    let (renewed_cert, renewed_key) = pki.issue_client("renewed");
    std::fs::write(&cert, renewed_cert).unwrap();
    std::fs::write(&key, renewed_key).unwrap();
    assert_eq!(
        store.get(&key_name).await.unwrap().unwrap().expose_secret(),
        "first"
    );

    // A file that cannot be used now leaves the working connection as it is.
    std::fs::write(&key, "not a key").unwrap();
    assert!(store.get(&key_name).await.unwrap().is_some());
}
