//! A [`TokenStore`] in files: the `tokensource` CLI's disk cache, shared by one user's processes.
//!
//! A [`FileStore`] keeps one token per key in a folder, so that the next process (the next run
//! of a script, a parallel job) uses the token the last one fetched, and processes that start
//! together fetch once:
//!
//! - the folder is created with mode 0700 if absent; token files are mode 0600 and replaced
//!   atomically (a private temporary file in the same folder, then a rename), so a reader sees
//!   a whole token or none;
//! - a token file is read with a size cap, and anything that is not a private regular file
//!   holding a token record (a corrupt, truncated, foreign, oversized or group-readable file,
//!   a symlink, a folder) reads as no token and is replaced by the next put;
//! - [`put`](TokenStore::put) keeps whichever token expires later and
//!   [`remove`](TokenStore::remove) deletes only the token given, both under a short lock on a
//!   per-key lock file, so they are atomic across processes;
//! - the refresh lease is an exclusive lock (`flock` on Unix, `LockFileEx` on Windows) on a
//!   per-key lease file, held while the file is open: when the holder releases it, or dies, the
//!   operating system frees it at once and another process takes over. The lease's `ttl` is
//!   therefore not needed to recover from a dead holder, and a holder's fetch is bounded by the
//!   cache's fetch deadline;
//! - a lease is also refused when the token file changed since this store last read it: the
//!   process that just stored a token and released the lease has done the fetch, and the caller
//!   should read that token rather than fetch again. (The cache also looks at the store once
//!   more after taking a lease; this keeps the single flight for any other caller of the store.)
//! - a failed fetch and the time of the next allowed attempt are shared in a per-key failure
//!   file, so that processes back off together instead of each trying the endpoint;
//! - every file is opened without following symlinks and without blocking, and only regular
//!   files are used: a FIFO or a device in a token file's place reads as no token at once;
//! - the folder must belong to this user and not be writable by others (checked for a folder
//!   that already exists too), else [`FileStore::new`] refuses it, naming it;
//! - [`wait_for_change`](TokenStore::wait_for_change) polls (the trait's default: the cache
//!   waits growing, jittered intervals).
//!
//! The files hold access tokens in clear: keep the folder private, as the CLI's default one is.
//! Keys are never secrets; the `config` module's profiles key their files by profile name
//! and credential, including a digest of the secret, so a rotated secret never finds the old
//! token.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tokensource::file_store::FileStore;
//! use tokensource::{CachedTokenSource, Error, Token, TokenSource, from_fn};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let store = Arc::new(FileStore::new(dir.path().join("tokens")).unwrap());
//! let fetch = || async {
//!     Token::builder("fetched-once")
//!         .expires_in(Duration::from_secs(3600))
//!         .build()
//!         .map_err(Error::from)
//! };
//! let first = CachedTokenSource::builder(from_fn("demo", fetch))
//!     .store(store.clone(), "my-credential")
//!     .build();
//! first.token().await?;
//!
//! // Another cache (in practice, another process) finds the token on disk.
//! let second = CachedTokenSource::builder(from_fn("demo", || async {
//!     Err::<Token, _>(Error::unavailable("demo", "not called"))
//! }))
//! .store(store, "my-credential")
//! .build();
//! assert_eq!(second.token().await?.expose_secret(), "fetched-once");
//! # Ok::<(), Error>(())
//! # }).unwrap();
//! ```

mod disk;

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::Token;
use crate::async_trait;
use crate::store::{FleetFailure, Lease, StoreError, TokenStore};

use disk::{KeyFiles, Stamp};

/// A [`TokenStore`] keeping one file per key in a folder; see the [module docs](self).
///
/// Cloning it is cheap and the clones share their leases.
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    /// The leases this store holds: each keeps its key's lease file open, and so locked.
    leases: Mutex<HashMap<String, HeldLease>>,
    /// The version of each key's token file that the last [`get`](TokenStore::get) read.
    seen: Mutex<HashMap<String, Option<Stamp>>>,
}

struct HeldLease {
    lease: Lease,
    _file: File,
}

impl FileStore {
    /// A store in `dir`, which is created (with mode 0700, as are missing parents) if absent.
    ///
    /// # Errors
    /// When the folder cannot be created, the path exists and is not a folder, or (on Unix) the
    /// folder belongs to another user or others may write to it: they could read or replace
    /// the tokens. The error names the folder.
    pub fn new(dir: impl Into<PathBuf>) -> Result<FileStore, StoreError> {
        let dir = dir.into();
        disk::create_dir(&dir).map_err(|e| {
            let message = format!("the cache folder {} cannot be used: {e}", dir.display());
            match e {
                disk::DirError::Io(source) => StoreError::with_source(message, source),
                _ => StoreError::new(message),
            }
        })?;
        Ok(FileStore {
            inner: Arc::new(Inner {
                dir,
                leases: Mutex::new(HashMap::new()),
                seen: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The folder the token files are in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    fn files(&self, key: &str) -> KeyFiles {
        KeyFiles::new(&self.inner.dir, key)
    }

    /// Runs blocking file work off the async runtime's worker threads (inline when there is no
    /// tokio runtime, rather than panic).
    async fn blocking<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime
                .spawn_blocking(work)
                .await
                .map_err(|e| StoreError::with_source("a file operation did not finish", e)),
            Err(_) => Ok(work()),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section is a single map operation, so a poisoned map is still consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn io_error(what: &str, path: &Path, error: std::io::Error) -> StoreError {
    StoreError::with_source(format!("{what} {} ({error})", path.display()), error)
}

#[async_trait]
impl TokenStore for FileStore {
    fn name(&self) -> &str {
        "file"
    }

    async fn get(&self, key: &str) -> Result<Option<Token>, StoreError> {
        let files = self.files(key);
        let outcome = self.blocking(move || disk::read(&files)).await?;
        lock(&self.inner.seen).insert(key.to_owned(), outcome.stamp);
        Ok(outcome.token)
    }

    async fn put(&self, key: &str, token: &Token) -> Result<(), StoreError> {
        let files = self.files(key);
        let token = token.clone();
        let written = self
            .blocking(move || {
                disk::put(&files, &token)
                    .map_err(|e| io_error("cannot write the token file", &files.token, e))
            })
            .await??;
        if let Some(stamp) = written {
            // This store's own write is no news to it (see `try_lease`).
            lock(&self.inner.seen).insert(key.to_owned(), Some(stamp));
        }
        Ok(())
    }

    async fn remove(&self, key: &str, token: &Token) -> Result<(), StoreError> {
        let files = self.files(key);
        let token = token.clone();
        self.blocking(move || {
            disk::remove(&files, &token)
                .map_err(|e| io_error("cannot remove the token file", &files.token, e))
        })
        .await?
    }

    /// Takes the lease by locking the key's lease file. `ttl` is not used: the operating system
    /// frees the lock as soon as its holder releases it or dies.
    ///
    /// A lease is also refused (`Ok(None)`, as if it were held) when the token file changed since
    /// this store's last [`get`](TokenStore::get) of the key: another process has just published
    /// a token and released its lease, and the caller should read that token rather than fetch
    /// a second one.
    async fn try_lease(&self, key: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let _ = ttl;
        if lock(&self.inner.leases).contains_key(key) {
            return Ok(None);
        }
        let files = self.files(key);
        let seen = lock(&self.inner.seen).get(key).copied();
        let locked = self
            .blocking(move || {
                let Some(file) = disk::try_lock_lease(&files)
                    .map_err(|e| io_error("cannot lock the lease file", &files.lease, e))?
                else {
                    return Ok(None);
                };
                match seen {
                    // Dropping the file releases the lock.
                    Some(seen) if disk::stamp(&files) != seen => Ok(None),
                    _ => Ok(Some(file)),
                }
            })
            .await??;
        let Some(file) = locked else {
            return Ok(None);
        };
        let mut leases = lock(&self.inner.leases);
        if leases.contains_key(key) {
            // Another task of this process took it meanwhile (possible only where file locks
            // are per process, as when `flock` is emulated with `fcntl`); keep theirs.
            return Ok(None);
        }
        let lease = Lease::random();
        leases.insert(
            key.to_owned(),
            HeldLease {
                lease: lease.clone(),
                _file: file,
            },
        );
        Ok(Some(lease))
    }

    async fn failure(&self, key: &str) -> Result<Option<FleetFailure>, StoreError> {
        let files = self.files(key);
        self.blocking(move || disk::read_failure(&files)).await
    }

    async fn record_failure(&self, key: &str, failure: &FleetFailure) -> Result<(), StoreError> {
        let files = self.files(key);
        let failure = failure.clone();
        self.blocking(move || {
            disk::write_failure(&files, &failure)
                .map_err(|e| io_error("cannot write the failure file", &files.failure, e))
        })
        .await?
    }

    async fn clear_failure(&self, key: &str) -> Result<(), StoreError> {
        let files = self.files(key);
        self.blocking(move || {
            disk::remove_failure(&files)
                .map_err(|e| io_error("cannot remove the failure file", &files.failure, e))
        })
        .await?
    }

    async fn release(&self, key: &str, lease: &Lease) -> Result<(), StoreError> {
        let released = {
            let mut leases = lock(&self.inner.leases);
            match leases.get(key) {
                Some(held) if held.lease == *lease => leases.remove(key),
                _ => None,
            }
        };
        // Closing the lease file unlocks it.
        drop(released);
        Ok(())
    }
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.inner.dir)
            .field("leases_held", &lock(&self.inner.leases).len())
            .finish()
    }
}

#[cfg(test)]
mod tests;
