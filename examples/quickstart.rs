//! Quickstart: three vendors' token protocols, one configuration file, one way to call their APIs.
//!
//! Starts the test kit's mock token servers for Younium, a standard OAuth2 client-credentials
//! server and Noyo on loopback (no network needed), builds a cached token source for each from a
//! TOML snippet, makes authenticated API requests through the reqwest middleware, and prints what
//! happened: token fetches, cache hits, and the recovery from a 401. Last, a profile whose
//! provider is a program that prints a token.
//!
//! Run with `cargo run --example quickstart`.

use std::error::Error;

use tokensource::config::Config;
use tokensource::reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use tokensource_testkit::{MockServer, NoyoMock, OAuth2Mock, YouniumMock};

/// API requests made per provider, all at once.
const REQUESTS: usize = 50;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // 1. The vendors, played by mock servers that check requests as the real ones would.
    let younium = MockServer::younium(
        YouniumMock::new("acme-integration", "younium-secret").require_legal_entity("Acme AB"),
    )
    .start()
    .await;
    let partner = MockServer::oauth2(
        OAuth2Mock::new("partner-client", "s3cr:t+%&=").allowed_scopes(["read", "write"]),
    )
    .start()
    .await;
    let noyo = MockServer::noyo(NoyoMock::new("noyo-client", "noyo-secret"))
        .start()
        .await;

    // 2. One configuration file. Secrets may also come from { env = "VAR" } or { file = "path" };
    //    token_url and api_base_url point at the mocks instead of the vendors' hosts.
    let config = Config::from_toml(&format!(
        r#"
default_profile = "younium"

[profiles.younium]
provider = "younium"
environment = "sandbox"
client_id = "acme-integration"
secret = "younium-secret"
token_url = "{younium_token}"
api_base_url = "{younium_api}"
legal_entity = "Acme AB"
api_version = "2.1"

[profiles.partner]
provider = "client-credentials"
token_url = "{partner_token}"
client_id = "partner-client"
client_secret = "s3cr:t+%&="
scopes = ["read", "write"]

[profiles.noyo]
provider = "noyo"
client_id = "noyo-client"
client_secret = "noyo-secret"
token_url = "{noyo_token}"
"#,
        younium_token = younium.token_url(),
        younium_api = younium.uri(),
        partner_token = partner.token_url(),
        noyo_token = noyo.token_url(),
    ))?;

    // 3. Each profile: a cached token source plus an HTTP client that authenticates with it.
    println!("{REQUESTS} concurrent API requests per provider:");
    let mut clients = Vec::new();
    for (name, server) in [
        ("younium", &younium),
        ("partner", &partner),
        ("noyo", &noyo),
    ] {
        let profile = config.build(name)?;
        let middleware = profile
            .auth_rules()?
            .allow_origin(&server.uri())?
            .build()?
            .middleware();
        let client = ClientBuilder::new(tokensource::reqwest::Client::new())
            .with(middleware)
            .build();
        let ok = call_api_concurrently(&client, &server.api_url(), REQUESTS).await?;
        println!(
            "  {name:<8} ({:<18}) {ok}/{REQUESTS} answered 200; the token endpoint was hit {} time(s)",
            profile.provider(),
            server.token_hits(),
        );
        clients.push((name, client, server));
    }

    // 4. A token revoked at the server: the API answers 401, the middleware drops exactly that
    //    token, fetches a new one and replays the request once.
    let (_, younium_client, _) = &clients[0];
    younium.revoke_all();
    let before = younium.token_hits();
    let status = younium_client.get(younium.api_url()).send().await?.status();
    println!(
        "401 recovery: the Younium token was revoked; the request still got {status} after {} new token fetch(es)",
        younium.token_hits() - before
    );

    // 5. Credentials stay with their origin: the Younium client calling another host sends no token.
    let status = younium_client.get(noyo.api_url()).send().await?.status();
    let leaked = noyo
        .api_requests()
        .last()
        .is_some_and(|request| request.header("authorization").is_some());
    println!(
        "origin rule: a Younium-authenticated client calling another origin got {status}, Authorization sent: {leaked}"
    );
    if leaked {
        return Err("the token was sent to another origin".into());
    }

    // 6. Headers Younium requires ride along on every request.
    let last = younium
        .api_requests()
        .last()
        .map(|request| {
            format!(
                "legal-entity: {}, api-version: {}",
                request.header("legal-entity").unwrap_or("-"),
                request.header("api-version").unwrap_or("-")
            )
        })
        .unwrap_or_default();
    println!("Younium requests carried {last}");

    // 7. Any program that prints a token is a provider too (Vault, 1Password, gcloud, a script).
    #[cfg(unix)]
    {
        use tokensource::TokenSource;
        let config = Config::from_toml(
            r#"
[profiles.script]
provider = "command"
command = ["sh", "-c", "echo '{\"access_token\": \"printed-by-a-script\", \"expires_in\": 300}'"]
"#,
        )?;
        let source = config.build("script")?.source();
        let first = source.token().await?;
        let again = source.token().await?;
        println!(
            "command provider: a token of {} characters from a script, lifetime {:?}; the second call was served from the cache: {}",
            first.expose_secret().len(),
            first.lifetime().unwrap_or_default(),
            again.same_secret(&first)
        );
    }
    Ok(())
}

/// Sends `n` GET requests to `url` at once and counts the 200s.
async fn call_api_concurrently(
    client: &ClientWithMiddleware,
    url: &str,
    n: usize,
) -> Result<usize, Box<dyn Error>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let client = client.clone();
            let url = url.to_owned();
            tokio::spawn(async move { client.get(url).send().await })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        if task.await??.status().is_success() {
            ok += 1;
        }
    }
    Ok(ok)
}
