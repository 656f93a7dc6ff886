//! The stored-token record (the disk cache's file and, once decrypted, the Redis value): any bytes
//! decode to a valid token or an error, never a panic, and what decodes re-encodes to the same token.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokensource_core::lifetime::MAX_LIFETIME;
use tokensource_core::store::{decode, encode};

fuzz_target!(|bytes: &[u8]| {
    let Ok(token) = decode(bytes) else { return };
    assert!(token.expose_secret().bytes().all(|b| b.is_ascii_graphic()));
    assert!(token.lifetime().is_none_or(|l| l <= MAX_LIFETIME));
    let _ = token.expires_at();
    let again = decode(&encode(&token)).expect("an encoded token decodes");
    assert_eq!(again.expose_secret(), token.expose_secret());
    assert_eq!(again.token_type(), token.token_type());
    // The record keeps whole milliseconds: a lifetime (from a JWT's fractional `exp`, say) loses
    // its sub-millisecond part, never growing.
    match (again.lifetime(), token.lifetime()) {
        (Some(again), Some(first)) => {
            assert!(again <= first && first - again < Duration::from_millis(1));
        }
        (again, first) => assert_eq!(again, first),
    }
    assert_eq!(again.issued_at(), token.issued_at());
    assert_eq!(again.scopes(), token.scopes());
});
