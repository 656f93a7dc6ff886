//! Younium's token response parser, on any bytes: a token that is a legal header value with a
//! bounded lifetime, or an invalid-response error; never a panic.
#![no_main]

use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use tokensource_core::ErrorKind;
use tokensource_core::lifetime::MAX_LIFETIME;
use tokensource_younium::{YouniumAuthVersion, parse_token_response};

fuzz_target!(|body: &[u8]| {
    for version in [YouniumAuthVersion::V1, YouniumAuthVersion::V2] {
        match parse_token_response(body, version, SystemTime::now()) {
            Ok(token) => {
                assert!(token.expose_secret().bytes().all(|b| b.is_ascii_graphic()));
                assert!(token.lifetime().is_none_or(|l| l <= MAX_LIFETIME));
                assert!(token.authorization_header().is_sensitive());
            }
            Err(error) => assert_eq!(error.kind(), ErrorKind::InvalidResponse),
        }
    }
});
