//! Secrets in configuration: a literal, `{ env = "VAR" }` or `{ file = "path" }`.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use tokensource_core::{Error, SecretSource};

/// Where a secret comes from. Resolved when the configuration is built, so a missing variable or
/// file is a configuration error before any request.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged, deny_unknown_fields)]
pub enum SecretValue {
    /// The secret itself, written in the file.
    Literal(String),
    /// The value of an environment variable: `{ env = "VAR" }`.
    Env {
        /// The variable's name.
        env: String,
    },
    /// The content of a file, one trailing newline removed: `{ file = "path" }`. A relative
    /// path is relative to the configuration file's folder.
    File {
        /// The file's path.
        file: String,
    },
}

impl SecretValue {
    /// The secret as a [`SecretSource`]: a literal or a variable is read now and fixed; a file is
    /// read now (so that a missing one is an error before any request) and again at every use,
    /// so that a rotated file is used without a restart. `field` names the setting in errors.
    pub fn source(&self, field: &str, base_dir: Option<&Path>) -> Result<SecretSource, Error> {
        let value = self.resolve(field, base_dir)?;
        Ok(match self {
            SecretValue::File { file } => SecretSource::file(file_path(file, base_dir)),
            SecretValue::Literal(_) | SecretValue::Env { .. } => SecretSource::from(value),
        })
    }

    /// Reads the secret. `field` names the setting in errors (e.g. `profiles.a.client_secret`).
    pub fn resolve(&self, field: &str, base_dir: Option<&Path>) -> Result<SecretString, Error> {
        let value = match self {
            SecretValue::Literal(value) => value.clone(),
            SecretValue::Env { env } => std::env::var(env).map_err(|_| {
                Error::configuration(
                    field.to_owned(),
                    format!("the environment variable {env} is not set (or not valid UTF-8)"),
                )
            })?,
            SecretValue::File { file } => {
                let path = file_path(file, base_dir);
                let mut text = std::fs::read_to_string(&path).map_err(|e| {
                    Error::configuration(
                        field.to_owned(),
                        format!("the secret file {} cannot be read ({e})", path.display()),
                    )
                })?;
                if text.ends_with('\n') {
                    text.pop();
                    if text.ends_with('\r') {
                        text.pop();
                    }
                }
                text
            }
        };
        if value.is_empty() {
            return Err(Error::configuration(
                field.to_owned(),
                "the secret is empty",
            ));
        }
        Ok(SecretString::from(value))
    }
}

/// `file` made absolute against the configuration's folder.
fn file_path(file: &str, base_dir: Option<&Path>) -> PathBuf {
    match base_dir {
        Some(dir) if Path::new(file).is_relative() => dir.join(file),
        _ => Path::new(file).to_path_buf(),
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretValue::Literal(_) => f.write_str("Literal(** redacted **)"),
            SecretValue::Env { env } => f.debug_struct("Env").field("env", env).finish(),
            SecretValue::File { file } => f.debug_struct("File").field("file", file).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn sources() {
        let literal: SecretValue = toml::Value::String("hunter2".into()).try_into().unwrap();
        assert_eq!(
            literal.resolve("f", None).unwrap().expose_secret(),
            "hunter2"
        );
        assert!(!format!("{literal:?}").contains("hunter2"));

        let dir = std::env::temp_dir().join(format!("tokensource-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("s.txt"), "from-file\n").unwrap();
        let file = SecretValue::File {
            file: "s.txt".into(),
        };
        assert_eq!(
            file.resolve("f", Some(&dir)).unwrap().expose_secret(),
            "from-file"
        );
        std::fs::remove_dir_all(&dir).unwrap();

        let missing = SecretValue::Env {
            env: "TOKENSOURCE_SURELY_UNSET_VARIABLE".into(),
        };
        let error = missing.resolve("profiles.a.secret", None).unwrap_err();
        assert_eq!(error.kind(), tokensource_core::ErrorKind::Configuration);
        assert!(error.to_string().contains("profiles.a.secret"));
        assert!(
            error
                .to_string()
                .contains("TOKENSOURCE_SURELY_UNSET_VARIABLE")
        );
    }
}
