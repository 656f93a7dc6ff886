//! A primary, a replica and a Sentinel on loopback, started by the test kit, with a fleet of
//! twenty processes (caches with their own stores) refreshing short-lived tokens through the
//! primary the sentinel names. The primary fails over in the middle of the run, killed or by
//! `SENTINEL FAILOVER`; the fleet finds the new primary (after connection errors, or after
//! READONLY from the demoted one), no caller ever gets an error or an expired token, and the
//! token endpoint sees at most one extra flight per lease period of the failover.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokensource_core::store::TokenStore;
use tokensource_redis::RedisTokenStore;
use tokensource_testkit::redis_server::RedisSentinelSet;
use tokensource_testkit::tls::{ClientAuth, TestPki};

use crate::support::{FailoverOutcome, Fleet, TokenEndpoint, raw_connection, secret, unique_key};

const CLIENT_SECRET: &str = "sentinel-client-secret";
const PROCESSES: usize = 20;
/// Short tokens, so that the fleet refreshes every few seconds (the stored token is refreshed
/// when half of it is left).
const LIFETIME: Duration = Duration::from_secs(5);
const LEASE_TTL: Duration = Duration::from_secs(2);

fn sentinel_store(set: &RedisSentinelSet) -> RedisTokenStore {
    RedisTokenStore::sentinel_builder(
        set.sentinel_urls(),
        set.master_name(),
        &secret(CLIENT_SECRET),
    )
    .build()
    .expect("valid sentinel store")
}

/// A store for a TLS set that demands client certificates: the test CA trusted, the test
/// client certificate presented, to the sentinel and to the primary it names.
fn tls_sentinel_store(set: &RedisSentinelSet, pki: &TestPki) -> RedisTokenStore {
    RedisTokenStore::sentinel_builder(
        set.sentinel_urls(),
        set.master_name(),
        &secret(CLIENT_SECRET),
    )
    .ca_file(pki.ca_file())
    .client_identity_files(pki.client_cert_file(), pki.client_key_file())
    .build()
    .expect("valid sentinel store")
}

/// How a test fails the primary over.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Failover {
    /// Killed: connections fail until the sentinel has promoted the replica.
    Kill,
    /// `SENTINEL FAILOVER`, then the old primary made a replica of the new one (as the
    /// sentinel does when it sees it again): it stays reachable, and its writes answer READONLY.
    Demote,
}

/// Runs the fleet through a failover, over plain TCP or, given a [`TestPki`], over TLS with
/// client certificates (to the sentinel and to each primary it names).
async fn fleet_through_a_failover(test: &'static str, how: Failover, pki: Option<TestPki>) {
    let pki = pki.map(Arc::new);
    let set = Arc::new(
        tokio::task::spawn_blocking({
            let pki = pki.clone();
            move || match pki {
                Some(pki) => RedisSentinelSet::start_tls(test, &pki, ClientAuth::Required),
                None => RedisSentinelSet::start(test),
            }
        })
        .await
        .unwrap(),
    );
    let make_store = || match &pki {
        Some(pki) => tls_sentinel_store(&set, pki),
        None => sentinel_store(&set),
    };
    let endpoint = TokenEndpoint::start(Duration::from_millis(50)).await;
    let key = unique_key(test);
    let started = Instant::now();
    let fleet = Fleet::start(PROCESSES, make_store, &endpoint, &key, LIFETIME, LEASE_TTL);

    // The fleet refreshes the stored token when half of its lifetime is left: the failover
    // starts half a second before the refresh after the first one, so that this refresh falls
    // inside it (the sentinel needs more than that to promote the replica).
    endpoint.wait_for_hits(2, Duration::from_secs(20)).await;
    tokio::time::sleep(LIFETIME / 2 - Duration::from_millis(500)).await;
    let failed_at = Instant::now();
    let hits_before = endpoint.hits().await;
    tokio::task::spawn_blocking({
        let set = Arc::clone(&set);
        move || {
            match how {
                Failover::Kill => set.kill_primary(),
                Failover::Demote => set.failover(),
            }
            set.wait_for_promotion(Duration::from_secs(20));
            if how == Failover::Demote {
                set.demote_first_primary();
            }
        }
    })
    .await
    .unwrap();
    let outage = failed_at.elapsed();
    // Two lifetimes on the new primary: the fleet shares again.
    let after_failover = endpoint.hits().await;
    tokio::time::sleep(2 * LIFETIME).await;
    let calls = fleet.stop().await;
    let elapsed = started.elapsed();
    let hits = endpoint.hits().await;

    let outcome = FailoverOutcome {
        calls,
        hits,
        hits_before,
        after_failover,
        elapsed,
        outage,
    };
    eprintln!("{how:?}: {outcome}");
    outcome.check(PROCESSES, LIFETIME, LEASE_TTL);

    // The fleet's token is on the new primary.
    let (_, new_primary) = set.server_urls();
    let store = make_store();
    let mut raw = raw_connection(&new_primary).await;
    let stored: bool = redis::cmd("EXISTS")
        .arg(store.token_key(&key))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(stored, "the token is on the new primary");
    assert!(store.get(&key).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_rides_out_a_killed_primary() {
    fleet_through_a_failover("a_fleet_rides_out_a_killed_primary", Failover::Kill, None).await;
}

/// Managed Sentinel deployments speak TLS: the store reaches the sentinel and every primary it
/// names over TLS with the configured CA and client certificate, through a failover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_rides_out_a_killed_primary_over_tls() {
    fleet_through_a_failover(
        "a_fleet_rides_out_a_killed_primary_over_tls",
        Failover::Kill,
        Some(TestPki::new()),
    )
    .await;
}

/// TLS to the sentinels is verified like TLS to a standalone server: without the CA, or without
/// the client certificate the servers demand, nothing is stored; with both, the token lands on
/// the primary the sentinel names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_sentinels_need_the_ca_and_the_client_certificate() {
    let test = "tls_sentinels_need_the_ca_and_the_client_certificate";
    let pki = Arc::new(TestPki::new());
    let set = tokio::task::spawn_blocking({
        let pki = Arc::clone(&pki);
        move || RedisSentinelSet::start_tls(test, &pki, ClientAuth::Required)
    })
    .await
    .unwrap();
    let key = unique_key(test);
    let token = crate::support::token("over-tls", Duration::from_secs(600));
    let builder = || {
        RedisTokenStore::sentinel_builder(
            set.sentinel_urls(),
            set.master_name(),
            &secret(CLIENT_SECRET),
        )
    };
    let untrusted = builder().build().unwrap();
    let no_identity = builder().ca_file(pki.ca_file()).build().unwrap();
    for (what, store) in [
        ("no CA", &untrusted),
        ("no client certificate", &no_identity),
    ] {
        let error = store.put(&key, &token).await.expect_err(what);
        assert!(
            !format!("{error} {error:?}").contains("over-tls"),
            "{what}: {error}"
        );
    }
    let (primary, _) = set.server_urls();
    let mut raw = raw_connection(&primary).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(
        keys.is_empty(),
        "nothing is written over refused TLS: {keys:?}"
    );

    let store = tls_sentinel_store(&set, &pki);
    store.put(&key, &token).await.expect("stored over TLS");
    let stored: bool = redis::cmd("EXISTS")
        .arg(store.token_key(&key))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(stored, "the token is on the primary the sentinel names");
    let read = store.get(&key).await.unwrap().expect("the token");
    assert_eq!(read.expose_secret(), "over-tls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_follows_a_sentinel_failover_away_from_the_demoted_primary() {
    fleet_through_a_failover(
        "a_fleet_follows_a_sentinel_failover_away_from_the_demoted_primary",
        Failover::Demote,
        None,
    )
    .await;
}

#[test]
fn sentinel_settings_are_checked_when_the_store_is_built() {
    let s = secret(CLIENT_SECRET);
    let error = RedisTokenStore::sentinel_builder(["redis://127.0.0.1:26379"], "", &s)
        .build()
        .unwrap_err();
    assert_eq!(error.field(), Some("master_name"));
    let error = RedisTokenStore::sentinel_builder(Vec::<String>::new(), "m", &s)
        .build()
        .unwrap_err();
    assert_eq!(error.field(), Some("urls"));
    let error = RedisTokenStore::sentinel_builder(
        ["redis://127.0.0.1:26379", "rediss://127.0.0.1:26380"],
        "m",
        &s,
    )
    .build()
    .unwrap_err();
    assert_eq!(error.field(), Some("urls"));
    let error = RedisTokenStore::cluster_builder(["redis://:hunter2@[::1"], &s)
        .build()
        .unwrap_err();
    assert_eq!(error.field(), Some("urls"));
    assert!(!format!("{error} {error:?}").contains("hunter2"));
    // Building never connects.
    let store = RedisTokenStore::sentinel_builder(
        [
            "redis://user:hunter2@127.0.0.1:1",
            "redis://user:hunter2@127.0.0.1:2",
        ],
        "mymaster",
        &s,
    )
    .build()
    .unwrap();
    let debug = format!("{store:?}");
    assert!(
        debug.contains("mymaster") && debug.contains("127.0.0.1:2"),
        "{debug}"
    );
    assert!(!debug.contains("hunter2"), "{debug}");
}

/// After `SENTINEL FAILOVER` the old primary keeps accepting writes until a sentinel sees it and
/// demotes it, seconds later. The store hears the sentinels' `+switch-master` and moves to the
/// new primary at once, so that processes do not split between two primaries meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_moves_to_the_promoted_primary_before_the_old_one_is_demoted() {
    let test = "a_store_moves_to_the_promoted_primary_before_the_old_one_is_demoted";
    let set = Arc::new(
        tokio::task::spawn_blocking(move || RedisSentinelSet::start(test))
            .await
            .unwrap(),
    );
    let (old_primary, new_primary) = set.server_urls();
    let store = sentinel_store(&set);
    let lifetime = Duration::from_secs(600);
    store
        .put(
            &unique_key(test),
            &crate::support::token("before", lifetime),
        )
        .await
        .unwrap();
    // Listening: to the primary's announcements and to the sentinel's.
    for _ in 0..200 {
        if store.change_cursor("any").is_notified() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        store.change_cursor("any").is_notified(),
        "the store subscribed"
    );

    tokio::task::spawn_blocking({
        let set = Arc::clone(&set);
        move || {
            set.failover();
            set.wait_for_promotion(Duration::from_secs(20));
        }
    })
    .await
    .unwrap();
    let mut on_new = raw_connection(&new_primary).await;
    let mut on_old = raw_connection(&old_primary).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let key = unique_key(test);
        store
            .put(&key, &crate::support::token("after", lifetime))
            .await
            .unwrap();
        let landed: bool = redis::cmd("EXISTS")
            .arg(store.token_key(&key))
            .query_async(&mut on_new)
            .await
            .unwrap();
        if landed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the store still writes to the old primary 5 s after the promotion"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let role: redis::Role = redis::cmd("ROLE").query_async(&mut on_old).await.unwrap();
    assert!(
        matches!(role, redis::Role::Primary { .. }),
        "the old primary was still a primary when the store moved: {role:?}"
    );
}

/// A store that has not subscribed (no cache waited on it yet, so it heard no announcement)
/// still writes to a primary that was demoted: READONLY sends it to the sentinels for the new
/// one, and the write succeeds there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_leaves_a_demoted_primary_on_readonly() {
    let test = "a_store_leaves_a_demoted_primary_on_readonly";
    let set = Arc::new(
        tokio::task::spawn_blocking(move || RedisSentinelSet::start(test))
            .await
            .unwrap(),
    );
    let (_, new_primary) = set.server_urls();
    let store = sentinel_store(&set);
    let lifetime = Duration::from_secs(600);
    let before = unique_key(test);
    store
        .put(&before, &crate::support::token("before", lifetime))
        .await
        .unwrap();
    tokio::task::spawn_blocking({
        let set = Arc::clone(&set);
        move || {
            set.failover();
            set.wait_for_promotion(Duration::from_secs(20));
            set.demote_first_primary();
        }
    })
    .await
    .unwrap();
    // Reads from the demoted primary still work; the write finds READONLY, then the new one.
    let key = unique_key(test);
    store
        .put(&key, &crate::support::token("after", lifetime))
        .await
        .expect("the write goes to the new primary");
    let mut on_new = raw_connection(&new_primary).await;
    let landed: bool = redis::cmd("EXISTS")
        .arg(store.token_key(&key))
        .query_async(&mut on_new)
        .await
        .unwrap();
    assert!(landed, "the token is on the new primary");
    let lease = store
        .try_lease(&key, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("a free lease");
    store.release(&key, &lease).await.unwrap();
}
