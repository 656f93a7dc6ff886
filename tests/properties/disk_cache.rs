//! The disk cache: whatever bytes sit in a token file (corrupt, truncated, foreign, hostile), the
//! file store reads a valid token or none, never panics, and the next put replaces the file;
//! every token it writes reads back the same. Also the stored record itself (`store::decode`)
//! on arbitrary JSON objects, beyond core's arbitrary-bytes property.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use tokensource::Token;
use tokensource::extend::lifetime::MAX_LIFETIME;
use tokensource::extend::{decode, encode, expires_later};
use tokensource::file_store::FileStore;
use tokensource::store::TokenStore;

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn any_token() -> impl Strategy<Value = Token> {
    (
        "[!-~]{1,100}",
        0u64..4_000_000_000_000,
        proptest::option::of(0u64..100_000_000_000),
        proptest::option::of("[!-~]{1,30}"),
        prop::collection::vec("[ -~]{0,10}", 0..3),
    )
        .prop_map(|(secret, issued_ms, lifetime_ms, refresh, scopes)| {
            let mut builder = Token::builder(secret)
                .issued_at(UNIX_EPOCH + Duration::from_millis(issued_ms))
                .scopes(scopes);
            if let Some(ms) = lifetime_ms {
                builder = builder.expires_in(Duration::from_millis(ms));
            }
            if let Some(refresh) = refresh {
                builder = builder.refresh_token(refresh);
            }
            builder.build().unwrap()
        })
}

fn assert_same(a: &Token, b: &Token) {
    assert_eq!(a.expose_secret(), b.expose_secret());
    assert_eq!(a.token_type(), b.token_type());
    assert_eq!(a.lifetime(), b.lifetime());
    assert_eq!(a.issued_at(), b.issued_at());
    assert_eq!(a.scopes(), b.scopes());
    assert_eq!(
        a.refresh_token().map(ExposeSecret::expose_secret),
        b.refresh_token().map(ExposeSecret::expose_secret)
    );
}

/// The file in `dir` that holds `secret`: the store's token file, whatever it is named.
fn token_file(dir: &Path, secret: &str) -> PathBuf {
    // The record is JSON: look for the secret as JSON writes it.
    let quoted = serde_json::to_string(secret).unwrap();
    let secret = &quoted[1..quoted.len() - 1];
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            std::fs::read(path)
                .is_ok_and(|bytes| bytes.windows(secret.len()).any(|w| w == secret.as_bytes()))
        })
        .expect("the store wrote a file holding the token")
}

/// Replaces `path`'s content, keeping it private (mode 0600), as a hostile or broken writer might.
fn overwrite(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// Bytes a token file might hold: anything, a record with fields of any type, or a real record
/// cut short.
fn any_file_content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        any_record().prop_map(|v| v.to_string().into_bytes()),
        (any_token(), any::<prop::sample::Index>()).prop_map(|(token, cut)| {
            let bytes = encode(&token).to_vec();
            let end = cut.index(bytes.len() + 1);
            bytes[..end].to_vec()
        }),
    ]
}

/// A JSON object over the stored record's fields, each of any type.
fn any_record() -> impl Strategy<Value = Value> {
    let value = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        (0u8..3).prop_map(Value::from),
        "[ -~]{0,20}".prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
        Just(Value::from("Bearer")),
        prop::collection::vec(".{0,5}".prop_map(Value::from), 0..3).prop_map(Value::from),
    ];
    let field = prop_oneof![
        Just("v"),
        Just("access_token"),
        Just("token_type"),
        Just("issued_at_ms"),
        Just("lifetime_ms"),
        Just("refresh_token"),
        Just("scopes"),
        Just("other"),
    ];
    prop::collection::vec((field, value), 0..8).prop_map(|fields| {
        let object: Map<String, Value> =
            fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        Value::Object(object)
    })
}

proptest! {
    /// Records with fields of any type decode to a valid token or an error, never a panic.
    #[test]
    fn records_of_any_shape_never_panic(record in any_record()) {
        if let Ok(token) = decode(record.to_string().as_bytes()) {
            prop_assert!(token.expose_secret().bytes().all(|b| b.is_ascii_graphic()));
            prop_assert!(token.lifetime().is_none_or(|l| l <= MAX_LIFETIME));
            let _ = token.expires_at();
        }
    }

    /// Any valid token, encoded and decoded, is the same token.
    #[test]
    fn records_round_trip(token in any_token()) {
        let back = decode(&encode(&token)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        assert_same(&token, &back);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the token file holds, `get` gives a valid token or none (never a panic, never
    /// an error), and the next `put` replaces it.
    #[test]
    fn any_token_file_reads_as_a_token_or_none(
        first in any_token(),
        content in any_file_content(),
        next in any_token(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("cache")).unwrap();
        block_on(async {
            store.put("key", &first).await.unwrap();
            let file = token_file(store.dir(), first.expose_secret());
            overwrite(&file, &content);

            // A new store, as another process would be.
            let reader = FileStore::new(store.dir()).unwrap();
            let read = reader.get("key").await.expect("a broken file is no token, not an error");
            match (read, decode(&content)) {
                (Some(token), Ok(decoded)) => assert_same(&token, &decoded),
                (None, Err(_)) => {}
                (read, decoded) => panic!("read {read:?}, decode says {decoded:?}"),
            }

            // An unreadable file is replaced; a valid one by a token that expires later.
            let next = Token::builder(next.expose_secret())
                .issued_at(SystemTime::now())
                .expires_in(MAX_LIFETIME)
                .build()
                .unwrap();
            reader.put("key", &next).await.unwrap();
            let stored = reader.get("key").await.unwrap().expect("the put token is there");
            // `put` keeps the stored token only when it is valid and the new one does not
            // expire later.
            let expected = match decode(&content) {
                Ok(old) if !expires_later(&next, &old) => old,
                _ => next,
            };
            prop_assert_eq!(stored.expose_secret(), expected.expose_secret());
            Ok(())
        })?;
    }

    /// Every token put is read back, by another store over the same folder, as the same token.
    #[test]
    fn tokens_round_trip_through_the_disk(token in any_token(), key in "[a-zA-Z0-9:/._-]{1,120}") {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path()).unwrap();
        block_on(async {
            store.put(&key, &token).await.unwrap();
            let other = FileStore::new(dir.path()).unwrap();
            let back = other.get(&key).await.unwrap().expect("the token is on disk");
            assert_same(&token, &back);
        });
    }
}
