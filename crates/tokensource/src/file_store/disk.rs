//! The blocking file operations behind [`FileStore`](super::FileStore), one key's files at a time.
//!
//! Each key has three files in the folder, named after the key (or, for a key that is not a
//! plain lowercase name, after its SHA-256):
//! - `<stem>.token`: the encoded token, mode 0600, replaced atomically (temporary file + rename);
//! - `<stem>.lease`: locked exclusively by the process fetching a token for everyone;
//! - `<stem>.lock`: locked briefly around read-compare-write, so that put-if-newer and
//!   compare-and-delete are atomic across processes;
//! - `<stem>.failure`: the last failed fetch and the time of the next allowed attempt, shared
//!   so that processes back off together (mode 0600, replaced atomically).
//!
//! Every file is opened without following symlinks and without blocking (a FIFO or a device put
//! in a token file's place cannot hang a reader), and only regular files are used.
//!
//! Lock files are never deleted: a process could otherwise lock a file that another has just
//! unlinked, and two processes would each hold "the" lock.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use crate::Token;
use crate::extend::{decode, encode, expires_later};
use crate::store::FleetFailure;

/// The largest token file read or written. An access token is at most 16 KiB; the rest of a
/// record is a refresh token, scopes and a few numbers.
pub(super) const MAX_FILE_LEN: u64 = 256 * 1024;

/// How long a put or remove waits for another process's short read-compare-write lock before
/// giving up (the cache then carries on with the token in memory).
const WRITE_LOCK_WAIT: Duration = Duration::from_secs(2);

/// The longest key used as a file name as it is; longer keys are hashed.
const MAX_PLAIN_KEY_LEN: usize = 100;

/// The paths of one key's files.
#[derive(Debug, Clone)]
pub(super) struct KeyFiles {
    dir: PathBuf,
    stem: String,
    pub(super) token: PathBuf,
    pub(super) lease: PathBuf,
    lock: PathBuf,
    pub(super) failure: PathBuf,
}

impl KeyFiles {
    pub(super) fn new(dir: &Path, key: &str) -> Self {
        let stem = file_stem(key);
        KeyFiles {
            dir: dir.to_path_buf(),
            token: dir.join(format!("{stem}.token")),
            lease: dir.join(format!("{stem}.lease")),
            lock: dir.join(format!("{stem}.lock")),
            failure: dir.join(format!("{stem}.failure")),
            stem,
        }
    }
}

/// The file name stem for `key`: `k-<key>` for a short key of lowercase letters, digits, `-` and
/// `_` (safe on every file system, case-insensitive ones included), else `h-<sha256 of key>`.
/// The prefixes keep the two forms from ever colliding.
pub(super) fn file_stem(key: &str) -> String {
    let plain = !key.is_empty()
        && key.len() <= MAX_PLAIN_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if plain {
        format!("k-{key}")
    } else {
        let digest = Sha256::digest(key.as_bytes());
        let hex = hex::encode(digest);
        format!("h-{hex}")
    }
}

/// One version of the token file: a rename gives it a new inode, a write a new time and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl Stamp {
    fn of(metadata: &fs::Metadata) -> Self {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(metadata);
        #[cfg(not(unix))]
        let inode = 0;
        Stamp {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            inode,
        }
    }
}

/// The current version of the token file (`None` when there is none).
pub(super) fn stamp(files: &KeyFiles) -> Option<Stamp> {
    fs::symlink_metadata(&files.token)
        .ok()
        .map(|m| Stamp::of(&m))
}

/// Why a cache folder cannot be used.
#[derive(Debug)]
pub(super) enum DirError {
    /// It cannot be created or examined.
    Io(io::Error),
    /// It is not a folder.
    NotAFolder,
    /// It belongs to another user (who could read or replace the tokens in it).
    ForeignOwner { owner: u32, me: u32 },
    /// Others may write to it (and so swap files in it).
    Writable { mode: u32 },
}

impl From<io::Error> for DirError {
    fn from(error: io::Error) -> Self {
        DirError::Io(error)
    }
}

impl std::fmt::Display for DirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DirError::Io(error) => write!(f, "{error}"),
            DirError::NotAFolder => f.write_str("it exists and is not a folder"),
            DirError::ForeignOwner { owner, me } => write!(
                f,
                "it belongs to user {owner}, not to this user ({me}), who could read or \
                 replace the tokens in it"
            ),
            DirError::Writable { mode } => write!(
                f,
                "it is writable by others (mode {mode:03o}), who could replace the tokens in \
                 it; make it private (chmod 700)"
            ),
        }
    }
}

/// Creates `dir` (and its missing parents) with mode 0700 if it does not exist, then checks
/// that the folder (new or existing) belongs to this user and that nobody else may write to it.
pub(super) fn create_dir(dir: &Path) -> Result<(), DirError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    let metadata = fs::metadata(dir)?;
    if !metadata.is_dir() {
        return Err(DirError::NotAFolder);
    }
    check_private_dir(&metadata)
}

#[cfg(unix)]
fn check_private_dir(metadata: &fs::Metadata) -> Result<(), DirError> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    if metadata.uid() != me {
        return Err(DirError::ForeignOwner {
            owner: metadata.uid(),
            me,
        });
    }
    let mode = metadata.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(DirError::Writable { mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_dir(metadata: &fs::Metadata) -> Result<(), DirError> {
    // Windows folders are private through their ACLs, which the user profile's defaults set.
    let _ = metadata;
    Ok(())
}

/// Opens `path` for reading without following a symlink and without blocking (a FIFO opens at
/// once instead of waiting for a writer); the caller checks that it is a regular file.
fn open_for_reading(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    no_follow_no_block(&mut options);
    options.open(path)
}

fn no_follow_no_block(options: &mut OpenOptions) {
    #[cfg(unix)]
    {
        use rustix::fs::OFlags;
        use std::os::unix::fs::OpenOptionsExt;
        let flags = (OFlags::NOFOLLOW | OFlags::NONBLOCK).bits();
        options.custom_flags(i32::try_from(flags).unwrap_or(0));
    }
    #[cfg(not(unix))]
    let _ = options;
}

/// What reading the token file found.
#[derive(Debug)]
pub(super) struct ReadOutcome {
    /// The token, if the file holds a trustworthy one.
    pub(super) token: Option<Token>,
    /// The version of the file read.
    pub(super) stamp: Option<Stamp>,
}

/// Reads the token file. Anything but a readable regular file, private to its owner, within the
/// size cap and holding a token record reads as no token: such a file is never trusted, and the
/// next put replaces it.
pub(super) fn read(files: &KeyFiles) -> ReadOutcome {
    let absent = || ReadOutcome {
        token: None,
        stamp: stamp(files),
    };
    let Ok(mut file) = open_for_reading(&files.token) else {
        return absent();
    };
    let (Ok(metadata), Ok(link)) = (file.metadata(), fs::symlink_metadata(&files.token)) else {
        return absent();
    };
    let stamp = Some(Stamp::of(&link));
    let token = if same_file(&metadata, &link) && trusted(&metadata) {
        read_capped(&mut file).and_then(|bytes| decode(&bytes).ok())
    } else {
        None
    };
    ReadOutcome { token, stamp }
}

/// Whether the file opened is the directory entry itself: not the target of a symlink (and not
/// a file swapped in between the two looks).
fn same_file(opened: &fs::Metadata, entry: &fs::Metadata) -> bool {
    if entry.file_type().is_symlink() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        opened.dev() == entry.dev() && opened.ino() == entry.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = opened;
        true
    }
}

/// Whether a token file may be trusted: a regular file (not a symlink, a folder or a device)
/// that only its owner can read and write. Every file this store writes is mode 0600; a looser
/// file was written or changed by something else.
fn trusted(metadata: &fs::Metadata) -> bool {
    if !metadata.is_file() || metadata.len() > MAX_FILE_LEN {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if metadata.permissions().mode() & 0o077 != 0 {
            return false;
        }
    }
    true
}

/// Reads at most [`MAX_FILE_LEN`] bytes; `None` if the file is longer (it may have grown since
/// its metadata was read) or cannot be read.
fn read_capped(file: &mut File) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    let mut bytes = zeroize::Zeroizing::new(Vec::new());
    file.take(MAX_FILE_LEN + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= MAX_FILE_LEN).then_some(bytes)
}

/// Stores `token` unless the file already holds a token that expires later; returns the version
/// of the file written, if it wrote one.
pub(super) fn put(files: &KeyFiles, token: &Token) -> io::Result<Option<Stamp>> {
    let bytes = encode(token);
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the token record is too large to cache",
        ));
    }
    let _lock = lock_for_write(files)?;
    if let Some(stored) = read(files).token
        && !expires_later(token, &stored)
    {
        return Ok(None);
    }
    write_atomically(files, &bytes, &files.token).map(Some)
}

/// Removes the token file if it still holds `token`.
pub(super) fn remove(files: &KeyFiles, token: &Token) -> io::Result<()> {
    let _lock = lock_for_write(files)?;
    match read(files).token {
        Some(stored) if stored.same_secret(token) => match fs::remove_file(&files.token) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Tries to lock the key's lease file; `Ok(None)` when another holder has it. The lease lasts
/// as long as the returned file is open: the operating system releases it when the file is
/// closed, including when the process dies.
pub(super) fn try_lock_lease(files: &KeyFiles) -> io::Result<Option<File>> {
    let file = open_lock_file(&files.lease)?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(Some(file)),
        Err(fs4::TryLockError::WouldBlock) => Ok(None),
        Err(fs4::TryLockError::Error(e)) => Err(e),
    }
}

/// Takes the short read-compare-write lock, waiting at most [`WRITE_LOCK_WAIT`] (a process
/// stopped while holding it must not hang this one). Dropping the file releases it.
fn lock_for_write(files: &KeyFiles) -> io::Result<File> {
    let file = open_lock_file(&files.lock)?;
    let deadline = Instant::now() + WRITE_LOCK_WAIT;
    loop {
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => return Ok(file),
            Err(fs4::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(fs4::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "another process held the token file's lock too long",
                ));
            }
            Err(fs4::TryLockError::Error(e)) => return Err(e),
        }
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    private(&mut options);
    no_follow_no_block(&mut options);
    let file = options.open(path)?;
    if file.metadata()?.is_file() {
        Ok(file)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the lock file is not a regular file",
        ))
    }
}

/// Reads the shared failure record; `None` for anything but a private regular file holding
/// one.
pub(super) fn read_failure(files: &KeyFiles) -> Option<FleetFailure> {
    let mut file = open_for_reading(&files.failure).ok()?;
    let metadata = file.metadata().ok()?;
    let link = fs::symlink_metadata(&files.failure).ok()?;
    if !(same_file(&metadata, &link) && trusted(&metadata)) {
        return None;
    }
    FleetFailure::decode(&read_capped(&mut file)?)
}

/// Replaces the shared failure record.
pub(super) fn write_failure(files: &KeyFiles, failure: &FleetFailure) -> io::Result<()> {
    write_atomically(files, &failure.encode(), &files.failure).map(|_| ())
}

/// Removes the shared failure record, if there is one.
pub(super) fn remove_failure(files: &KeyFiles) -> io::Result<()> {
    match fs::remove_file(&files.failure) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Writes `bytes` to a new private file in the folder and renames it over `target`, so that a
/// reader sees the old content or the new, never a part. (`tempfile` creates the file mode 0600
/// with a random name, and removes it if anything fails before the rename.)
fn write_atomically(files: &KeyFiles, bytes: &[u8], target: &Path) -> io::Result<Stamp> {
    let mut file = tempfile::Builder::new()
        .prefix(&format!(".{}.", files.stem))
        .suffix(".tmp")
        .tempfile_in(&files.dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    // A rename keeps the inode, the length and the modification time.
    let stamp = Stamp::of(&file.as_file().metadata()?);
    file.persist(target).map_err(|e| e.error)?;
    Ok(stamp)
}

/// Files this store creates are readable and writable by their owner only.
fn private(options: &mut OpenOptions) {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    #[cfg(not(unix))]
    let _ = options;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_safe_and_distinct() {
        assert_eq!(file_stem("abc-123_x"), "k-abc-123_x");
        for key in [
            "",
            "ABC",
            "../../etc/passwd",
            "a/b",
            "a b",
            "é",
            &"a".repeat(101),
        ] {
            let stem = file_stem(key);
            assert!(
                stem.starts_with("h-") && stem.len() == 66,
                "{key:?} -> {stem}"
            );
        }
        assert_ne!(file_stem("Abc"), file_stem("aBc"));
        // A plain key that looks like a hash cannot collide with a hashed key.
        let hashed = file_stem("A");
        assert_ne!(file_stem(&hashed), hashed);
    }
}
