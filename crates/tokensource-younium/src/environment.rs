//! Younium's environments and auth versions, and the URLs they imply.

use std::fmt;
use std::str::FromStr;

use tokensource_core::Error;
use url::Url;

/// A Younium environment: which hosts issue tokens and serve the API.
///
/// | environment | config name | host |
/// |---|---|---|
/// | [`Production`](YouniumEnvironment::Production) | `production` | `api.younium.com` |
/// | [`Sandbox`](YouniumEnvironment::Sandbox) | `sandbox` | `api.sandbox.younium.com` |
/// | [`UsProduction`](YouniumEnvironment::UsProduction) | `us-production` | `api.us.younium.com` |
/// | [`UsSandbox`](YouniumEnvironment::UsSandbox) | `us-sandbox` | auth v1: `api.us.sandbox.younium.com`; auth v2: `api.sandbox.us.younium.com` |
///
/// The US sandbox host differs between Younium's pages: the auth v1 page names
/// `api.us.sandbox.younium.com`, the current (auth v2) page `api.sandbox.us.younium.com`. Each
/// auth version uses the host its own page gives.
///
/// ```
/// use tokensource_younium::{YouniumAuthVersion, YouniumEnvironment};
///
/// let env: YouniumEnvironment = "us-sandbox".parse()?;
/// assert_eq!(env, YouniumEnvironment::UsSandbox);
/// assert_eq!(
///     env.token_url(YouniumAuthVersion::V1).as_str(),
///     "https://api.us.sandbox.younium.com/auth/token"
/// );
/// assert_eq!(
///     env.token_url(YouniumAuthVersion::V2).as_str(),
///     "https://api.sandbox.us.younium.com/auth/v2/token"
/// );
/// assert_eq!(env.to_string(), "us-sandbox");
/// # Ok::<(), tokensource_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum YouniumEnvironment {
    /// Production, `api.younium.com` (the default).
    #[default]
    Production,
    /// Sandbox, `api.sandbox.younium.com`.
    Sandbox,
    /// US production, `api.us.younium.com`.
    UsProduction,
    /// US sandbox: `api.us.sandbox.younium.com` for auth v1, `api.sandbox.us.younium.com` for auth v2.
    UsSandbox,
}

impl YouniumEnvironment {
    /// Every environment, in the order of the table above.
    pub const ALL: [YouniumEnvironment; 4] = [
        YouniumEnvironment::Production,
        YouniumEnvironment::Sandbox,
        YouniumEnvironment::UsProduction,
        YouniumEnvironment::UsSandbox,
    ];

    /// The name used in configuration files: `production`, `sandbox`, `us-production`, `us-sandbox`.
    pub fn as_str(self) -> &'static str {
        match self {
            YouniumEnvironment::Production => "production",
            YouniumEnvironment::Sandbox => "sandbox",
            YouniumEnvironment::UsProduction => "us-production",
            YouniumEnvironment::UsSandbox => "us-sandbox",
        }
    }

    /// The host that issues tokens and serves the API, for `version`.
    pub fn host(self, version: YouniumAuthVersion) -> &'static str {
        match (self, version) {
            (YouniumEnvironment::Production, _) => "api.younium.com",
            (YouniumEnvironment::Sandbox, _) => "api.sandbox.younium.com",
            (YouniumEnvironment::UsProduction, _) => "api.us.younium.com",
            (YouniumEnvironment::UsSandbox, YouniumAuthVersion::V1) => "api.us.sandbox.younium.com",
            (YouniumEnvironment::UsSandbox, YouniumAuthVersion::V2) => "api.sandbox.us.younium.com",
        }
    }

    /// The API's origin, for example `https://api.younium.com/`.
    pub fn api_base_url(self, version: YouniumAuthVersion) -> Url {
        https_url(self.host(version), "/")
    }

    /// The token endpoint, for example `https://api.younium.com/auth/token` (v1) or
    /// `https://api.younium.com/auth/v2/token` (v2).
    pub fn token_url(self, version: YouniumAuthVersion) -> Url {
        https_url(self.host(version), version.path())
    }
}

fn https_url(host: &str, path: &str) -> Url {
    // The hosts and paths are constants above, so this cannot fail.
    Url::parse(&format!("https://{host}{path}")).expect("a constant URL parses")
}

impl fmt::Display for YouniumEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for YouniumEnvironment {
    type Err = Error;

    /// Parses a configuration name (case-insensitive; `_` is taken for `-`). The error is a
    /// configuration error naming the `environment` key.
    fn from_str(s: &str) -> Result<Self, Error> {
        let wanted = s.trim().replace('_', "-");
        YouniumEnvironment::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| {
                Error::configuration(
                    "environment",
                    format!(
                        "unknown Younium environment {:?}: expected production, sandbox, us-production or us-sandbox",
                        s.chars().take(40).collect::<String>()
                    ),
                )
            })
    }
}

/// Which version of Younium's token endpoint to use.
///
/// | version | config name | path | response fields |
/// |---|---|---|---|
/// | [`V1`](YouniumAuthVersion::V1) (default) | `v1` | `/auth/token` | `accessToken`, `refreshToken`, `expiresIn`, `expires` |
/// | [`V2`](YouniumAuthVersion::V2) | `v2` | `/auth/v2/token` | `access_token`, `refresh_token`, `expires_in`, `expires` |
///
/// Both take the same request body, `{"clientId": ..., "secret": ...}`. Whatever the version,
/// the response is read in either casing.
///
/// ```
/// use tokensource_younium::YouniumAuthVersion;
///
/// assert_eq!("v2".parse::<YouniumAuthVersion>()?, YouniumAuthVersion::V2);
/// assert_eq!(YouniumAuthVersion::default().path(), "/auth/token");
/// # Ok::<(), tokensource_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum YouniumAuthVersion {
    /// Auth v1: `POST /auth/token`, camelCase response (the default).
    #[default]
    V1,
    /// Auth v2: `POST /auth/v2/token`, snake_case response.
    V2,
}

impl YouniumAuthVersion {
    /// The name used in configuration files: `v1` or `v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            YouniumAuthVersion::V1 => "v1",
            YouniumAuthVersion::V2 => "v2",
        }
    }

    /// The token endpoint's path.
    pub fn path(self) -> &'static str {
        match self {
            YouniumAuthVersion::V1 => "/auth/token",
            YouniumAuthVersion::V2 => "/auth/v2/token",
        }
    }
}

impl fmt::Display for YouniumAuthVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for YouniumAuthVersion {
    type Err = Error;

    /// Parses `v1` or `v2` (case-insensitive; `1` and `2` also). The error is a configuration
    /// error naming the `auth_version` key.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "v1" | "1" => Ok(YouniumAuthVersion::V1),
            "v2" | "2" => Ok(YouniumAuthVersion::V2),
            _ => Err(Error::configuration(
                "auth_version",
                format!(
                    "unknown Younium auth version {:?}: expected v1 or v2",
                    s.chars().take(40).collect::<String>()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_table() {
        use YouniumAuthVersion::{V1, V2};
        let table = [
            (
                YouniumEnvironment::Production,
                V1,
                "https://api.younium.com/auth/token",
            ),
            (
                YouniumEnvironment::Sandbox,
                V1,
                "https://api.sandbox.younium.com/auth/token",
            ),
            (
                YouniumEnvironment::UsProduction,
                V1,
                "https://api.us.younium.com/auth/token",
            ),
            (
                YouniumEnvironment::UsSandbox,
                V1,
                "https://api.us.sandbox.younium.com/auth/token",
            ),
            (
                YouniumEnvironment::Production,
                V2,
                "https://api.younium.com/auth/v2/token",
            ),
            (
                YouniumEnvironment::Sandbox,
                V2,
                "https://api.sandbox.younium.com/auth/v2/token",
            ),
            (
                YouniumEnvironment::UsProduction,
                V2,
                "https://api.us.younium.com/auth/v2/token",
            ),
            (
                YouniumEnvironment::UsSandbox,
                V2,
                "https://api.sandbox.us.younium.com/auth/v2/token",
            ),
        ];
        for (env, version, url) in table {
            assert_eq!(env.token_url(version).as_str(), url, "{env} {version}");
        }
        assert_eq!(
            YouniumEnvironment::UsProduction.api_base_url(V1).as_str(),
            "https://api.us.younium.com/"
        );
    }

    #[test]
    fn parsing() {
        for env in YouniumEnvironment::ALL {
            assert_eq!(env.as_str().parse::<YouniumEnvironment>().unwrap(), env);
        }
        assert_eq!(
            "US_Sandbox".parse::<YouniumEnvironment>().unwrap(),
            YouniumEnvironment::UsSandbox
        );
        let err = "staging".parse::<YouniumEnvironment>().unwrap_err();
        assert_eq!(err.field(), Some("environment"));
        assert!(err.to_string().contains("us-sandbox"), "{err}");
        assert_eq!(
            "V1".parse::<YouniumAuthVersion>().unwrap(),
            YouniumAuthVersion::V1
        );
        assert_eq!(
            "v3".parse::<YouniumAuthVersion>().unwrap_err().provider(),
            "auth_version"
        );
    }
}
