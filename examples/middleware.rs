//! The reqwest middleware on its own: header injection, the origin rule, and one replay after a 401.
//!
//! Run with `cargo run --example middleware`.

use std::error::Error;
use std::sync::Arc;

use tokensource::client_credentials::ClientCredentialsTokenSource;
use tokensource::middleware::{AuthRules, token_error};
use tokensource::reqwest_middleware::ClientBuilder;
use tokensource::{CachedTokenSource, TokenSource};
use tokensource_testkit::{MockServer, OAuth2Mock};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let server = MockServer::oauth2(OAuth2Mock::new("client", "secret"))
        .start()
        .await;
    let other = MockServer::oauth2(OAuth2Mock::new("someone-else", "theirs"))
        .start()
        .await;

    // A provider, cached, as the `Arc<dyn TokenSource>` the middleware takes.
    let provider =
        ClientCredentialsTokenSource::builder(server.token_url(), "client", "secret").build()?;
    let source: Arc<dyn TokenSource> = Arc::new(CachedTokenSource::new(provider));

    // Credentials go to the named origins only.
    let middleware = AuthRules::builder(Arc::clone(&source))
        .allow_origin(&server.uri())?
        .build()?
        .middleware();
    let client = ClientBuilder::new(tokensource::reqwest::Client::new())
        .with(middleware)
        .build();

    for _ in 0..10 {
        client
            .get(server.api_url())
            .send()
            .await?
            .error_for_status()?;
    }
    println!("10 API calls, {} token request(s)", server.token_hits());

    let status = client.get(other.api_url()).send().await?.status();
    let carried = other
        .api_requests()
        .last()
        .is_some_and(|r| r.header("authorization").is_some());
    println!("another origin answered {status}; the request carried a token: {carried}");

    server.revoke_all();
    let status = client.get(server.api_url()).send().await?.status();
    println!(
        "after the token was revoked: {status}, {} token request(s) in all (one refetch, one replay)",
        server.token_hits()
    );

    // When the token source fails, the error comes back typed: here the API refuses the token
    // (401), the middleware drops it, and the token endpoint refuses the credentials.
    server.fail_always(tokensource_testkit::Fault::RejectCredentials);
    server.revoke_all();
    match client.get(server.api_url()).send().await {
        Err(error) => match token_error(&error) {
            Some(token_error) => {
                println!("token error, kind {:?}: {token_error}", token_error.kind())
            }
            None => println!("transport error: {error}"),
        },
        Ok(response) => println!("answered {}", response.status()),
    }
    Ok(())
}
