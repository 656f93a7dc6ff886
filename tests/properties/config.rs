//! Configuration files: any text, and any TOML-shaped profile, parses or fails with a
//! configuration error (never a panic); valid files round-trip their profiles and fields.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use secrecy::ExposeSecret;
use tokensource::config::{BuildOptions, Config, ProfileSettings, Provider, Registry};
use tokensource::{ErrorKind, StaticTokenSource, Token};

/// A TOML string literal for `text` (basic string, escaped by the toml crate).
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Validates every profile and builds each in memory: errors, if any, are configuration errors.
fn check_all(config: &Config, registry: &Registry) {
    let _ = format!("{config:?}");
    if let Err(e) = config.check(registry) {
        assert_eq!(e.kind(), ErrorKind::Configuration, "{e}");
    }
    let _ = config.select_profile(None);
    for name in config.profile_names() {
        match config.build_with_options(name, registry, &BuildOptions::default().memory_only()) {
            Ok(profile) => assert_eq!(profile.name(), name),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Configuration, "{e}"),
        }
    }
}

/// A TOML value of any kind, for any key: what a hand-written file might hold.
fn any_toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,20}".prop_map(|s| quoted(&s)),
        Just("\"\"".to_owned()),
        prop_oneof![
            Just("\"client-credentials\""),
            Just("\"younium\""),
            Just("\"noyo\""),
            Just("\"https://auth.example.com/token\""),
            Just("\"http://127.0.0.1:1/token\""),
            Just("\"http://example.com/token\""),
            Just("\"basic\""),
            Just("\"request-body\""),
            Just("\"sandbox\""),
            Just("\"v2\""),
            Just("\"memory\""),
            Just("\"redis://127.0.0.1:1\""),
        ]
        .prop_map(str::to_owned),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| toml::Value::Float(f).to_string()),
        Just("nan".to_owned()),
        Just("-inf".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("1979-05-27T07:32:00Z".to_owned()),
        prop::collection::vec("[a-z]{0,5}", 0..3).prop_map(|v| {
            let items: Vec<String> = v.iter().map(|s| quoted(s)).collect();
            format!("[{}]", items.join(", "))
        }),
        Just("{ env = \"TOKENSOURCE_PROPERTY_TEST_UNSET\" }".to_owned()),
        // Relative to the configuration's folder, which is none here: no such file.
        Just("{ file = \"tokensource-property-test/no-such-file\" }".to_owned()),
        Just("{ kind = \"memory\" }".to_owned()),
        Just("{ kind = \"floppy\", url = 1 }".to_owned()),
        Just("{ audience = \"x\", n = 1 }".to_owned()),
        Just("{ env = 1, file = 2 }".to_owned()),
    ]
}

fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop_oneof![
            Just("provider"),
            Just("token_url"),
            Just("client_id"),
            Just("client_secret"),
            Just("secret"),
            Just("scopes"),
            Just("extra_params"),
            Just("auth_style"),
            Just("environment"),
            Just("auth_version"),
            Just("legal_entity"),
            Just("api_version"),
            Just("api_base_url"),
            Just("refresh_margin_secs"),
            Just("timeout_secs"),
            Just("allow_insecure_http"),
            Just("store"),
        ]
        .prop_map(str::to_owned),
        1 => "[a-z_]{1,8}",
    ]
}

/// A TOML-shaped file: a default profile, profiles of random keys and values, sometimes a store
/// table or a broken line.
fn toml_ish_file() -> impl Strategy<Value = String> {
    let profile = (
        "[a-z][a-z0-9_-]{0,6}",
        prop::collection::vec((any_key(), any_toml_value()), 0..8),
        proptest::option::of(prop::collection::vec(
            (
                prop_oneof![Just("kind"), Just("url"), Just("dir"), Just("colour")],
                any_toml_value(),
            ),
            0..3,
        )),
    );
    (
        proptest::option::of("[a-z][a-z0-9_-]{0,6}"),
        prop::collection::vec(profile, 0..4),
        proptest::option::of(prop_oneof![
            Just("[profiles.x"),
            Just("= 1"),
            Just("bogus = 1"),
            Just("profiles = 5")
        ]),
    )
        .prop_map(|(default, profiles, broken)| {
            let mut text = String::new();
            if let Some(default) = default {
                text.push_str(&format!("default_profile = {}\n", quoted(&default)));
            }
            for (name, fields, store) in profiles {
                text.push_str(&format!("[profiles.{name}]\n"));
                for (key, value) in fields {
                    text.push_str(&format!("{key} = {value}\n"));
                }
                if let Some(store) = store {
                    text.push_str(&format!("[profiles.{name}.store]\n"));
                    for (key, value) in store {
                        text.push_str(&format!("{key} = {value}\n"));
                    }
                }
            }
            if let Some(broken) = broken {
                text.push_str(broken);
                text.push('\n');
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        match Config::from_toml(&text) {
            Ok(config) => check_all(&config, &Registry::with_builtins()),
            Err(e) => prop_assert_eq!(e.kind(), ErrorKind::Configuration),
        }
    }

    #[test]
    fn arbitrary_bytes_as_text_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = Config::from_toml(&text) {
            prop_assert_eq!(e.kind(), ErrorKind::Configuration);
        }
    }

    #[test]
    fn toml_ish_profiles_never_panic(text in toml_ish_file()) {
        match Config::from_toml(&text) {
            Ok(config) => check_all(&config, &Registry::with_builtins()),
            Err(e) => prop_assert_eq!(e.kind(), ErrorKind::Configuration, "{}", e),
        }
    }
}

/// What the test provider read from its profile.
#[derive(Debug, Clone, PartialEq)]
struct Fields {
    profile: String,
    client_id: String,
    secret: String,
    scopes: Vec<String>,
    extra_params: Vec<(String, String)>,
    flag: Option<bool>,
}

/// A registry whose `echo` provider records every field it reads.
fn echo_registry(seen: Arc<Mutex<Vec<Fields>>>) -> Registry {
    let mut registry = Registry::with_builtins();
    registry.register("echo", move |s: &ProfileSettings<'_>| {
        let fields = Fields {
            profile: s.name().to_owned(),
            client_id: s.required_str("client_id")?.to_owned(),
            secret: s.secret("client_secret")?.expose_secret().to_owned(),
            scopes: s.string_list("scopes")?,
            extra_params: s.string_table("extra_params")?,
            flag: s.optional_bool("flag")?,
        };
        seen.lock().unwrap().push(fields);
        Ok(Provider::new(StaticTokenSource::new(
            Token::bearer("echo").unwrap(),
        )))
    });
    registry
}

/// One profile of a valid file, as generated.
#[derive(Debug, Clone)]
enum GenProfile {
    Echo(Fields, Option<f64>),
    ClientCredentials {
        client_id: String,
        secret: String,
    },
    Younium {
        client_id: String,
        secret: String,
        legal_entity: String,
        api_version: String,
    },
    Noyo {
        client_id: String,
        secret: String,
    },
}

impl GenProfile {
    fn provider(&self) -> &'static str {
        match self {
            GenProfile::Echo(..) => "echo",
            GenProfile::ClientCredentials { .. } => "client-credentials",
            GenProfile::Younium { .. } => "younium",
            GenProfile::Noyo { .. } => "noyo",
        }
    }

    fn to_toml(&self, name: &str) -> String {
        let mut text = format!("[profiles.{name}]\nprovider = \"{}\"\n", self.provider());
        let mut line = |key: &str, value: String| text.push_str(&format!("{key} = {value}\n"));
        match self {
            GenProfile::Echo(fields, margin) => {
                line("client_id", quoted(&fields.client_id));
                line("client_secret", quoted(&fields.secret));
                let scopes: Vec<String> = fields.scopes.iter().map(|s| quoted(s)).collect();
                line("scopes", format!("[{}]", scopes.join(", ")));
                let params: Vec<String> = fields
                    .extra_params
                    .iter()
                    .map(|(k, v)| format!("{} = {}", quoted(k), quoted(v)))
                    .collect();
                line("extra_params", format!("{{ {} }}", params.join(", ")));
                if let Some(flag) = fields.flag {
                    line("flag", flag.to_string());
                }
                if let Some(margin) = margin {
                    line(
                        "refresh_margin_secs",
                        toml::Value::Float(*margin).to_string(),
                    );
                }
            }
            GenProfile::ClientCredentials { client_id, secret } => {
                line(
                    "token_url",
                    quoted("https://auth.example.com/oauth/v2/token"),
                );
                line("client_id", quoted(client_id));
                line("client_secret", quoted(secret));
                line("timeout_secs", "5".to_owned());
            }
            GenProfile::Younium {
                client_id,
                secret,
                legal_entity,
                api_version,
            } => {
                line("client_id", quoted(client_id));
                line("secret", quoted(secret));
                line("environment", quoted("sandbox"));
                line("legal_entity", quoted(legal_entity));
                line("api_version", quoted(api_version));
            }
            GenProfile::Noyo { client_id, secret } => {
                line("client_id", quoted(client_id));
                line("client_secret", quoted(secret));
                line("store", "{ kind = \"memory\" }".to_owned());
            }
        }
        text
    }
}

fn gen_profile() -> impl Strategy<Value = GenProfile> {
    let id = "[!-~]{1,24}";
    let secret = "[!-~][ -~]{0,30}[!-~]";
    prop_oneof![
        (
            id,
            secret,
            prop::collection::vec("[ -~]{1,10}", 0..4),
            prop::collection::btree_map("[a-z_]{1,8}", "[ -~]{0,10}", 0..3),
            proptest::option::of(any::<bool>()),
            proptest::option::of(0.0f64..86_400.0),
        )
            .prop_map(|(client_id, secret, scopes, params, flag, margin)| {
                GenProfile::Echo(
                    Fields {
                        profile: String::new(),
                        client_id,
                        secret,
                        scopes,
                        extra_params: params.into_iter().collect(),
                        flag,
                    },
                    margin,
                )
            }),
        ("[A-Za-z0-9._-]{1,24}", secret)
            .prop_map(|(client_id, secret)| GenProfile::ClientCredentials { client_id, secret }),
        (
            "[A-Za-z0-9._-]{1,24}",
            secret,
            "[!-~][ -~]{0,20}[!-~]",
            "[0-9]\\.[0-9]"
        )
            .prop_map(|(client_id, secret, legal_entity, api_version)| {
                GenProfile::Younium {
                    client_id,
                    secret,
                    legal_entity,
                    api_version,
                }
            }),
        ("[A-Za-z0-9._-]{1,24}", secret)
            .prop_map(|(client_id, secret)| GenProfile::Noyo { client_id, secret }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A valid file gives back its profile names, its default profile, every field a provider
    /// reads, and each profile's provider and extra headers; no `Debug` shows a secret.
    #[test]
    fn valid_configs_round_trip(
        profiles in prop::collection::btree_map("[a-z][a-z0-9_-]{0,12}", gen_profile(), 1..5),
        default_index in any::<prop::sample::Index>(),
        with_default in any::<bool>(),
    ) {
        let names: Vec<&String> = profiles.keys().collect();
        let default = with_default.then(|| default_index.get(&names).as_str().to_owned());
        let mut text = String::new();
        if let Some(default) = &default {
            text.push_str(&format!("default_profile = {}\n", quoted(default)));
        }
        for (name, profile) in &profiles {
            text.push_str(&profile.to_toml(name));
        }

        let config = Config::from_toml(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let parsed_names: Vec<&str> = config.profile_names().collect();
        prop_assert_eq!(&parsed_names, &names.iter().map(|n| n.as_str()).collect::<Vec<_>>());
        prop_assert_eq!(config.default_profile(), default.as_deref());
        if default.is_some() || profiles.len() == 1 {
            let expected = default.clone().unwrap_or_else(|| names[0].clone());
            prop_assert_eq!(config.select_profile(None).unwrap(), expected.as_str());
        }

        let seen = Arc::new(Mutex::new(Vec::new()));
        let registry = echo_registry(Arc::clone(&seen));
        let checked = config.check(&registry).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(checked.iter().collect::<Vec<_>>(), names.clone());

        for (name, generated) in &profiles {
            let profile = config.build_with_options(name, &registry, &BuildOptions::default().memory_only())
                .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(profile.name(), name.as_str());
            prop_assert_eq!(profile.provider(), generated.provider());
            let debug = format!("{profile:?} {config:?}");
            match generated {
                GenProfile::Echo(fields, _) => {
                    let expected = Fields { profile: name.clone(), ..fields.clone() };
                    let last = seen.lock().unwrap().last().cloned();
                    prop_assert_eq!(last, Some(expected));
                }
                GenProfile::Younium { legal_entity, api_version, secret, .. } => {
                    prop_assert_eq!(profile.headers()["legal-entity"].as_bytes(), legal_entity.as_bytes());
                    prop_assert_eq!(profile.headers()["api-version"].as_bytes(), api_version.as_bytes());
                    prop_assert!(!debug.contains(secret.as_str()) || secret.len() < 8);
                }
                GenProfile::ClientCredentials { secret, .. } | GenProfile::Noyo { secret, .. } => {
                    prop_assert!(profile.headers().is_empty());
                    prop_assert!(!debug.contains(secret.as_str()) || secret.len() < 8);
                }
            }
        }
    }
}
