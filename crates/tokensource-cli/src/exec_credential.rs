//! `exec-credential`: a Kubernetes client-go exec credential plugin (kubectl's `users[].user.exec`).

use std::ffi::OsStr;

use tokensource::Error;
use zeroize::Zeroizing;

use crate::args::{ApiVersion, CacheArgs, ProfileArgs};
use crate::failure::Failure;
use crate::{output, run};

/// The environment variable client-go describes the expected ExecCredential in.
const EXEC_INFO_VAR: &str = "KUBERNETES_EXEC_INFO";

/// Resolves the apiVersion (before anything else, so a bad one costs no token request), then
/// fetches the token as `token` does and prints it as an ExecCredential.
pub(crate) async fn run(
    profile: &ProfileArgs,
    cache: &CacheArgs,
    flag: Option<ApiVersion>,
) -> Result<Zeroizing<String>, Failure> {
    let exec_info = std::env::var_os(EXEC_INFO_VAR);
    let api_version = api_version(flag, exec_info.as_deref())?;
    let options = run::build_options(cache)?;
    let (_, token) = run::fetch(profile, &options).await?;
    Ok(output::exec_credential(
        &token,
        api_version.name(),
        options.policy().default_lifetime(),
    ))
}

/// The apiVersion to answer with: `flag` if given, else the one in `exec_info` (the value of
/// `KUBERNETES_EXEC_INFO`), else v1. A `KUBERNETES_EXEC_INFO` that is set must be an
/// ExecCredential's JSON, even when the flag decides.
fn api_version(flag: Option<ApiVersion>, exec_info: Option<&OsStr>) -> Result<ApiVersion, Error> {
    let from_env = match exec_info {
        None => None,
        Some(raw) => Some(api_version_in(raw)?),
    };
    Ok(flag.or(from_env).unwrap_or(ApiVersion::V1))
}

/// The apiVersion in `KUBERNETES_EXEC_INFO`'s JSON.
fn api_version_in(raw: &OsStr) -> Result<ApiVersion, Error> {
    let invalid = |what: &str| {
        Error::configuration(
            EXEC_INFO_VAR,
            format!(
                "{what}; kubectl sets it to an ExecCredential object such as {{\"apiVersion\": \"client.authentication.k8s.io/v1\", ...}}"
            ),
        )
    };
    let text = raw.to_str().ok_or_else(|| invalid("is not UTF-8 text"))?;
    // No part of the value is echoed: it is the environment's, and could hold anything.
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        invalid(&format!(
            "is not JSON (at line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let name = value
        .get("apiVersion")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| invalid("has no apiVersion string"))?;
    ApiVersion::parse(name).map_err(|_| {
        invalid(&format!(
            "has an apiVersion that is neither {} nor {}",
            ApiVersion::V1.name(),
            ApiVersion::V1Beta1.name()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokensource::ErrorKind;

    fn env(text: &str) -> Option<&OsStr> {
        Some(OsStr::new(text))
    }

    #[test]
    fn the_flag_then_the_environment_then_v1() {
        let v1beta1 = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}"#;
        let v1 = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#;
        assert_eq!(api_version(None, None).unwrap(), ApiVersion::V1);
        assert_eq!(
            api_version(None, env(v1beta1)).unwrap(),
            ApiVersion::V1Beta1
        );
        assert_eq!(api_version(None, env(v1)).unwrap(), ApiVersion::V1);
        assert_eq!(
            api_version(Some(ApiVersion::V1Beta1), None).unwrap(),
            ApiVersion::V1Beta1
        );
        assert_eq!(
            api_version(Some(ApiVersion::V1), env(v1beta1)).unwrap(),
            ApiVersion::V1
        );
    }

    #[test]
    fn a_bad_environment_is_a_usage_error_naming_it() {
        for bad in [
            "",
            "not json",
            "{\"apiVersion\":",
            "[]",
            "{}",
            "{\"apiVersion\": 1}",
            "{\"apiVersion\": \"client.authentication.k8s.io/v1alpha1\"}",
            "{\"apiVersion\": \"v1\"}",
        ] {
            for flag in [None, Some(ApiVersion::V1)] {
                let error = api_version(flag, env(bad)).unwrap_err();
                assert_eq!(error.kind(), ErrorKind::Configuration, "{bad:?}");
                assert!(error.to_string().contains(EXEC_INFO_VAR), "{error}");
            }
        }
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let error = api_version(None, Some(OsStr::from_bytes(b"{\xff}"))).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Configuration);
        }
    }

    #[test]
    fn versions_parse_by_their_full_name_only() {
        for version in [ApiVersion::V1, ApiVersion::V1Beta1] {
            assert_eq!(ApiVersion::parse(version.name()), Ok(version));
        }
        for bad in [
            "v1",
            "V1",
            "client.authentication.k8s.io/v2",
            " client.authentication.k8s.io/v1",
        ] {
            assert!(ApiVersion::parse(bad).is_err(), "{bad}");
        }
    }
}
