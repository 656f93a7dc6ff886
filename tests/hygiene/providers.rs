//! Every provider, on every path: the builder and the source, a success, rejected credentials
//! (with servers that echo the secret in every form it was sent in), invalid responses holding
//! the token, and an unavailable endpoint — directly and through the cache.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokensource::client_credentials::{AuthStyle, ClientCredentialsTokenSource};
use tokensource::noyo::NoyoTokenSource;
use tokensource::younium::{YouniumAuthVersion, YouniumTokenSource};
use tokensource::{CachedTokenSource, ErrorKind, HttpOptions, RefreshPolicy, TokenSource};
use tokensource_testkit::{Fault, MockServer, RawResponse};

use crate::sentinel::{
    CLIENT_ID, REFRESH, SECRET, Seen, TOKEN, basic_credentials, form_encoded_secret,
};

/// The test kit's list of every provider it mocks.
use tokensource_testkit::Provider as Kind;

const KINDS: [Kind; 5] = Kind::ALL;

/// Generous, so that a loaded machine does not turn a success into a timeout.
fn options() -> HttpOptions {
    HttpOptions::default().with_timeout(Duration::from_secs(5))
}

/// What these tests need of each provider, besides the test kit's mock.
trait KindExt: Sized {
    async fn server(self, secret: &str) -> MockServer;
    fn source(self, url: &str, seen: &mut Seen) -> Arc<dyn TokenSource>;
    fn source_with(self, url: &str, seen: &mut Seen, options: HttpOptions) -> Arc<dyn TokenSource>;
    fn token_field(self) -> &'static str;
    fn success_body(self) -> Value;
}

impl KindExt for Kind {
    /// The provider's mock, accepting `secret`.
    async fn server(self, secret: &str) -> MockServer {
        self.mock(CLIENT_ID, secret).start().await
    }

    /// The source for `url` with the sentinel secret; the builder's and the source's `Debug`
    /// are recorded.
    fn source(self, url: &str, seen: &mut Seen) -> Arc<dyn TokenSource> {
        self.source_with(url, seen, options())
    }

    fn source_with(self, url: &str, seen: &mut Seen, options: HttpOptions) -> Arc<dyn TokenSource> {
        match self {
            Kind::YouniumV1 | Kind::YouniumV2 => {
                let version = match self {
                    Kind::YouniumV2 => YouniumAuthVersion::V2,
                    _ => YouniumAuthVersion::V1,
                };
                let builder = YouniumTokenSource::builder(CLIENT_ID, SECRET.to_owned())
                    .auth_version(version)
                    .token_url(url)
                    .legal_entity("Acme AB")
                    .api_version("2.1")
                    .http_options(options.clone());
                seen.debug("builder", &builder);
                let source = builder.build().unwrap();
                seen.debug("source", &source);
                seen.debug("api headers", &source.api_headers());
                Arc::new(source)
            }
            Kind::Noyo => {
                let builder = NoyoTokenSource::builder(CLIENT_ID, SECRET.to_owned())
                    .token_url(url)
                    .http_options(options.clone());
                seen.debug("builder", &builder);
                let source = builder.build().unwrap();
                seen.debug("source", &source);
                Arc::new(source)
            }
            Kind::OAuth2Basic | Kind::OAuth2RequestBody => {
                let style = match self {
                    Kind::OAuth2Basic => AuthStyle::Basic,
                    _ => AuthStyle::RequestBody,
                };
                let builder =
                    ClientCredentialsTokenSource::builder(url, CLIENT_ID, SECRET.to_owned())
                        .auth_style(style)
                        .scopes(["read"])
                        // An extra parameter may be a secret too (an assertion, say).
                        .extra_param("client_assertion", SECRET)
                        .http_options(options.clone());
                seen.debug("builder", &builder);
                let source = builder.build().unwrap();
                seen.debug("source", &source);
                Arc::new(source)
            }
        }
    }

    /// The access token's field name.
    fn token_field(self) -> &'static str {
        match self {
            Kind::YouniumV1 => "accessToken",
            _ => "access_token",
        }
    }

    /// A 200 body carrying the sentinel token and refresh token, valid for this provider.
    fn success_body(self) -> Value {
        match self {
            Kind::YouniumV1 => {
                json!({"accessToken": TOKEN, "refreshToken": REFRESH, "expiresIn": 86400})
            }
            Kind::YouniumV2 => {
                json!({"access_token": TOKEN, "refresh_token": REFRESH, "expires_in": 86400})
            }
            Kind::Noyo => {
                json!({"access_token": TOKEN, "expires_in": 600_000, "token_type": "Bearer"})
            }
            Kind::OAuth2Basic | Kind::OAuth2RequestBody => json!({
                "access_token": TOKEN, "refresh_token": REFRESH, "token_type": "bearer",
                "expires_in": 3600, "scope": "read"
            }),
        }
    }
}

/// A cache over `source` that retries quickly.
fn cached(source: Arc<dyn TokenSource>) -> CachedTokenSource<Arc<dyn TokenSource>> {
    CachedTokenSource::builder(source)
        .policy(
            RefreshPolicy::default()
                .with_max_attempts(2)
                .with_backoff(Duration::from_millis(10), Duration::from_millis(20)),
        )
        .build()
}

/// Fetches once directly and once through a fresh cache, recording the token or the error.
async fn fetch_both_ways(
    seen: &mut Seen,
    what: &str,
    source: &Arc<dyn TokenSource>,
) -> Option<ErrorKind> {
    let direct = source.token().await;
    let cache = cached(Arc::clone(source));
    let through_cache = cache.token().await;
    seen.debug(&format!("{what}: cache"), &cache);
    let mut kind = None;
    for (how, result) in [("direct", direct), ("cached", through_cache)] {
        match result {
            Ok(token) => {
                seen.debug(&format!("{what} {how}: token"), &token);
                seen.debug(
                    &format!("{what} {how}: header"),
                    &token.authorization_header(),
                );
            }
            Err(error) => {
                seen.token_error(&format!("{what} {how}"), &error);
                kind = Some(error.kind());
            }
        }
    }
    kind
}

#[tokio::test]
async fn successes() {
    for kind in KINDS {
        let mut seen = Seen::new(format!("{kind:?} success"));
        let server = kind.server(SECRET).await;
        let source = kind.source(&server.token_url(), &mut seen);
        assert_eq!(fetch_both_ways(&mut seen, "mock", &source).await, None);
        // The tokens the mock issued are secrets too.
        if let Some(token) = server.last_token() {
            seen.forbid(token);
        }
        server.fail_always(RawResponse::new(200).json(&kind.success_body()));
        assert_eq!(
            fetch_both_ways(&mut seen, "sentinel token", &source).await,
            None
        );
        seen.debug("server", &server);
        seen.check();
    }
}

#[tokio::test]
async fn configuration_errors() {
    let mut seen = Seen::new("configuration errors");
    let with_newline = format!("{SECRET}\n");
    let in_url = format!(
        "https://{CLIENT_ID}:{}@auth.example.com/token",
        form_encoded_secret()
    );
    let errors = [
        YouniumTokenSource::builder(CLIENT_ID, with_newline.clone())
            .token_url(in_url.clone())
            .build()
            .unwrap_err(),
        YouniumTokenSource::builder(CLIENT_ID, SECRET.to_owned())
            .legal_entity(format!("{SECRET}\r\n"))
            .build()
            .unwrap_err(),
        NoyoTokenSource::builder(CLIENT_ID, SECRET.to_owned())
            .token_url(in_url.clone())
            .build()
            .unwrap_err(),
        NoyoTokenSource::builder(format!("{CLIENT_ID}:x"), SECRET.to_owned())
            .build()
            .unwrap_err(),
        ClientCredentialsTokenSource::builder(in_url.clone(), CLIENT_ID, SECRET.to_owned())
            .build()
            .unwrap_err(),
        ClientCredentialsTokenSource::builder(
            "https://auth.example.com/t",
            CLIENT_ID,
            with_newline,
        )
        .build()
        .unwrap_err(),
        ClientCredentialsTokenSource::builder(
            format!("not a url {SECRET}"),
            CLIENT_ID,
            SECRET.to_owned(),
        )
        .build()
        .unwrap_err(),
    ];
    for error in &errors {
        assert_eq!(error.kind(), ErrorKind::Configuration, "{error}");
        seen.token_error("build", error);
    }
    seen.check();
}

/// Replies with `status` whose bodies echo `text`, in the shapes token endpoints use and some
/// they should not.
fn echoing_replies(text: &str, status: u16) -> Vec<RawResponse> {
    let message = format!("invalid client secret {text} for {CLIENT_ID}");
    let json_bodies = [
        json!({"errors": [message.clone(), {"message": message.clone()}]}),
        json!({"error": "invalid_client", "error_description": message.clone(), "error_uri": format!("https://auth.example.com/help?secret={text}")}),
        json!({"error": message.clone()}),
        json!({"error": {"message": message.clone()}}),
        json!({"message": message.clone()}),
        json!({"detail": message.clone(), "error_message": message.clone()}),
    ];
    let mut bodies: Vec<RawResponse> = json_bodies
        .iter()
        .map(|b| RawResponse::new(status).json(b))
        .collect();
    bodies.push(
        RawResponse::new(status)
            .header("content-type", "text/plain")
            .body(message.clone()),
    );
    bodies.push(
        RawResponse::new(status)
            .header("content-type", "text/html")
            .body(format!("<html><body>{message}</body></html>")),
    );
    bodies.push(
        RawResponse::new(status)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("client_id={CLIENT_ID}&client_secret={text}")),
    );
    bodies
}

/// Every form the secret travelled in to this provider's endpoint, and the raw secret (which a
/// server may echo after decoding): Younium's JSON body carries it raw, Noyo's `Basic` header
/// `base64(id:secret)`, RFC 6749 `Basic` `base64(urlencode(id):urlencode(secret))` and its
/// request-body style the form-urlencoded secret.
fn secret_forms(kind: Kind) -> Vec<String> {
    let [noyo_basic, rfc_basic] = basic_credentials();
    let mut forms = vec![SECRET.to_owned()];
    match kind {
        Kind::YouniumV1 | Kind::YouniumV2 => {}
        Kind::Noyo => forms.extend([noyo_basic.clone(), format!("Basic {noyo_basic}")]),
        Kind::OAuth2Basic => forms.extend([
            form_encoded_secret(),
            rfc_basic.clone(),
            format!("Basic {rfc_basic}"),
        ]),
        Kind::OAuth2RequestBody => forms.push(form_encoded_secret()),
    }
    forms
}

#[tokio::test]
async fn rejections_that_echo_the_secret() {
    for kind in KINDS {
        let mut seen = Seen::new(format!("{kind:?} rejections"));
        // A server that knows another secret: the mock's own rejection.
        let server = kind.server("another-secret").await;
        let source = kind.source(&server.token_url(), &mut seen);
        assert_eq!(
            fetch_both_ways(&mut seen, "wrong secret", &source).await,
            Some(ErrorKind::CredentialsRejected)
        );
        server.fail_always(Fault::RejectCredentials);
        fetch_both_ways(&mut seen, "rejected", &source).await;

        for (j, form) in secret_forms(kind).iter().enumerate() {
            for status in [400, 401, 404, 200] {
                for (i, reply) in echoing_replies(form, status).into_iter().enumerate() {
                    server.clear_faults();
                    server.fail_always(reply);
                    let what = format!("echo {i} of secret form {j} with HTTP {status}");
                    let error = fetch_both_ways(&mut seen, &what, &source).await;
                    assert!(error.is_some(), "{what}: expected an error");
                }
            }
        }
        seen.check();
    }
}

/// 200 replies that are not a usable token, each holding the sentinel token or refresh token.
fn invalid_replies(kind: Kind) -> Vec<(&'static str, RawResponse)> {
    let field = kind.token_field();
    let json = |body: Value| RawResponse::new(200).json(&body);
    let raw = |body: String| {
        RawResponse::new(200)
            .header("content-type", "application/json")
            .body(body)
    };
    let valid = kind.success_body().to_string();
    vec![
        (
            "token with CR LF",
            json(json!({ field: format!("{TOKEN}\r\nX-Injected: {TOKEN}"), "expires_in": 60 })),
        ),
        (
            "token with a space",
            json(json!({ field: format!("{TOKEN} {TOKEN}") })),
        ),
        (
            "token with NUL",
            json(json!({ field: format!("{TOKEN}\u{0}") })),
        ),
        (
            "token not ASCII",
            json(json!({ field: format!("{TOKEN}\u{e9}") })),
        ),
        ("token too long", json(json!({ field: TOKEN.repeat(1000) }))),
        (
            "token in an array",
            json(json!({ field: [TOKEN], "token_type": "Bearer" })),
        ),
        (
            "token in an object",
            json(json!({ field: { "value": TOKEN }, "token_type": "Bearer" })),
        ),
        (
            "token as the lifetime",
            json(
                json!({ field: TOKEN, "expires_in": TOKEN, "expiresIn": TOKEN, "token_type": "Bearer" }),
            ),
        ),
        (
            "negative lifetime",
            json(
                json!({ field: TOKEN, "expires_in": -1, "expiresIn": -1, "token_type": "Bearer" }),
            ),
        ),
        (
            "refresh token of the wrong type",
            json(
                json!({ field: TOKEN, "refresh_token": [REFRESH], "refreshToken": [REFRESH], "token_type": "Bearer" }),
            ),
        ),
        (
            "token type not Bearer",
            json(json!({ field: TOKEN, "token_type": "mac", "tokenType": "mac" })),
        ),
        (
            "token as the token type",
            json(json!({ field: 5, "token_type": TOKEN })),
        ),
        (
            "token as a field name",
            json(json!({ TOKEN: field, REFRESH: 1 })),
        ),
        (
            "expiry date of the wrong type",
            json(json!({ field: TOKEN, "expires": [TOKEN], "token_type": "Bearer" })),
        ),
        ("truncated", raw(valid[..valid.len() - 2].to_owned())),
        ("trailing bytes", raw(format!("{valid} {TOKEN}"))),
        ("two objects", raw(format!("{valid}{valid}"))),
        (
            "duplicate fields",
            raw(format!(
                r#"{{"{field}": "{TOKEN}", "{field}": "{TOKEN}", "token_type": "Bearer"}}"#
            )),
        ),
        (
            "not JSON",
            raw(format!("access_token={TOKEN}&refresh_token={REFRESH}")),
        ),
        (
            "HTML",
            RawResponse::new(200)
                .header("content-type", "text/html")
                .body(format!("<html>{TOKEN}</html>")),
        ),
        ("array", json(json!([TOKEN, REFRESH]))),
        ("string", json(json!(TOKEN))),
        (
            "redirect",
            RawResponse::new(302)
                .header(
                    "location",
                    format!("https://elsewhere.example/?token={TOKEN}"),
                )
                .body(valid.clone()),
        ),
        (
            "oversized",
            RawResponse::new(200).body(format!("{{\"{field}\": \"{}\"}}", TOKEN.repeat(60_000))),
        ),
    ]
}

#[tokio::test]
async fn invalid_responses_holding_tokens() {
    for kind in KINDS {
        let mut seen = Seen::new(format!("{kind:?} invalid responses"));
        let server = kind.server(SECRET).await;
        let source = kind.source(&server.token_url(), &mut seen);
        let mut invalid = 0;
        for (what, reply) in invalid_replies(kind) {
            server.clear_faults();
            server.fail_always(reply);
            // Some replies are valid for some providers (Noyo reads no refresh token, a JSON
            // object's last duplicate field wins): those give the sentinel token, also checked.
            match fetch_both_ways(&mut seen, what, &source).await {
                None => {}
                Some(ErrorKind::InvalidResponse) => invalid += 1,
                Some(other) => panic!("{kind:?}: {what}: {other:?}"),
            }
        }
        assert!(
            invalid >= 18,
            "{kind:?}: only {invalid} replies were refused"
        );
        seen.check();
    }
}

#[tokio::test]
async fn unavailable_endpoints() {
    for kind in KINDS {
        let mut seen = Seen::new(format!("{kind:?} unavailable"));
        let server = kind.server(SECRET).await;
        let source = kind.source(&server.token_url(), &mut seen);
        let echo = format!("upstream refused {SECRET} / {TOKEN}");
        let replies = [
            RawResponse::new(503)
                .header("content-type", "text/html")
                .body(format!("<html>{echo}</html>")),
            RawResponse::new(500).json(&json!({"error": echo, "message": echo})),
            RawResponse::new(429)
                .header("retry-after", "1")
                .json(&json!({"error_description": echo})),
            RawResponse::new(408).body(echo.clone()),
        ];
        for (i, reply) in replies.into_iter().enumerate() {
            server.clear_faults();
            server.fail_always(reply);
            let error = fetch_both_ways(&mut seen, &format!("reply {i}"), &source).await;
            assert_eq!(error, Some(ErrorKind::Unavailable), "{kind:?}: reply {i}");
        }
        server.clear_faults();
        server.fail_always(Fault::Slow(Duration::from_secs(2)));
        // Directly only, with a short timeout: each attempt waits for all of it.
        let impatient = HttpOptions::default().with_timeout(Duration::from_millis(300));
        let error = kind
            .source_with(&server.token_url(), &mut seen, impatient)
            .token()
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unavailable);
        seen.token_error("timeout", &error);
        drop(server);

        // Nothing listens there any more.
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!(
                "http://127.0.0.1:{}/token",
                listener.local_addr().unwrap().port()
            )
        };
        let source = kind.source(&closed, &mut seen);
        let error = fetch_both_ways(&mut seen, "connection refused", &source).await;
        assert_eq!(error, Some(ErrorKind::Unavailable));
        seen.check();
    }
}
