//! The error-body readers every provider uses on a refusal (`json_error_message`, `parse_json`)
//! and the sanitizing of the message into an `Error`: one line, capped; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokensource_core::{Error, ErrorKind};
use tokensource_http::{json_error_message, parse_json, redact};

fuzz_target!(|body: &[u8]| {
    if let Err(error) = parse_json::<serde_json::Value>("fuzz", 200, body) {
        assert_eq!(error.kind(), ErrorKind::InvalidResponse);
    }
    if let Some(message) = json_error_message(body) {
        let message = redact(message, &["s3cr3t"]);
        assert!(!message.contains("s3cr3t"));
        let error = Error::credentials_rejected("fuzz", 401, Some(message));
        let shown = error.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        // The provider's message is capped at 300 characters (and an ellipsis).
        assert!(
            error
                .provider_message()
                .is_none_or(|m| m.chars().count() <= 301)
        );
    }
});
