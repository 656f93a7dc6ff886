//! The OAuth2 client-credentials token response parser (oauth2's parse, then ours), on any
//! bytes: a Bearer token with a bounded lifetime, or an invalid-response error; never a panic.
#![no_main]

use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use tokensource_client_credentials::parse_token_response;
use tokensource_core::ErrorKind;
use tokensource_core::lifetime::MAX_LIFETIME;

fuzz_target!(|body: &[u8]| {
    match parse_token_response(body, SystemTime::now()) {
        Ok(token) => {
            assert!(token.expose_secret().bytes().all(|b| b.is_ascii_graphic()));
            assert_eq!(token.token_type(), "Bearer");
            assert!(token.lifetime().is_none_or(|l| l <= MAX_LIFETIME));
            assert!(token.scopes().iter().all(|s| !s.is_empty()));
        }
        Err(error) => assert_eq!(error.kind(), ErrorKind::InvalidResponse),
    }
});
