//! A Redis Cluster of three primaries on loopback, started by the test kit: every key has its
//! own slot, so each store operation (one key per script) goes to the node of its key; scripts
//! are loaded where they run; change announcements reach a subscriber on any node, and the
//! subscriber moves to another node when its node dies; TLS clusters work with `ca_file`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokensource_core::store::{FleetFailure, Lease, TokenStore};
use tokensource_core::{CachedTokenSource, Error, TokenSource};
use tokensource_redis::RedisTokenStore;
use tokensource_testkit::redis_server::RedisCluster;
use tokensource_testkit::tls::TestPki;

use crate::support::{
    FailoverOutcome, Fleet, TokenEndpoint, ask_at_once, http_source, secret, token, unique_key,
};

const CLIENT_SECRET: &str = "cluster-client-secret";

fn cluster_store(urls: &[String]) -> RedisTokenStore {
    RedisTokenStore::cluster_builder(urls.iter().cloned(), &secret(CLIENT_SECRET))
        .build()
        .expect("valid cluster store")
}

/// Credential keys whose token keys are served by `nodes` different nodes, one each.
fn keys_on_different_nodes(
    cluster: &RedisCluster,
    store: &RedisTokenStore,
    test: &str,
) -> Vec<(String, usize)> {
    let mut found: Vec<(String, usize)> = Vec::new();
    while found.len() < cluster.ports().len() {
        let key = unique_key(test);
        let node = cluster.node_of(&store.token_key(&key));
        if found.iter().all(|(_, n)| *n != node) {
            found.push((key, node));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_on_a_cluster_fetches_once_per_credential_with_keys_on_every_node() {
    let test = "a_fleet_on_a_cluster_fetches_once_per_credential_with_keys_on_every_node";
    let cluster = RedisCluster::shared(test);
    let urls = cluster.urls();
    let keys = keys_on_different_nodes(cluster, &cluster_store(&urls), test);

    // Per credential: its own token endpoint, and ten processes with their own connections.
    let mut endpoints = Vec::new();
    let mut calls = Vec::new();
    for (key, _) in &keys {
        // Slow enough that every process asks while the first fetch runs.
        let endpoint = TokenEndpoint::start(Duration::from_millis(300)).await;
        for _ in 0..10 {
            let cache = CachedTokenSource::builder(http_source(endpoint.url()))
                .store(Arc::new(cluster_store(&urls)), key.clone())
                .build();
            calls.push((
                endpoints.len(),
                tokio::spawn(async move { cache.token().await }),
            ));
        }
        endpoints.push(endpoint);
    }
    let mut secrets = vec![BTreeSet::new(); keys.len()];
    for (credential, call) in calls {
        let token = call.await.unwrap().expect("a token");
        secrets[credential].insert(token.expose_secret().to_owned());
    }
    for (credential, endpoint) in endpoints.iter().enumerate() {
        assert_eq!(
            endpoint.hits().await,
            1,
            "credential {credential}: one fetch"
        );
        assert_eq!(secrets[credential].len(), 1, "{secrets:?}");
    }

    // Each token is on the node of its slot, and each lease was released on the node of its
    // own slot.
    let store = cluster_store(&urls);
    let exists = |node: usize, redis_key: &str| cluster.cli(node, &["exists", redis_key]);
    for (key, node) in &keys {
        assert_eq!(exists(*node, &store.token_key(key)).trim(), "1");
        let lease_key = store.lease_key(key);
        assert_eq!(exists(cluster.node_of(&lease_key), &lease_key).trim(), "0");
    }
    let nodes: BTreeSet<usize> = keys.iter().map(|(_, node)| *node).collect();
    assert_eq!(nodes.len(), 3, "the keys are on three different nodes");
}

/// Every script (read, compare-and-set, compare-and-delete, release, renew, failure record)
/// and the plain commands (SET NX, GET, DEL) run on the node of their key, on each node, also
/// after the nodes forgot their scripts (NOSCRIPT, then SCRIPT LOAD on the primaries).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_store_operation_runs_on_the_node_of_its_key() {
    let test = "every_store_operation_runs_on_the_node_of_its_key";
    let cluster = RedisCluster::shared(test);
    let urls = cluster.urls();
    let (a, b) = (cluster_store(&urls), cluster_store(&urls));
    for round in 0..2 {
        if round == 1 {
            for node in 0..cluster.ports().len() {
                assert_eq!(cluster.cli(node, &["script", "flush"]).trim(), "OK");
            }
        }
        for (key, node) in keys_on_different_nodes(cluster, &a, test) {
            let label = format!("round {round}, node {node}");
            assert!(a.get(&key).await.unwrap().is_none(), "{label}");
            a.put(&key, &token("short", Duration::from_secs(600)))
                .await
                .unwrap();
            b.put(&key, &token("long", Duration::from_secs(3600)))
                .await
                .unwrap();
            a.put(&key, &token("shorter", Duration::from_secs(60)))
                .await
                .unwrap();
            let stored = a.get(&key).await.unwrap().expect("a token");
            assert_eq!(stored.expose_secret(), "long", "{label}");
            b.remove(&key, &token("other", Duration::from_secs(60)))
                .await
                .unwrap();
            assert!(a.get(&key).await.unwrap().is_some(), "{label}");
            b.remove(&key, &stored).await.unwrap();
            assert!(a.get(&key).await.unwrap().is_none(), "{label}");

            let ttl = Duration::from_secs(10);
            let lease = a.try_lease(&key, ttl).await.unwrap().expect("a free lease");
            assert!(b.try_lease(&key, ttl).await.unwrap().is_none(), "{label}");
            assert!(a.renew(&key, &lease, ttl).await.unwrap(), "{label}");
            assert!(
                !b.renew(&key, &Lease::random(), ttl).await.unwrap(),
                "{label}"
            );
            b.release(&key, &Lease::random()).await.unwrap();
            assert!(b.try_lease(&key, ttl).await.unwrap().is_none(), "{label}");
            a.release(&key, &lease).await.unwrap();
            let second = b.try_lease(&key, ttl).await.unwrap().expect("released");
            b.release(&key, &second).await.unwrap();

            let error = Error::unavailable("test", "down");
            let retry_at = std::time::SystemTime::now() + Duration::from_secs(30);
            a.record_failure(&key, &FleetFailure::new(&error, 2, retry_at))
                .await
                .unwrap();
            let shared = b.failure(&key).await.unwrap().expect("a failure record");
            assert_eq!(shared.failures, 2, "{label}");
            b.clear_failure(&key).await.unwrap();
            assert!(a.failure(&key).await.unwrap().is_none(), "{label}");
        }
    }
}

/// Which node holds the store's subscription (`PUBSUB NUMPAT` counts the patterns of one node).
fn subscriber_node(cluster: &RedisCluster, alive: &[usize]) -> Option<usize> {
    alive.iter().copied().find(|&node| {
        cluster
            .cli(node, &["pubsub", "numpat"])
            .trim()
            .parse::<u64>()
            .is_ok_and(|n| n > 0)
    })
}

/// Waits until `store` listens for announcements on one of `alive`, and returns that node.
async fn wait_for_subscriber(
    store: &RedisTokenStore,
    cluster: &RedisCluster,
    alive: &[usize],
) -> usize {
    for _ in 0..200 {
        if store.change_cursor("any").is_notified()
            && let Some(node) = subscriber_node(cluster, alive)
        {
            return node;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the store did not subscribe on any of the nodes {alive:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_reach_a_subscriber_on_another_node_which_moves_when_its_node_dies() {
    let test = "announcements_reach_a_subscriber_on_another_node_which_moves_when_its_node_dies";
    // A cluster of its own: a node is killed.
    let mut cluster = RedisCluster::start(test, 3);
    let urls = cluster.urls();
    let (waiter, writer) = (cluster_store(&urls), cluster_store(&urls));
    let keys = keys_on_different_nodes(&cluster, &waiter, test);
    let all: Vec<usize> = (0..3).collect();

    let listening = wait_for_subscriber(&waiter, &cluster, &all).await;
    // A write on another node's key wakes the waiter: PUBLISH is broadcast to every node.
    let (key, node) = keys.iter().find(|(_, node)| *node != listening).unwrap();
    let mut cursor = waiter.change_cursor(key);
    writer
        .put(key, &token("announced", Duration::from_secs(600)))
        .await
        .unwrap();
    assert!(
        cursor.changed(Duration::from_secs(20)).await,
        "a write on node {node} woke the subscriber on node {listening}"
    );

    // The subscriber's node dies: it moves to a node still up and is woken from there.
    cluster.kill_node(listening);
    let alive: Vec<usize> = all.iter().copied().filter(|&n| n != listening).collect();
    let moved = wait_for_subscriber(&waiter, &cluster, &alive).await;
    let (key, node) = keys
        .iter()
        .find(|(_, node)| *node != listening && *node != moved)
        .unwrap();
    let mut cursor = waiter.change_cursor(key);
    writer
        .put(key, &token("announced-again", Duration::from_secs(600)))
        .await
        .unwrap();
    assert!(
        cursor.changed(Duration::from_secs(20)).await,
        "a write on node {node} woke the subscriber, moved to node {moved}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_is_used_with_its_ca_and_refused_without() {
    let test = "a_tls_cluster_is_used_with_its_ca_and_refused_without";
    let pki = TestPki::new();
    let cluster = RedisCluster::start_tls(test, 3, &pki);
    let urls = cluster.urls();
    assert!(urls.iter().all(|url| url.starts_with("rediss://")));
    let key = unique_key(test);

    let untrusting = cluster_store(&urls);
    let error = untrusting.get(&key).await.expect_err("untrusted nodes");
    assert!(
        error
            .to_string()
            .contains("certificate failed verification"),
        "{error}"
    );
    assert!(
        untrusting
            .put(&key, &token("never", Duration::from_secs(60)))
            .await
            .is_err()
    );

    let endpoint = TokenEndpoint::start(Duration::from_millis(300)).await;
    let secrets = ask_at_once(
        10,
        || {
            RedisTokenStore::cluster_builder(urls.clone(), &secret(CLIENT_SECRET))
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
        "one fetch through the TLS cluster"
    );
    // The untrusting store wrote nothing: the only token is the one the fleet stored.
    let keys: u64 = (0..3)
        .map(|node| {
            cluster
                .cli(node, &["dbsize"])
                .trim()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(keys, 1);
}

/// A cluster whose primaries have a replica each; the primary serving the fleet's key is killed
/// in the middle of a run of twenty processes refreshing short-lived tokens. The replica is
/// promoted after the cluster node timeout; meanwhile the stores wait for the new slot owner,
/// no caller gets an error or an expired token, and the token endpoint sees at most one extra
/// flight per lease period of the failover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_rides_out_a_failover_in_the_cluster() {
    const PROCESSES: usize = 20;
    const LIFETIME: Duration = Duration::from_secs(5);
    const LEASE_TTL: Duration = Duration::from_secs(2);
    let test = "a_fleet_rides_out_a_failover_in_the_cluster";
    let cluster = Arc::new(std::sync::Mutex::new(
        tokio::task::spawn_blocking(move || RedisCluster::start_with_replicas(test, 3, 1))
            .await
            .unwrap(),
    ));
    let urls = cluster.lock().unwrap().urls();
    let endpoint = TokenEndpoint::start(Duration::from_millis(50)).await;
    let key = unique_key(test);
    let store_key = cluster_store(&urls).token_key(&key);
    let started = std::time::Instant::now();
    let fleet = Fleet::start(
        PROCESSES,
        || cluster_store(&urls),
        &endpoint,
        &key,
        LIFETIME,
        LEASE_TTL,
    );

    // Kill the key's primary half a second before the second refresh, so that it falls inside
    // the failover.
    endpoint.wait_for_hits(2, Duration::from_secs(20)).await;
    tokio::time::sleep(LIFETIME / 2 - Duration::from_millis(500)).await;
    let failed_at = std::time::Instant::now();
    let hits_before = endpoint.hits().await;
    tokio::task::spawn_blocking({
        let cluster = Arc::clone(&cluster);
        move || {
            let mut cluster = cluster.lock().unwrap();
            let primary = cluster.node_of(&store_key);
            cluster.kill_node(primary);
            let ask = (primary + 1) % 3;
            cluster.wait_for_failover(&store_key, primary, ask, Duration::from_secs(30));
        }
    })
    .await
    .unwrap();
    let outage = failed_at.elapsed();
    let after_failover = endpoint.hits().await;
    tokio::time::sleep(2 * LIFETIME).await;
    let calls = fleet.stop().await;
    let outcome = FailoverOutcome {
        calls,
        hits: endpoint.hits().await,
        hits_before,
        after_failover,
        elapsed: started.elapsed(),
        outage,
    };
    eprintln!("cluster failover: {outcome}");
    outcome.check(PROCESSES, LIFETIME, LEASE_TTL);
    assert!(cluster_store(&urls).get(&key).await.unwrap().is_some());
}
