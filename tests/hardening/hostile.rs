//! Hostile token-endpoint responses, one table for every provider.
//!
//! Each [`Case`] says how the endpoint answers — an HTTP response served by the provider's
//! test-kit mock ([`RawResponse`]), or a byte-level [`Script`] played by the test kit's raw TCP
//! responder — and what the provider must make of it: a token (for answers that are odd but
//! usable) or an error of a stated [`ErrorKind`]. Bodies are written per provider from its own
//! field names (Younium v1 camelCase, v2 snake_case, Noyo's `expires_in` in milliseconds, RFC 6749).
//!
//! Every case runs against every provider it applies to, with a 2 s HTTP timeout, inside a 10 s
//! deadline that fails the test. Besides the expected outcome, every run checks that nothing
//! panicked, that the error text carries neither the client secret nor a control character, that
//! no request reached another origin (a redirect target counts its connections), and that a raw
//! server never had to write more than 32 MiB (the body cap stops the reading).

use std::collections::HashMap;
use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokensource::extend::lifetime::MAX_LIFETIME;
use tokensource::{Error, ErrorKind, HttpOptions, Token};
use tokensource_testkit::RawResponse;
use tokensource_testkit::raw::{RawServer, Script, http_response};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::providers::{ALL, Field, Provider, SECRET};

/// The HTTP timeout every source gets: short, yet long enough for a good answer on a loaded
/// two-core machine running a debug build.
const HTTP_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest one case may take before the test fails: a hang.
const CASE_DEADLINE: Duration = Duration::from_secs(10);
/// Cases run at once (most wait on a timeout or a socket).
const CONCURRENCY: usize = 8;
/// The most a raw server may have written before the client stops reading: the 1 MiB cap plus
/// loopback socket buffers, with room to spare. Without the cap an endless body would run to
/// gigabytes within the timeout.
const MAX_BYTES_WRITTEN: u64 = 32 * 1024 * 1024;
/// The body cap of the default `HttpOptions`.
const CAP: usize = 1024 * 1024;

/// The access token of a good answer.
const VALID: &str = "hardening-token-1";
/// The lifetime of a good answer, in seconds.
const LIFETIME: u64 = 3600;

/// What a case must produce.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// A token whose secret is [`VALID`], with this lifetime.
    Token(Life),
    /// A token whose secret is this long (made of `t`), living [`LIFETIME`].
    LongToken(usize),
    /// An error of this kind.
    Fails(ErrorKind),
    /// An error of this kind carrying this HTTP status.
    Status(ErrorKind, u16),
    /// `Unavailable` with this `Retry-After`, in seconds.
    RetryAfter(u64),
}

/// The lifetime a token must have.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Life {
    /// The answer gave none.
    Unknown,
    /// Exactly this many milliseconds.
    Millis(u64),
    /// Clamped to the core's one-year maximum.
    Max,
}

const OK: Expect = Expect::Token(Life::Millis(LIFETIME * 1000));
const INVALID: Expect = Expect::Fails(ErrorKind::InvalidResponse);
const UNAVAILABLE: Expect = Expect::Fails(ErrorKind::Unavailable);

/// How the endpoint answers.
enum Reply {
    /// Through the provider's test-kit mock, exactly this response.
    Http(RawResponse),
    /// Through the raw TCP responder, this script.
    Tcp(Script),
}

/// What a case's answer is built from.
struct Ctx {
    provider: Provider,
    /// The base URL of another origin, for redirects.
    elsewhere: String,
}

const PLACEHOLDER: &str = "@@raw@@";

impl Ctx {
    fn key(&self, field: Field) -> &'static str {
        self.provider.key(field)
    }

    fn valid(&self) -> Map<String, Value> {
        self.provider.token_body(VALID, LIFETIME)
    }

    fn valid_text(&self) -> String {
        Value::Object(self.valid()).to_string()
    }

    /// The good answer with `field` set to `value`.
    fn set(&self, field: Field, value: Value) -> Value {
        let mut body = self.valid();
        body.insert(self.key(field).into(), value);
        Value::Object(body)
    }

    /// The good answer without `field`.
    fn unset(&self, field: Field) -> Value {
        let mut body = self.valid();
        body.remove(self.key(field));
        Value::Object(body)
    }

    /// The good answer with `field` set to the raw bytes `raw` (not necessarily JSON).
    fn set_raw(&self, field: Field, raw: &[u8]) -> Vec<u8> {
        let text = self.set(field, json!(PLACEHOLDER)).to_string();
        let (before, after) = text
            .split_once(&format!("\"{PLACEHOLDER}\""))
            .expect("the placeholder is in the body");
        [before.as_bytes(), raw, after.as_bytes()].concat()
    }

    /// A lifetime of `seconds` in the provider's unit.
    fn lifetime(&self, seconds: f64) -> Value {
        let units = self.provider.lifetime_units(seconds);
        if units.fract() == 0.0 && units < 1e15 {
            json!(units as u64)
        } else {
            json!(units)
        }
    }

    /// A redirect to the same path on another origin.
    fn redirect(&self, status: u16) -> Reply {
        Reply::Http(RawResponse::new(status).header(
            "location",
            format!("{}{}", self.elsewhere, self.provider.token_path()),
        ))
    }
}

/// `200 OK`, `Content-Type: application/json`, with `body` as it is.
fn json_bytes(body: impl Into<Vec<u8>>) -> Reply {
    reply(200, "application/json", body)
}

/// `200 OK` with the JSON value `body`.
fn json_value(body: Value) -> Reply {
    json_bytes(body.to_string())
}

/// `status` with `Content-Type: content_type` and `body`.
fn reply(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
    Reply::Http(
        RawResponse::new(status)
            .header("content-type", content_type)
            .body(body),
    )
}

/// A script that reads the request, then writes `response`.
fn tcp(response: impl Into<Vec<u8>>) -> Reply {
    Reply::Tcp(Script::respond(response))
}

/// A response head with `headers`, without any framing of its own.
fn head(status_line: &str, headers: &[&str]) -> String {
    let mut text = format!("{status_line}\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text
}

const HTML: &str = "<!DOCTYPE html><html><head><title>Error</title></head>\
                    <body><h1>Something went wrong</h1><p>Please try again.</p></body></html>";

/// One row of the table.
struct Case {
    name: &'static str,
    expect: Expect,
    reply: fn(&Ctx) -> Reply,
    /// Providers that must produce something else.
    overrides: Vec<(Provider, Expect)>,
    /// The providers the case applies to (all when `None`).
    only: Option<Vec<Provider>>,
}

fn case(name: &'static str, expect: Expect, reply: fn(&Ctx) -> Reply) -> Case {
    Case {
        name,
        expect,
        reply,
        overrides: Vec::new(),
        only: None,
    }
}

impl Case {
    fn except(mut self, providers: &[Provider], expect: Expect) -> Case {
        self.overrides
            .extend(providers.iter().map(|&provider| (provider, expect)));
        self
    }

    fn only(mut self, providers: &[Provider]) -> Case {
        self.only = Some(providers.to_vec());
        self
    }

    fn applies_to(&self, provider: Provider) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.contains(&provider))
    }

    fn expect_for(&self, provider: Provider) -> Expect {
        self.overrides
            .iter()
            .find(|(p, _)| *p == provider)
            .map_or(self.expect, |(_, expect)| *expect)
    }
}

use Provider::{Noyo, OAuth2, YouniumV1, YouniumV2};
const YOUNIUM: &[Provider] = &[YouniumV1, YouniumV2];

/// The table.
fn cases() -> Vec<Case> {
    vec![
        // --- Not JSON, or not the JSON expected -------------------------------------------------
        case("empty body", INVALID, |_| json_bytes("")),
        case("whitespace-only body", INVALID, |_| json_bytes(" \r\n\t ")),
        case("truncated JSON", INVALID, |c| {
            let text = c.valid_text();
            json_bytes(&text.as_bytes()[..text.len() / 2])
        }),
        case("plain text", INVALID, |_| reply(200, "text/plain", "OK")),
        case("a JSON array holding the answer", INVALID, |c| {
            json_value(json!([c.valid()]))
        }),
        case("a JSON string", INVALID, |_| json_value(json!(VALID))),
        case("JSON null", INVALID, |_| json_bytes("null")),
        case("a JSON number", INVALID, |_| json_bytes("3600")),
        case("trailing garbage after the object", INVALID, |c| {
            json_bytes(format!("{} trailing", c.valid_text()))
        }),
        case("two concatenated objects", INVALID, |c| {
            json_bytes(c.valid_text().repeat(2))
        }),
        case("UTF-8 byte order mark before the JSON", INVALID, |c| {
            json_bytes([b"\xEF\xBB\xBF".as_slice(), c.valid_text().as_bytes()].concat())
        }),
        case("invalid UTF-8 inside the token string", INVALID, |c| {
            json_bytes(c.set_raw(Field::AccessToken, b"\"tok\xFF\xFEen\""))
        }),
        case("a JavaScript comment", INVALID, |c| {
            json_bytes(format!("/* token */ {}", c.valid_text()))
        }),
        case("single-quoted strings", INVALID, |c| {
            json_bytes(c.valid_text().replace('"', "'"))
        }),
        // In an extra field: Younium and Noyo read the body as a `serde_json::Value`, whose
        // recursion limit (128) refuses it; oauth2 skips unknown fields without recursing. Either
        // way the stack is safe and the body cap bounds the work.
        case("an extra field nested 100,000 levels deep", INVALID, |c| {
            let text = c.valid_text();
            let open = &text[..text.len() - 1];
            json_bytes(format!(
                "{open},\"nested\":{}{}}}",
                "[".repeat(100_000),
                "]".repeat(100_000)
            ))
        })
        .except(&[OAuth2], OK),
        case("an error object with 200", INVALID, |_| {
            json_value(json!({"error": "server_error", "error_description": "try later"}))
        }),
        // serde_json keeps the last of two equal keys in a map; oauth2's derived struct refuses
        // the duplicate.
        case("the access token key twice", OK, |c| {
            let text = c.valid_text();
            let key = c.key(Field::AccessToken);
            json_bytes(format!("{{\"{key}\":\"decoy\",{}", &text[1..]))
        })
        .except(&[OAuth2], INVALID),
        case("fifty unknown extra fields", OK, |c| {
            let mut body = c.valid();
            for i in 0..50 {
                body.insert(format!("x-extra-{i}"), json!([i, {"nested": null}, "text"]));
            }
            json_value(Value::Object(body))
        }),
        case("JSON escapes inside the token", OK, |c| {
            json_bytes(c.set_raw(Field::AccessToken, br#""hardening\u002dtoken\u002D1""#))
        }),
        // --- The access token: wrong types, missing, empty, illegal characters, size -----------
        case("token is a number", INVALID, |c| {
            json_value(c.set(Field::AccessToken, json!(12345)))
        }),
        case("token is an array", INVALID, |c| {
            json_value(c.set(Field::AccessToken, json!([VALID])))
        }),
        case("token is an object", INVALID, |c| {
            json_value(c.set(Field::AccessToken, json!({"value": VALID})))
        }),
        case("token is a boolean", INVALID, |c| {
            json_value(c.set(Field::AccessToken, json!(true)))
        }),
        case("token is null", INVALID, |c| {
            json_value(c.set(Field::AccessToken, Value::Null))
        }),
        case("token missing", INVALID, |c| {
            json_value(c.unset(Field::AccessToken))
        }),
        case("token empty", INVALID, |c| {
            json_value(c.set(Field::AccessToken, json!("")))
        }),
        case("an empty object", INVALID, |_| json_bytes("{}")),
        case("token with CR LF (header injection)", INVALID, |c| {
            json_value(c.set(Field::AccessToken, json!("abc\r\nX-Injected: 1")))
        }),
        case("token with a lone LF", INVALID, |c| {
            json_value(c.set(Field::AccessToken, json!("abc\ndef")))
        }),
        case("token with NUL", INVALID, |c| {
            json_value(c.set(Field::AccessToken, json!("abc\u{0}def")))
        }),
        case("token with a space", INVALID, |c| {
            json_value(c.set(Field::AccessToken, json!("abc def")))
        }),
        case("token with a tab", INVALID, |c| {
            json_value(c.set(Field::AccessToken, json!("abc\tdef")))
        }),
        case("token with DEL", INVALID, |c| {
            json_value(c.set(Field::AccessToken, json!("abc\u{7f}def")))
        }),
        case("token with non-ASCII", INVALID, |c| {
            json_value(c.set(Field::AccessToken, json!("tök€n")))
        }),
        case(
            "token of exactly 16 KiB",
            Expect::LongToken(16 * 1024),
            |c| json_value(c.set(Field::AccessToken, json!("t".repeat(16 * 1024)))),
        ),
        case("token of 16 KiB + 1", INVALID, |c| {
            json_value(c.set(Field::AccessToken, json!("t".repeat(16 * 1024 + 1))))
        }),
        // --- The token type ----------------------------------------------------------------------
        // RFC 6749 requires `token_type`; Younium sends none and Noyo's is optional here.
        case("token type missing", OK, |c| {
            json_value(c.unset(Field::TokenType))
        })
        .except(&[OAuth2], INVALID),
        case("token type in lower case", OK, |c| {
            json_value(c.set(Field::TokenType, json!("bearer")))
        }),
        case("token type MAC", INVALID, |c| {
            json_value(c.set(Field::TokenType, json!("MAC")))
        }),
        case("token type empty", INVALID, |c| {
            json_value(c.set(Field::TokenType, json!("")))
        }),
        case("token type is a number", INVALID, |c| {
            json_value(c.set(Field::TokenType, json!(1)))
        }),
        // --- The lifetime ------------------------------------------------------------------------
        case("lifetime negative", INVALID, |c| {
            json_value(c.set(Field::Lifetime, json!(-1)))
        }),
        case("lifetime zero", Expect::Token(Life::Millis(0)), |c| {
            json_value(c.set(Field::Lifetime, json!(0)))
        }),
        case("lifetime as a numeric string", OK, |c| {
            let units = c.lifetime(LIFETIME as f64).to_string();
            json_value(c.set(Field::Lifetime, json!(units)))
        }),
        case("lifetime as a word", INVALID, |c| {
            json_value(c.set(Field::Lifetime, json!("soon")))
        }),
        case("lifetime as a string with spaces", INVALID, |c| {
            json_value(c.set(Field::Lifetime, json!(" 3600 ")))
        }),
        case("lifetime as a decimal string", INVALID, |c| {
            json_value(c.set(Field::Lifetime, json!("3599.5")))
        }),
        case("lifetime as a negative string", INVALID, |c| {
            json_value(c.set(Field::Lifetime, json!("-3600")))
        }),
        case(
            "lifetime a float",
            Expect::Token(Life::Millis(3_599_500)),
            |c| json_value(c.set(Field::Lifetime, c.lifetime(3599.5))),
        ),
        case("lifetime 1e20", Expect::Token(Life::Max), |c| {
            json_value(c.set(Field::Lifetime, json!(1e20)))
        }),
        case("lifetime u64::MAX", Expect::Token(Life::Max), |c| {
            json_value(c.set(Field::Lifetime, json!(u64::MAX)))
        }),
        case(
            "lifetime a 40-digit integer",
            Expect::Token(Life::Max),
            |c| json_bytes(c.set_raw(Field::Lifetime, "9".repeat(40).as_bytes())),
        ),
        // serde_json refuses a number beyond f64 rather than reading infinity.
        case("lifetime 1e400, beyond f64", INVALID, |c| {
            json_bytes(c.set_raw(Field::Lifetime, b"1e400"))
        }),
        case("lifetime NaN literal", INVALID, |c| {
            json_bytes(c.set_raw(Field::Lifetime, b"NaN"))
        }),
        case("lifetime a boolean", INVALID, |c| {
            json_value(c.set(Field::Lifetime, json!(true)))
        }),
        case("lifetime an object", INVALID, |c| {
            json_value(c.set(Field::Lifetime, json!({"seconds": 3600})))
        }),
        case("lifetime an array", INVALID, |c| {
            json_value(c.set(Field::Lifetime, json!([3600])))
        }),
        case("lifetime null", Expect::Token(Life::Unknown), |c| {
            json_value(c.set(Field::Lifetime, Value::Null))
        }),
        case("lifetime missing", Expect::Token(Life::Unknown), |c| {
            json_value(c.unset(Field::Lifetime))
        }),
        // --- Fields only some providers read ----------------------------------------------------
        case("refresh token is a number", INVALID, |c| {
            json_value(c.set(Field::RefreshToken, json!(7)))
        })
        .except(&[Noyo], OK),
        case("scope is a number", OK, |c| {
            json_value(c.set(Field::Scope, json!(7)))
        })
        .except(&[OAuth2], INVALID),
        case(
            "Younium `expires` not a date, no `expiresIn`",
            INVALID,
            |c| {
                let mut body = c.unset(Field::Lifetime);
                body["expires"] = json!("tomorrow");
                json_value(body)
            },
        )
        .only(YOUNIUM),
        // --- HTTP statuses -----------------------------------------------------------------------
        case(
            "HTML page with 200",
            Expect::Status(ErrorKind::InvalidResponse, 200),
            |_| reply(200, "text/html; charset=utf-8", HTML),
        ),
        case(
            "HTML page with 502",
            Expect::Status(ErrorKind::Unavailable, 502),
            |_| reply(502, "text/html", HTML),
        ),
        case("503 with Retry-After", Expect::RetryAfter(7), |_| {
            Reply::Http(
                RawResponse::new(503)
                    .header("retry-after", "7")
                    .header("content-type", "text/html")
                    .body(HTML),
            )
        }),
        case(
            "500 carrying a token",
            Expect::Status(ErrorKind::Unavailable, 500),
            |c| reply(500, "application/json", c.valid_text()),
        ),
        case(
            "429 rate limited",
            Expect::Status(ErrorKind::Unavailable, 429),
            |_| reply(429, "application/json", r#"{"message":"slow down"}"#),
        ),
        case(
            "401 with an HTML page",
            Expect::Status(ErrorKind::CredentialsRejected, 401),
            |_| reply(401, "text/html", HTML),
        ),
        case(
            "400 with an RFC 6749 error",
            Expect::Status(ErrorKind::CredentialsRejected, 400),
            |_| {
                reply(
                    400,
                    "application/json",
                    r#"{"error":"invalid_client","error_description":"unknown client"}"#,
                )
            },
        ),
        case(
            "403 with an empty body",
            Expect::Status(ErrorKind::CredentialsRejected, 403),
            |_| reply(403, "text/plain", ""),
        ),
        case(
            "404 Not Found",
            Expect::Status(ErrorKind::InvalidResponse, 404),
            |_| reply(404, "text/html", HTML),
        ),
        case("204 No Content", INVALID, |_| {
            Reply::Http(RawResponse::new(204))
        }),
        case("201 Created carrying a token", OK, |c| {
            reply(201, "application/json", c.valid_text())
        }),
        case("304 Not Modified", INVALID, |_| {
            Reply::Http(RawResponse::new(304))
        }),
        case("301 to another origin", INVALID, |c| c.redirect(301)),
        case("302 to another origin", INVALID, |c| c.redirect(302)),
        case("303 to another origin", INVALID, |c| c.redirect(303)),
        case("307 to another origin", INVALID, |c| c.redirect(307)),
        case("308 to another origin", INVALID, |c| c.redirect(308)),
        // --- Content types: the body decides --------------------------------------------------
        case("JSON labelled text/html", OK, |c| {
            reply(200, "text/html", c.valid_text())
        }),
        case("JSON labelled text/plain", OK, |c| {
            reply(200, "text/plain", c.valid_text())
        }),
        case("JSON labelled application/xml", OK, |c| {
            reply(200, "application/xml", c.valid_text())
        }),
        case("JSON labelled with a latin1 charset", OK, |c| {
            reply(200, "application/json; charset=iso-8859-1", c.valid_text())
        }),
        case("JSON without a Content-Type", OK, |c| {
            Reply::Http(RawResponse::new(200).body(c.valid_text()))
        }),
        case("JSON labelled gzip but not compressed", OK, |c| {
            Reply::Http(
                RawResponse::new(200)
                    .header("content-type", "application/json")
                    .header("content-encoding", "gzip")
                    .body(c.valid_text()),
            )
        }),
        case("gzip bytes the client did not ask for", INVALID, |_| {
            Reply::Http(
                RawResponse::new(200)
                    .header("content-type", "application/json")
                    .header("content-encoding", "gzip")
                    .body(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\x56\x4a\x4c\x4e".to_vec()),
            )
        }),
        case("an XML body", INVALID, |_| {
            reply(
                200,
                "application/xml",
                "<?xml version=\"1.0\"?><token><access_token>abc</access_token></token>",
            )
        }),
        case("a form-encoded body", INVALID, |_| {
            reply(
                200,
                "application/x-www-form-urlencoded",
                "access_token=abc&token_type=bearer&expires_in=3600",
            )
        }),
        // --- Size and time -------------------------------------------------------------------
        case("a 2 MiB body", INVALID, |_| {
            reply(200, "application/json", vec![b' '; 2 * CAP])
        }),
        case("a good body padded to 1 byte under the cap", OK, |c| {
            let text = c.valid_text();
            let padding = " ".repeat(CAP - 1 - text.len());
            json_bytes(format!("{text}{padding}"))
        }),
        case("a good body padded to 1 byte over the cap", INVALID, |c| {
            let text = c.valid_text();
            let padding = " ".repeat(CAP + 1 - text.len());
            json_bytes(format!("{text}{padding}"))
        }),
        case("a good answer after 5 s", UNAVAILABLE, |c| {
            Reply::Http(
                RawResponse::new(200)
                    .header("content-type", "application/json")
                    .body(c.valid_text())
                    .delay(Duration::from_secs(5)),
            )
        }),
        // --- Raw TCP: what no HTTP server library sends -----------------------------------------
        case("tcp: closed before any response", UNAVAILABLE, |_| {
            Reply::Tcp(Script::new().read_request())
        }),
        case("tcp: connection reset", UNAVAILABLE, |_| {
            Reply::Tcp(Script::new().reset())
        }),
        case(
            "tcp: closed in the middle of the headers",
            UNAVAILABLE,
            |_| tcp("HTTP/1.1 200 OK\r\ncontent-type: appl"),
        ),
        case("tcp: closed mid-body (Content-Length)", UNAVAILABLE, |c| {
            let body = c.valid_text();
            let header = head(
                "HTTP/1.1 200 OK",
                &[&format!("content-length: {}", body.len())],
            );
            tcp(format!("{header}{}", &body[..body.len() / 2]))
        }),
        case("tcp: closed mid-body (chunked)", UNAVAILABLE, |c| {
            let body = c.valid_text();
            let header = head("HTTP/1.1 200 OK", &["transfer-encoding: chunked"]);
            tcp(format!(
                "{header}{:x}\r\n{}",
                body.len(),
                &body[..body.len() / 2]
            ))
        }),
        case(
            "tcp: Content-Length larger than the body, then close",
            UNAVAILABLE,
            |c| {
                let body = c.valid_text();
                let header = head(
                    "HTTP/1.1 200 OK",
                    &[&format!("content-length: {}", body.len() + 100)],
                );
                tcp(format!("{header}{body}"))
            },
        ),
        case(
            "tcp: Content-Length larger than the body, kept open",
            UNAVAILABLE,
            |c| {
                let body = c.valid_text();
                let header = head(
                    "HTTP/1.1 200 OK",
                    &[&format!("content-length: {}", body.len() + 100)],
                );
                Reply::Tcp(Script::respond(format!("{header}{body}")).hold())
            },
        ),
        case("tcp: Content-Length smaller than the body", INVALID, |c| {
            let body = c.valid_text();
            let header = head(
                "HTTP/1.1 200 OK",
                &[&format!("content-length: {}", body.len() / 2)],
            );
            tcp(format!("{header}{body}"))
        }),
        case(
            "tcp: two different Content-Length headers",
            UNAVAILABLE,
            |c| {
                let body = c.valid_text();
                let header = head(
                    "HTTP/1.1 200 OK",
                    &[
                        &format!("content-length: {}", body.len()),
                        &format!("content-length: {}", body.len() + 1),
                    ],
                );
                tcp(format!("{header}{body}"))
            },
        ),
        case("tcp: endless body, 1 byte every 50 ms", UNAVAILABLE, |_| {
            Reply::Tcp(
                Script::new()
                    .read_request()
                    .write(head("HTTP/1.1 200 OK", &["content-type: application/json"]))
                    .write("{\"a\":\"")
                    .write_forever("x", Duration::from_millis(50)),
            )
        }),
        case(
            "tcp: endless chunked body, as fast as read",
            INVALID,
            |_| {
                let chunk = format!("4000\r\n{}\r\n", " ".repeat(0x4000));
                Reply::Tcp(
                    Script::new()
                        .read_request()
                        .write(head("HTTP/1.1 200 OK", &["transfer-encoding: chunked"]))
                        .write_forever(chunk, Duration::ZERO),
                )
            },
        ),
        case(
            "tcp: endless body framed by close, as fast as read",
            INVALID,
            |_| {
                Reply::Tcp(
                    Script::new()
                        .read_request()
                        .write(head("HTTP/1.1 200 OK", &["content-type: application/json"]))
                        .write_forever(" ".repeat(0x4000), Duration::ZERO),
                )
            },
        ),
        case(
            "tcp: headers 1 byte every 100 ms (slowloris)",
            UNAVAILABLE,
            |_| {
                Reply::Tcp(
                    Script::new()
                        .read_request()
                        .write("HTTP/1.1 200 OK\r\nx-slow: ")
                        .write_forever("a", Duration::from_millis(100)),
                )
            },
        ),
        case("tcp: accepted, never answered", UNAVAILABLE, |_| {
            Reply::Tcp(Script::new().read_request().hold())
        }),
        case("tcp: a good answer after 4 s", UNAVAILABLE, |c| {
            let body = c.valid_text();
            Reply::Tcp(
                Script::new()
                    .read_request()
                    .pause(Duration::from_secs(4))
                    .write(http_response(
                        200,
                        &[("content-type", "application/json")],
                        body,
                    )),
            )
        }),
        case("tcp: not HTTP at all", UNAVAILABLE, |_| {
            tcp("SSH-2.0-OpenSSH_9.6\r\n")
        }),
        case("tcp: a 1 MiB header", UNAVAILABLE, |c| {
            let header = head("HTTP/1.1 200 OK", &[&format!("x-big: {}", "b".repeat(CAP))]);
            tcp(format!("{header}{}", c.valid_text()))
        }),
        case("tcp: 10,000 headers", UNAVAILABLE, |c| {
            let headers: Vec<String> = (0..10_000).map(|i| format!("x-h{i}: v")).collect();
            let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
            tcp(format!(
                "{}{}",
                head("HTTP/1.1 200 OK", &headers),
                c.valid_text()
            ))
        }),
        case("tcp: NUL in a header value", UNAVAILABLE, |c| {
            let body = c.valid_text();
            let header = head(
                "HTTP/1.1 200 OK",
                &["x-evil: a\0b", &format!("content-length: {}", body.len())],
            );
            tcp(format!("{header}{body}"))
        }),
        case("tcp: a malformed chunk size", UNAVAILABLE, |c| {
            let header = head("HTTP/1.1 200 OK", &["transfer-encoding: chunked"]);
            tcp(format!("{header}zz\r\n{}\r\n0\r\n\r\n", c.valid_text()))
        }),
        case("tcp: a chunk of 2^60 bytes, then close", UNAVAILABLE, |c| {
            let header = head("HTTP/1.1 200 OK", &["transfer-encoding: chunked"]);
            tcp(format!("{header}1000000000000000\r\n{}", c.valid_text()))
        }),
        case("tcp: HTTP/1.0 answer framed by close", OK, |c| {
            let header = head("HTTP/1.0 200 OK", &["content-type: application/json"]);
            tcp(format!("{header}{}", c.valid_text()))
        }),
        case("tcp: 100 Continue before the answer", OK, |c| {
            let body = c.valid_text();
            let mut bytes = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
            bytes.extend(http_response(
                200,
                &[("content-type", "application/json")],
                body,
            ));
            tcp(bytes)
        }),
    ]
}

/// One case against one provider.
async fn run(case: &Case, provider: Provider) -> Result<String, String> {
    // Where a redirect points: an origin that would even hand out a token, so that following the
    // redirect would be rewarded, and counted.
    let elsewhere = RawServer::start(Script::respond(http_response(
        200,
        &[("content-type", "application/json")],
        Value::Object(provider.token_body("stolen-on-redirect", 60)).to_string(),
    )));
    let ctx = Ctx {
        provider,
        elsewhere: elsewhere.uri(),
    };
    let options = HttpOptions::default().with_timeout(HTTP_TIMEOUT);
    let deadline = |fetch| async move {
        tokio::time::timeout(CASE_DEADLINE, fetch)
            .await
            .map_err(|_| format!("no answer within {CASE_DEADLINE:?}: the source hangs"))
    };
    let (result, written) = match (case.reply)(&ctx) {
        Reply::Http(response) => {
            let server = provider.mock(Duration::from_secs(LIFETIME)).await;
            server.fail_always(response);
            let source = provider.source(&server.token_url(), options);
            (deadline(source.token()).await?, None)
        }
        Reply::Tcp(script) => {
            let server = RawServer::start(script);
            let source = provider.source(&server.url(provider.token_path()), options);
            let result = deadline(source.token()).await?;
            (result, Some(server.bytes_written()))
        }
    };

    if elsewhere.connections() != 0 {
        return Err("a request reached the redirect's other origin".into());
    }
    if let Some(written) = written
        && written > MAX_BYTES_WRITTEN
    {
        return Err(format!(
            "the server wrote {written} bytes before the client stopped reading"
        ));
    }
    if let Err(error) = &result {
        check_error_text(error, provider)?;
    }
    let expect = case.expect_for(provider);
    check(expect, &result).map_err(|problem| format!("expected {expect}, {problem}"))?;
    Ok(match written {
        // Endless bodies: show how much the server got to write before the client stopped.
        Some(written) if written > CAP as u64 => format!(
            "{expect}, after {:.1} MiB",
            written as f64 / (1024.0 * 1024.0)
        ),
        _ => expect.to_string(),
    })
}

/// The error's text is fit for a log: no secret, no control character, the provider named.
fn check_error_text(error: &Error, provider: Provider) -> Result<(), String> {
    if error.provider() != provider.error_name() {
        return Err(format!(
            "the error names {:?}, not {:?}",
            error.provider(),
            provider.error_name()
        ));
    }
    let display = error.to_string();
    if display.chars().any(char::is_control) {
        return Err(format!("control characters in the error text: {display:?}"));
    }
    let mut texts = vec![display, format!("{error:?}")];
    let mut source = error.source();
    while let Some(cause) = source {
        texts.push(cause.to_string());
        source = cause.source();
    }
    if texts.iter().any(|t| t.contains(SECRET)) {
        return Err("the client secret appears in the error".into());
    }
    Ok(())
}

fn check(expect: Expect, result: &Result<Token, Error>) -> Result<(), String> {
    let describe = |result: &Result<Token, Error>| match result {
        Ok(token) => format!(
            "got a token ({} bytes, {:?})",
            token.expose_secret().len(),
            token.lifetime()
        ),
        Err(error) => format!("got {:?}: {error}", error.kind()),
    };
    let ok = match (expect, result) {
        (Expect::Token(life), Ok(token)) => {
            token.expose_secret() == VALID && life_matches(life, token.lifetime())
        }
        (Expect::LongToken(len), Ok(token)) => {
            token.expose_secret().len() == len
                && token.expose_secret().bytes().all(|b| b == b't')
                && life_matches(Life::Millis(LIFETIME * 1000), token.lifetime())
        }
        (Expect::Fails(kind), Err(error)) => error.kind() == kind,
        (Expect::Status(kind, status), Err(error)) => {
            error.kind() == kind && error.status() == Some(status)
        }
        (Expect::RetryAfter(seconds), Err(error)) => {
            error.kind() == ErrorKind::Unavailable
                && error.retry_after() == Some(Duration::from_secs(seconds))
        }
        _ => false,
    };
    if ok { Ok(()) } else { Err(describe(result)) }
}

fn life_matches(life: Life, lifetime: Option<Duration>) -> bool {
    match life {
        Life::Unknown => lifetime.is_none(),
        Life::Millis(ms) => lifetime == Some(Duration::from_millis(ms)),
        Life::Max => lifetime == Some(MAX_LIFETIME),
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Token(Life::Unknown) => f.write_str("token (no lifetime)"),
            Expect::Token(Life::Millis(ms)) => write!(f, "token ({} s)", *ms as f64 / 1000.0),
            Expect::Token(Life::Max) => f.write_str("token (1 year, clamped)"),
            Expect::LongToken(len) => write!(f, "token ({len} bytes)"),
            Expect::Fails(kind) => write!(f, "{kind:?}"),
            Expect::Status(kind, status) => write!(f, "{kind:?} (HTTP {status})"),
            Expect::RetryAfter(s) => write!(f, "Unavailable (Retry-After {s} s)"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_token_responses() {
    let _shared = crate::EXCLUSIVE.read().await;
    let cases = Arc::new(cases());
    assert!(cases.len() >= 40, "the table has {} cases", cases.len());

    let started = std::time::Instant::now();
    let semaphore = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    let mut names = HashMap::new();
    for (index, case) in cases.iter().enumerate() {
        for provider in ALL.into_iter().filter(|p| case.applies_to(*p)) {
            let permit = Arc::clone(&semaphore)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let cases = Arc::clone(&cases);
            let handle = tasks.spawn(async move {
                let _permit = permit;
                (index, provider, run(&cases[index], provider).await)
            });
            names.insert(handle.id(), (case.name, provider));
        }
    }

    let mut outcomes: HashMap<(usize, Provider), String> = HashMap::new();
    let mut failures = Vec::new();
    let mut runs = 0;
    while let Some(joined) = tasks.join_next_with_id().await {
        runs += 1;
        match joined {
            Ok((_, (index, provider, Ok(outcome)))) => {
                outcomes.insert((index, provider), outcome);
            }
            Ok((_, (index, provider, Err(problem)))) => {
                failures.push(format!("{provider} / {}: {problem}", cases[index].name));
            }
            Err(error) => {
                let (name, provider) = names[&error.id()];
                failures.push(format!("{provider} / {name}: the task failed: {error}"));
            }
        }
    }

    crate::report(&format!(
        "hostile responses: {} cases, {runs} runs over {} providers, {} failed, in {:.1} s",
        cases.len(),
        ALL.len(),
        failures.len(),
        started.elapsed().as_secs_f64()
    ));
    println!("| # | case | {} |", ALL.map(|p| p.to_string()).join(" | "));
    println!("|---|---|{}", "---|".repeat(ALL.len()));
    for (index, case) in cases.iter().enumerate() {
        let cells: Vec<String> = ALL
            .iter()
            .map(|p| match outcomes.get(&(index, *p)) {
                Some(outcome) => outcome.clone(),
                None if case.applies_to(*p) => "FAILED".into(),
                None => "n/a".into(),
            })
            .collect();
        println!("| {} | {} | {} |", index + 1, case.name, cells.join(" | "));
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
