//! Configuration: `Config`, `Profile`, `CredentialIdentity`, `SecretValue`, `Registry`,
//! `Provider` and `StoreKind` `Debug`, and every configuration error a file holding the secret
//! can cause (syntax errors on the secret's line included).

use secrecy::SecretString;
use tokensource::config::{
    BuildOptions, Config, CredentialIdentity, Provider, RedisMode, RedisSettings, Registry,
    SecretValue, StoreKind,
};
use tokensource::{ErrorKind, StaticTokenSource, Token};

use crate::sentinel::{CLIENT_ID, REDIS_PASSWORD, SECRET, Seen, TOKEN};

/// A TOML basic string holding `text`.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn profiles(secret_line: &str) -> String {
    format!(
        "default_profile = \"cc\"\n\
         [profiles.cc]\nprovider = \"client-credentials\"\ntoken_url = \"https://auth.example.com/token\"\n\
         client_id = \"{CLIENT_ID}\"\n{secret_line}\nextra_params = {{ client_assertion = {} }}\n\
         [profiles.younium]\nprovider = \"younium\"\nclient_id = \"{CLIENT_ID}\"\nsecret = {}\nlegal_entity = \"Acme AB\"\n\
         [profiles.noyo]\nprovider = \"noyo\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = {}\n\
         [profiles.shared]\nprovider = \"noyo\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = {}\n\
         store = {{ kind = \"redis\", url = \"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0\" }}\n",
        quoted(SECRET),
        quoted(SECRET),
        quoted(SECRET),
        quoted(SECRET),
    )
}

#[test]
fn valid_configurations() {
    let mut seen = Seen::new("valid configuration");
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret.txt");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    // `{ env = ... }` secrets are covered by the CLI's runs (setting a variable here would race
    // with other tests reading the environment).
    let variable = "TOKENSOURCE_HYGIENE_UNSET";
    for secret_line in [
        format!("client_secret = {}", quoted(SECRET)),
        format!(
            "client_secret = {{ file = {} }}",
            quoted(&secret_file.display().to_string())
        ),
    ] {
        let config = Config::from_toml(&profiles(&secret_line)).unwrap();
        seen.debug("config", &config);
        let registry = Registry::with_builtins();
        seen.debug("registry", &registry);
        assert_eq!(config.check(&registry).unwrap().len(), 4);
        for name in ["cc", "younium", "noyo", "shared"] {
            let profile = config.build(name).unwrap();
            seen.debug("profile", &profile);
            seen.debug("profile source", &profile.source());
            seen.debug("profile headers", profile.headers());
        }
        let memory_only = config
            .build_with_options("shared", &registry, &BuildOptions::default().memory_only())
            .unwrap();
        seen.debug("memory-only profile", &memory_only);
        seen.debug("build options", &BuildOptions::default());
    }

    let identity = CredentialIdentity::new(
        "noyo",
        "https://auth.example.com/token",
        CLIENT_ID,
        SecretString::from(SECRET.to_owned()),
    );
    seen.debug("identity", &identity);
    seen.display("store key", &identity.store_key());
    seen.display("secret-bound key", &identity.secret_bound_key());
    let provider = Provider::new(StaticTokenSource::new(Token::bearer(TOKEN).unwrap()))
        .with_identity(identity);
    seen.debug("provider", &provider);
    for value in [
        toml::Value::String(SECRET.to_owned()),
        toml::Value::try_from(std::collections::BTreeMap::from([("env", variable)])).unwrap(),
        toml::Value::try_from(std::collections::BTreeMap::from([(
            "file",
            secret_file.display().to_string(),
        )]))
        .unwrap(),
    ] {
        let secret: SecretValue = value.try_into().unwrap();
        seen.debug("secret value", &secret);
    }
    seen.debug(
        "store kind",
        &StoreKind::Redis(RedisSettings::standalone(format!(
            "redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0"
        ))),
    );
    let mut cluster =
        RedisSettings::standalone(format!("rediss://user:{REDIS_PASSWORD}@10.0.0.1:7000"));
    cluster.mode = RedisMode::Cluster;
    cluster
        .urls
        .push(format!("rediss://:{REDIS_PASSWORD}@10.0.0.2:7000"));
    seen.debug("redis settings", &StoreKind::Redis(cluster));
    seen.check();
}

#[test]
fn configuration_errors() {
    let mut seen = Seen::new("configuration errors");
    let dir = tempfile::tempdir().unwrap();
    let empty_file = dir.path().join("empty.txt");
    std::fs::write(&empty_file, "").unwrap();
    let with_cr = dir.path().join("crlf.txt");
    std::fs::write(&with_cr, format!("{SECRET}\r\r\n")).unwrap();
    // Values of settings that are not secrets (a provider name, an auth style, an environment
    // variable's name) are quoted in errors on purpose, to help fix them: not tried here.
    let texts = [
        // Syntax errors on the secret's line.
        profiles(&format!("client_secret = \"{SECRET}")),
        profiles(&format!("client_secret = {SECRET}")),
        profiles(&format!("client_secret = '{SECRET}\n")),
        profiles(&format!("client_secret = \"\"\"{SECRET}")),
        profiles(&format!(
            "client_secret = {} {}",
            quoted(SECRET),
            quoted(SECRET)
        )),
        profiles(&format!(
            "client_secret = {}\nclient_secret = {}",
            quoted(SECRET),
            quoted(SECRET)
        )),
        profiles(&format!("{SECRET} = 1")),
        profiles(&format!("client_secret = [{}]", quoted(SECRET))),
        profiles(&format!(
            "client_secret = {{ literal = {} }}",
            quoted(SECRET)
        )),
        profiles(&format!(
            "client_secret = {}",
            quoted(&format!("{SECRET}\n"))
        )),
        profiles(&format!(
            "client_secret = {}\ncolour = {}",
            quoted(SECRET),
            quoted(SECRET)
        )),
        profiles(&format!(
            "client_secret = {{ file = {} }}",
            quoted(&empty_file.display().to_string())
        )),
        profiles(&format!(
            "client_secret = {{ file = {} }}",
            quoted(&with_cr.display().to_string())
        )),
        profiles(&format!(
            "client_secret = {}\ntimeout_secs = {}",
            quoted(SECRET),
            quoted(SECRET)
        )),
        profiles(&format!(
            "client_secret = {}\nscopes = {}",
            quoted(SECRET),
            quoted(SECRET)
        )),
        profiles(&format!(
            "client_secret = {}\n[profiles.cc.store]\nkind = \"redis\"\nurl = \"http://user:{REDIS_PASSWORD}@127.0.0.1:1\"",
            quoted(SECRET)
        )),
        profiles(&format!(
            "client_secret = {}\n[profiles.cc.store]\nkind = \"redis\"\nurl = \"redis://:{REDIS_PASSWORD}@[bad\"",
            quoted(SECRET)
        )),
        format!(
            "default_profile = 1\n{}",
            profiles(&format!("client_secret = {}", quoted(SECRET)))
        ),
        // A file missing its `[profiles.NAME]` header: the secret is where a table should be.
        format!(
            "[profiles]\nclient_secret = {}\nprovider = \"noyo\"\n",
            quoted(SECRET)
        ),
        format!("[profiles]\ncc = {}\n", quoted(SECRET)),
        format!("secret = {}\n", quoted(SECRET)),
    ];
    let registry = Registry::with_builtins();
    let mut errors = 0;
    for (i, text) in texts.iter().enumerate() {
        let result = Config::from_toml(text).and_then(|config| {
            seen.debug(&format!("config {i}"), &config);
            config.check(&registry)?;
            for name in config.profile_names() {
                config.build_with_options(
                    name,
                    &registry,
                    &BuildOptions::default().memory_only(),
                )?;
            }
            config.build_with_options("cc", &registry, &BuildOptions::default())?;
            Ok(())
        });
        if let Err(error) = result {
            assert_eq!(
                error.kind(),
                ErrorKind::Configuration,
                "text {i}: {error:?}"
            );
            seen.token_error(&format!("text {i}"), &error);
            errors += 1;
        }
    }
    assert!(
        errors >= texts.len() - 1,
        "only {errors} of {} texts were refused",
        texts.len()
    );
    seen.check();
}
