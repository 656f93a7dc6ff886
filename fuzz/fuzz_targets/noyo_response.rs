//! Noyo's token response parser, on any bytes: a token that is a legal header value with a
//! bounded lifetime, or an invalid-response error; never a panic.
#![no_main]

use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use tokensource_core::ErrorKind;
use tokensource_core::lifetime::MAX_LIFETIME;
use tokensource_noyo::parse_token_response;

fuzz_target!(|body: &[u8]| {
    match parse_token_response(body, SystemTime::now()) {
        Ok(token) => {
            assert!(token.expose_secret().bytes().all(|b| b.is_ascii_graphic()));
            assert_eq!(token.token_type(), "Bearer");
            assert!(token.lifetime().is_none_or(|l| l <= MAX_LIFETIME));
        }
        Err(error) => assert_eq!(error.kind(), ErrorKind::InvalidResponse),
    }
});
