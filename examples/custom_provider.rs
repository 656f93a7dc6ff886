//! Writing your own provider: implement `TokenSource`, then use it like the built-in ones, in code
//! or by name from a configuration file.
//!
//! Run with `cargo run --example custom_provider --features config`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokensource::config::{Config, ProfileSettings, Provider, Registry};
use tokensource::{CachedTokenSource, Error, Token, TokenSource, async_trait};

/// A provider that "signs" tokens locally, as a secrets vault or an in-house issuer might.
#[derive(Debug)]
struct LocalIssuer {
    audience: String,
    issued: AtomicUsize,
}

#[async_trait]
impl TokenSource for LocalIssuer {
    async fn token(&self) -> Result<Token, Error> {
        let n = self.issued.fetch_add(1, Ordering::SeqCst);
        // A token the provider cannot build is an invalid response (`?` converts it), never a
        // panic.
        Ok(Token::builder(format!("local.{}.{n}", self.audience))
            .expires_in(Duration::from_secs(300))
            .build()?)
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // 1. In code: wrap it in the cache and share it as `Arc<dyn TokenSource>`.
    let issuer = Arc::new(LocalIssuer {
        audience: "billing".into(),
        issued: AtomicUsize::new(0),
    });
    let source: Arc<dyn TokenSource> = Arc::new(CachedTokenSource::new(Arc::clone(&issuer)));
    for _ in 0..100 {
        source.token().await?;
    }
    println!(
        "in code: 100 calls, {} token issued",
        issuer.issued.load(Ordering::SeqCst)
    );

    // 2. By name in configuration: register a factory, and `provider = "local-issuer"` works just
    //    like `provider = "younium"`.
    let mut registry = Registry::with_builtins();
    registry.register("local-issuer", |settings: &ProfileSettings<'_>| {
        let audience = settings.required_str("audience")?;
        Ok(Provider::new(LocalIssuer {
            audience: audience.to_owned(),
            issued: AtomicUsize::new(0),
        }))
    });
    let config = Config::from_toml(
        r#"
        [profiles.internal]
        provider = "local-issuer"
        audience = "reports"
        refresh_margin_secs = 30
        "#,
    )?;
    let profile = config.build_with("internal", &registry)?;
    let token = profile.source().token().await?;
    println!(
        "from config: profile {:?} (provider {:?}) gave a token of {} characters, valid for {:?}",
        profile.name(),
        profile.provider(),
        token.expose_secret().len(),
        token.lifetime().unwrap_or_default()
    );

    // Settings are checked: a typo is an error naming the field, not a silent default.
    let typo = Config::from_toml(
        "[profiles.internal]\nprovider = \"local-issuer\"\naudiance = \"reports\"\n",
    )?;
    match typo.build_with("internal", &registry) {
        Err(error) => println!("a typo in the file: {error}"),
        Ok(_) => unreachable!("an unknown key is rejected"),
    }
    Ok(())
}
