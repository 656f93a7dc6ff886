//! Quickstart: a cached token source over a closure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokensource::{CachedTokenSource, Error, Token, TokenSource, from_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&fetches);
    let source = CachedTokenSource::new(from_fn("quickstart", move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            Token::builder(format!("token-{n}"))
                .expires_in(Duration::from_secs(3600))
                .build()
                .map_err(|e| Error::invalid_response("quickstart", e.to_string()))
        }
    }));
    for _ in 0..1000 {
        source.token().await?;
    }
    println!("1000 calls, {} fetch", fetches.load(Ordering::SeqCst));
    Ok(())
}
