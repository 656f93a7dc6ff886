use std::time::Duration;

use proptest::prelude::*;

use super::*;

const TTL: Duration = Duration::from_secs(30);

fn token(secret: &str, lifetime_secs: u64) -> Token {
    Token::builder(secret)
        .expires_in(Duration::from_secs(lifetime_secs))
        .build()
        .unwrap()
}

fn token_path(store: &FileStore, key: &str) -> PathBuf {
    store.files(key).token
}

/// Taken for writing by the one test that spawns a child process, for reading by the tests whose
/// locks must be released the moment a file closes: between fork and exec a child shares every
/// open descriptor, and with it any `flock` held on it, so a lease released then would still look
/// held for a moment.
static NO_FORK: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn round_trip_between_stores_with_private_files() {
    let _no_fork = NO_FORK.read().await;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("a").join("tokens");
    let store = FileStore::new(&dir).unwrap();
    assert!(store.get("k").await.unwrap().is_none());

    store.put("k", &token("abc", 3600)).await.unwrap();
    // Its own write does not count as a change by someone else.
    let lease = store.try_lease("k", TTL).await.unwrap().unwrap();
    store.release("k", &lease).await.unwrap();
    let other = FileStore::new(&dir).unwrap();
    let back = other.get("k").await.unwrap().unwrap();
    assert_eq!(back.expose_secret(), "abc");
    assert_eq!(back.lifetime(), Some(Duration::from_secs(3600)));

    #[cfg(unix)]
    {
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&token_path(&store, "k")), 0o600);
        let lease = store.try_lease("k", TTL).await.unwrap().unwrap();
        store.release("k", &lease).await.unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
            assert!(
                !path.to_string_lossy().ends_with(".tmp"),
                "temp file left behind"
            );
        }
    }
    assert!(format!("{store:?}").contains("FileStore"));
}

#[test]
fn a_file_in_the_way_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("file");
    std::fs::write(&path, b"x").unwrap();
    let error = FileStore::new(&path).unwrap_err().to_string();
    assert!(error.contains("cannot be used"), "{error}");
    assert!(error.contains(&path.display().to_string()), "{error}");
}

#[tokio::test]
async fn put_keeps_the_later_expiring_token() {
    let _no_fork = NO_FORK.read().await;
    let root = tempfile::tempdir().unwrap();
    let store = FileStore::new(root.path()).unwrap();
    store.put("k", &token("long", 3600)).await.unwrap();
    store.put("k", &token("short", 60)).await.unwrap();
    assert_eq!(
        store.get("k").await.unwrap().unwrap().expose_secret(),
        "long"
    );
    store.put("k", &token("longer", 7200)).await.unwrap();
    assert_eq!(
        store.get("k").await.unwrap().unwrap().expose_secret(),
        "longer"
    );
    // Keys are independent.
    store.put("other", &token("short", 60)).await.unwrap();
    assert_eq!(
        store.get("other").await.unwrap().unwrap().expose_secret(),
        "short"
    );
}

#[tokio::test]
async fn remove_deletes_only_the_given_token() {
    let _no_fork = NO_FORK.read().await;
    let root = tempfile::tempdir().unwrap();
    let store = FileStore::new(root.path()).unwrap();
    store.put("k", &token("current", 3600)).await.unwrap();
    store.remove("k", &token("stale", 3600)).await.unwrap();
    assert!(store.get("k").await.unwrap().is_some());
    store.remove("k", &token("current", 10)).await.unwrap();
    assert!(store.get("k").await.unwrap().is_none());
    assert!(!token_path(&store, "k").exists());
    // Removing what is not there is fine.
    store.remove("k", &token("current", 10)).await.unwrap();
}

#[tokio::test]
async fn untrusted_files_read_as_absent_and_are_replaced() {
    let _no_fork = NO_FORK.read().await;
    let root = tempfile::tempdir().unwrap();
    let store = FileStore::new(root.path()).unwrap();
    let path = token_path(&store, "k");
    let valid = tokensource_core::store::encode(&token("planted", 3600));

    let oversized = vec![b' '; usize::try_from(disk::MAX_FILE_LEN).unwrap() + 1];
    let cases: [&[u8]; 4] = [b"", b"{\"v\":1,", b"\xff\xfe garbage", &oversized];
    for bytes in cases {
        write_private(&path, bytes);
        assert!(store.get("k").await.unwrap().is_none());
        store.put("k", &token("fresh", 60)).await.unwrap();
        assert_eq!(
            store.get("k").await.unwrap().unwrap().expose_secret(),
            "fresh"
        );
    }

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // A valid record that others may read was not written by this store.
        write_private(&path, &valid);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(store.get("k").await.unwrap().is_none());
        store.put("k", &token("fresh", 60)).await.unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            store.get("k").await.unwrap().unwrap().expose_secret(),
            "fresh"
        );

        // A symlink to a private file elsewhere is not followed.
        let elsewhere = root.path().join("elsewhere");
        write_private(&elsewhere, &valid);
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert!(store.get("k").await.unwrap().is_none());
        store.put("k", &token("fresh", 60)).await.unwrap();
        assert_eq!(
            store.get("k").await.unwrap().unwrap().expose_secret(),
            "fresh"
        );
        assert_eq!(
            std::fs::read(&elsewhere).unwrap(),
            *valid,
            "the target was written"
        );
    }
}

fn write_private(path: &Path, bytes: &[u8]) {
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path).unwrap(), bytes).unwrap();
}

#[tokio::test]
async fn odd_keys_stay_inside_the_folder() {
    let _no_fork = NO_FORK.read().await;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("tokens");
    let store = FileStore::new(&dir).unwrap();
    let keys = ["../../escape", "A", "a", "", "profile:with spaces/and\0nul"];
    for (i, key) in keys.iter().enumerate() {
        store.put(key, &token(&format!("t{i}"), 60)).await.unwrap();
    }
    for (i, key) in keys.iter().enumerate() {
        let got = store.get(key).await.unwrap().unwrap();
        assert_eq!(got.expose_secret(), format!("t{i}"));
    }
    let outside: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, ["tokens"]);
}

#[tokio::test]
async fn one_lease_holder_per_key_across_stores() {
    let _no_fork = NO_FORK.read().await;
    let root = tempfile::tempdir().unwrap();
    let a = FileStore::new(root.path()).unwrap();
    let b = FileStore::new(root.path()).unwrap();

    let lease = a.try_lease("k", TTL).await.unwrap().unwrap();
    assert!(a.try_lease("k", TTL).await.unwrap().is_none());
    assert!(b.try_lease("k", TTL).await.unwrap().is_none());
    // Other keys are free.
    let other = b.try_lease("other", TTL).await.unwrap().unwrap();

    // Releasing someone else's lease does nothing.
    a.release("k", &Lease::random()).await.unwrap();
    b.release("k", &lease).await.unwrap();
    assert!(b.try_lease("k", TTL).await.unwrap().is_none());

    a.release("k", &lease).await.unwrap();
    let taken = b.try_lease("k", TTL).await.unwrap().unwrap();
    assert!(a.try_lease("k", TTL).await.unwrap().is_none());
    b.release("k", &taken).await.unwrap();
    b.release("other", &other).await.unwrap();
}

#[tokio::test]
async fn a_dropped_store_loses_its_lease() {
    let _no_fork = NO_FORK.read().await;
    let root = tempfile::tempdir().unwrap();
    let a = FileStore::new(root.path()).unwrap();
    let b = FileStore::new(root.path()).unwrap();
    let _lease = a.try_lease("k", TTL).await.unwrap().unwrap();
    assert!(b.try_lease("k", TTL).await.unwrap().is_none());
    drop(a);
    assert!(b.try_lease("k", TTL).await.unwrap().is_some());
}

/// The environment variable telling [`lease_holder_process`] which folder to lock in.
const HOLDER_DIR_VAR: &str = "TOKENSOURCE_FILE_STORE_TEST_HOLDER_DIR";

/// Run as a child process by [`a_dead_process_loses_its_lease`]: takes the lease, says so, and
/// waits to be killed.
#[tokio::test]
#[ignore = "run as a child process by a_dead_process_loses_its_lease"]
async fn lease_holder_process() {
    let Some(dir) = std::env::var_os(HOLDER_DIR_VAR) else {
        return;
    };
    let store = FileStore::new(PathBuf::from(dir)).unwrap();
    let _lease = store.try_lease("k", TTL).await.unwrap().unwrap();
    // libtest may have written "test ... " on the same line.
    println!("\nlease-held");
    tokio::time::sleep(Duration::from_secs(60)).await;
}

#[tokio::test]
async fn a_dead_process_loses_its_lease() {
    let _forking = NO_FORK.write().await;
    use std::io::BufRead;

    let root = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "file_store::tests::lease_holder_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLDER_DIR_VAR, root.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let locked = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.trim_end().ends_with("lease-held"))
    })
    .await
    .unwrap();
    let store = FileStore::new(root.path()).unwrap();
    let held_elsewhere = store.try_lease("k", TTL).await.unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(locked, "the child process did not take the lease");
    assert!(
        held_elsewhere,
        "the lease was not exclusive across processes"
    );
    assert!(store.try_lease("k", TTL).await.unwrap().is_some());
}

#[tokio::test]
async fn a_token_published_since_get_refuses_the_lease() {
    let _no_fork = NO_FORK.read().await;
    // The refresh race: this process read no token, another fetched, stored it and released
    // its lease, and only then did this process ask for the lease. It should read the new
    // token instead of fetching a second one.
    let root = tempfile::tempdir().unwrap();
    let here = FileStore::new(root.path()).unwrap();
    let there = FileStore::new(root.path()).unwrap();
    assert!(here.get("k").await.unwrap().is_none());

    let lease = there.try_lease("k", TTL).await.unwrap().unwrap();
    there.put("k", &token("published", 3600)).await.unwrap();
    there.release("k", &lease).await.unwrap();

    assert!(here.try_lease("k", TTL).await.unwrap().is_none());
    assert_eq!(
        here.get("k").await.unwrap().unwrap().expose_secret(),
        "published"
    );
    // Having seen the current file, it may take the lease (say, to refresh that token).
    assert!(here.try_lease("k", TTL).await.unwrap().is_some());
}

#[test]
fn works_without_a_tokio_runtime() {
    let _no_fork = NO_FORK.blocking_read();
    let root = tempfile::tempdir().unwrap();
    let store = FileStore::new(root.path()).unwrap();
    block_on_without_tokio(store.put("k", &token("abc", 60))).unwrap();
    let got = block_on_without_tokio(store.get("k")).unwrap();
    assert_eq!(got.unwrap().expose_secret(), "abc");
}

/// Polls a future to completion on this thread, outside any tokio runtime.
fn block_on_without_tokio<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Noop));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caches_over_one_folder_fetch_once() {
    let _no_fork = NO_FORK.read().await;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::{CachedTokenSource, Error, TokenSource, from_fn};

    let root = tempfile::tempdir().unwrap();
    let fetches = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        // One store per cache, as separate processes would have.
        let store = Arc::new(FileStore::new(root.path()).unwrap());
        let counter = Arc::clone(&fetches);
        let cache = CachedTokenSource::builder(from_fn("test", move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Token::builder(format!("token-{n}"))
                    .expires_in(Duration::from_secs(3600))
                    .build()
                    .map_err(Error::from)
            }
        }))
        .store(store, "credential")
        .build();
        tasks.push(tokio::spawn(async move { cache.token().await }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().expose_secret(), "token-0");
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever bytes sit in a token file, `get` returns without panicking, and a put then
    /// replaces them unless they were a valid token expiring later.
    #[test]
    fn arbitrary_file_contents_never_panic(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2048),
            "\\{\"v\":1,\"access_token\":\"[ -~]{0,20}\",\"token_type\":\"[ -~]{0,10}\",\"issued_at_ms\":[0-9]{1,25}(,\"lifetime_ms\":[0-9-]{1,25})?\\}"
                .prop_map(String::into_bytes),
        ]
    ) {
        let root = tempfile::tempdir().unwrap();
        let store = FileStore::new(root.path()).unwrap();
        write_private(&token_path(&store, "k"), &bytes);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let _ = store.get("k").await.unwrap();
            store.put("k", &token("fresh", 60)).await.unwrap();
            prop_assert!(store.get("k").await.unwrap().is_some());
            Ok(())
        })?;
    }
}

/// Runs `work` on a thread and fails the test if it has not returned after 30 s (a hang).
fn without_hanging<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the file store hung (or panicked)")
}

#[cfg(unix)]
#[test]
fn a_fifo_in_place_of_a_token_file_reads_as_no_token_without_blocking() {
    // It runs `mkfifo`: no lease test may run meanwhile (see `NO_FORK`).
    let _forking = NO_FORK.blocking_write();
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path()).unwrap();
    let path = token_path(&store, "k");
    let status = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo (coreutils) must be installed");
    assert!(status.success());
    let reader = store.clone();
    let found = without_hanging(move || {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async move { reader.get("k").await.unwrap().is_some() })
    });
    assert!(!found);
    // The FIFO is replaced by the next put.
    let writer = store.clone();
    without_hanging(move || {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async move { writer.put("k", &token("fresh", 60)).await.unwrap() })
    });
    assert!(std::fs::symlink_metadata(&path).unwrap().is_file());

    // A FIFO as a lock file is refused with an error, not a hang.
    let lock = dir
        .path()
        .join(format!("{}.lock", disk::file_stem("other")));
    std::process::Command::new("mkfifo")
        .arg(&lock)
        .status()
        .unwrap();
    let writer = store.clone();
    let result = without_hanging(move || {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async move { writer.put("other", &token("t", 60)).await })
    });
    assert!(result.is_err());
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlinked_token_file_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("tokens")).unwrap();
    let elsewhere = FileStore::new(dir.path().join("elsewhere")).unwrap();
    elsewhere.put("k", &token("planted", 3600)).await.unwrap();
    std::os::unix::fs::symlink(token_path(&elsewhere, "k"), token_path(&store, "k")).unwrap();
    assert!(store.get("k").await.unwrap().is_none());
}

#[cfg(unix)]
#[test]
fn folders_others_may_write_to_are_refused_naming_them() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    for mode in [0o777, 0o770, 0o702] {
        let dir = root.path().join(format!("open-{mode:o}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        let error = FileStore::new(&dir).unwrap_err().to_string();
        assert!(error.contains(&dir.display().to_string()), "{error}");
        assert!(error.contains("writable by others"), "{error}");
    }
    // Private and read-only-for-others folders are fine.
    for mode in [0o700, 0o755] {
        let dir = root.path().join(format!("ok-{mode:o}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        FileStore::new(&dir).unwrap();
    }
}

#[cfg(unix)]
#[test]
fn a_folder_of_another_user_is_refused_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let me = rustix::process::geteuid();
    let foreign = if me.is_root() {
        // As root: a folder handed to `nobody`.
        let dir = root.path().join("foreign");
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
        dir
    } else {
        // As anyone else: the root folder belongs to root.
        PathBuf::from("/")
    };
    let error = FileStore::new(&foreign).unwrap_err().to_string();
    assert!(error.contains(&foreign.display().to_string()), "{error}");
    assert!(error.contains("belongs to user"), "{error}");
}

#[tokio::test]
async fn a_token_of_unknown_expiry_is_replaced_by_a_fresh_one() {
    let _no_fork = NO_FORK.read().await;
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path()).unwrap();
    let old = Token::builder("old")
        .issued_at(std::time::SystemTime::now() - Duration::from_secs(3600))
        .build()
        .unwrap();
    store.put("k", &old).await.unwrap();
    store.put("k", &token("fresh", 600)).await.unwrap();
    assert_eq!(
        store.get("k").await.unwrap().unwrap().expose_secret(),
        "fresh"
    );
    // And a fresher token of unknown expiry replaces an older one of unknown expiry.
    let newer = Token::builder("newer").build().unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let store2 = FileStore::new(dir2.path()).unwrap();
    store2.put("k", &old).await.unwrap();
    store2.put("k", &newer).await.unwrap();
    assert_eq!(
        store2.get("k").await.unwrap().unwrap().expose_secret(),
        "newer"
    );
}

#[tokio::test]
async fn failures_are_shared_between_stores_and_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let a = FileStore::new(dir.path()).unwrap();
    let b = FileStore::new(dir.path()).unwrap();
    assert!(b.failure("k").await.unwrap().is_none());
    let error = crate::Error::unavailable("endpoint", "HTTP 503").with_status(503);
    let retry_at = std::time::SystemTime::now() + Duration::from_secs(30);
    let failure = FleetFailure::new(&error, 2, retry_at);
    a.record_failure("k", &failure).await.unwrap();
    let seen = b.failure("k").await.unwrap().expect("a shared failure");
    assert_eq!(seen, failure);
    assert_eq!(seen.to_error().kind(), crate::ErrorKind::Unavailable);
    #[cfg(unix)]
    assert_eq!(mode(&a.files("k").failure), 0o600);
    b.clear_failure("k").await.unwrap();
    assert!(a.failure("k").await.unwrap().is_none());
    // Garbage in the failure file reads as no failure.
    std::fs::write(a.files("k").failure, b"{not json").unwrap();
    assert!(a.failure("k").await.unwrap().is_none());
}
