//! Swapping providers without code changes: the same program, run against two configuration
//! files, talks to two different vendors.
//!
//! `cargo run --example config_swap -- path/to/tokensource.toml [profile]` runs it against your
//! file; without arguments it runs against two files it writes itself, for a Younium mock and an
//! OAuth2 client-credentials mock.

use std::error::Error;
use std::path::Path;

use tokensource::config::Config;
use tokensource::reqwest_middleware::ClientBuilder;
use tokensource_testkit::{MockServer, OAuth2Mock, YouniumMock};

/// The whole "application": it knows nothing of providers. It reads a configuration, picks a
/// profile, and calls an API with it.
async fn application(
    config_path: &Path,
    profile: Option<&str>,
    api_url: &str,
) -> Result<(), Box<dyn Error>> {
    let config = Config::load(config_path)?;
    let profile = config.build(config.select_profile(profile)?)?;
    // The API's base URL names the origin that gets credentials.
    let middleware = profile
        .auth_rules()?
        .allow_origin(api_url)?
        .build()?
        .middleware();
    let client = ClientBuilder::new(tokensource::reqwest::Client::new())
        .with(middleware)
        .build();
    let status = client.get(api_url).send().await?.status();
    println!(
        "  {} -> profile {:?} uses provider {:?}; the API answered {status}",
        config_path.display(),
        profile.name(),
        profile.provider()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(path) = args.first() {
        let api = std::env::var("API_URL").map_err(|_| "set API_URL to the API to call")?;
        return application(Path::new(path), args.get(1).map(String::as_str), &api).await;
    }

    let younium = MockServer::younium(YouniumMock::new("y-id", "y-secret"))
        .start()
        .await;
    let partner = MockServer::oauth2(OAuth2Mock::new("p-id", "p-secret"))
        .start()
        .await;
    let dir = std::env::temp_dir().join(format!("tokensource-config-swap-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("partner-secret.txt"), "p-secret\n")?;

    let younium_file = dir.join("younium.toml");
    std::fs::write(
        &younium_file,
        format!(
            "[profiles.main]\nprovider = \"younium\"\nclient_id = \"y-id\"\nsecret = \"y-secret\"\ntoken_url = \"{}\"\n",
            younium.token_url()
        ),
    )?;
    let partner_file = dir.join("partner.toml");
    std::fs::write(
        &partner_file,
        format!(
            "[profiles.main]\nprovider = \"client-credentials\"\ntoken_url = \"{}\"\nclient_id = \"p-id\"\nclient_secret = {{ file = \"partner-secret.txt\" }}\n",
            partner.token_url()
        ),
    )?;

    println!("The same application, two configuration files:");
    application(&younium_file, None, &younium.api_url()).await?;
    application(&partner_file, None, &partner.api_url()).await?;
    println!(
        "Token requests: Younium mock {}, OAuth2 mock {}",
        younium.token_hits(),
        partner.token_hits()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
