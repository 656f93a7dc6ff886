//! Lifetimes from the network (`lifetime_from_json`) and from JWT claims (read when a token is
//! built): never a panic, never longer than a year, never longer than the provider said.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use tokensource_core::Token;
use tokensource_core::lifetime::{LifetimeUnit, MAX_LIFETIME, lifetime_from_json};

fuzz_target!(|data: &[u8]| {
    // The first bytes choose the announced lifetime and the issue time; the rest is a payload.
    let (head, payload) = data.split_at(data.len().min(16));
    let mut numbers = [0u8; 16];
    numbers[..head.len()].copy_from_slice(head);
    let announced = Duration::from_secs(u64::from_le_bytes(numbers[..8].try_into().unwrap()));
    let issued_at = UNIX_EPOCH
        + Duration::from_millis(u64::from_le_bytes(numbers[8..].try_into().unwrap()) >> 10);

    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(payload) {
        for unit in [LifetimeUnit::Seconds, LifetimeUnit::Milliseconds] {
            if let Ok(lifetime) = lifetime_from_json(&value, unit) {
                assert!(lifetime <= MAX_LIFETIME);
            }
        }
    }

    // The payload as a JWT's claims, and the payload as the token itself.
    let jwt = format!(
        "eyJhbGciOiJub25lIn0.{}.c2ln",
        URL_SAFE_NO_PAD.encode(payload)
    );
    let raw = String::from_utf8_lossy(payload).into_owned();
    for text in [jwt, raw] {
        for announce in [false, true] {
            let mut builder = Token::builder(text.as_str()).issued_at(issued_at);
            if announce {
                builder = builder.expires_in(announced);
            }
            let Ok(token) = builder.build() else { continue };
            if let Some(lifetime) = token.lifetime() {
                assert!(lifetime <= MAX_LIFETIME);
                if announce {
                    assert!(lifetime <= announced);
                }
                let _ = token.expires_at();
            }
            let _ = token
                .jwt_expires_at()
                .map(|at| at.duration_since(SystemTime::UNIX_EPOCH));
        }
    }
});
