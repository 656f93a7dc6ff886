//! The sentinels, the `tracing` capture, and [`Seen`], which formats values and checks them.

use std::fmt::{Debug, Display};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokensource_testkit::observe::MetricsRecorder;
use tracing_subscriber::fmt::format::FmtSpan;

/// The client secret. `+`, `/` and `=` make its form-urlencoded and JSON forms differ from it.
pub(crate) const SECRET: &str = "SENTINEL-SECRET+7f3a/x=";
/// An access token issued by the (mock) token endpoint.
pub(crate) const TOKEN: &str = "SENTINEL-TOKEN-91c2";
/// A refresh token issued with it.
pub(crate) const REFRESH: &str = "SENTINEL-REFRESH-5d0e";
/// The password in a Redis URL.
pub(crate) const REDIS_PASSWORD: &str = "SENTINEL-REDISPW-2b8c";
/// The client id (not a secret).
pub(crate) const CLIENT_ID: &str = "hygiene-client";

/// Set in the child process that runs the scenarios and prints what they format.
pub(crate) const CHILD_VAR: &str = "TOKENSOURCE_HYGIENE_CHILD";
/// Starts each printed text, so that the parent can count them.
pub(crate) const PRINT_MARK: &str = "[hygiene] ";

/// The client secret as form-urlencoding writes it (RFC 6749 client authentication).
pub(crate) fn form_encoded_secret() -> String {
    url_encode(SECRET)
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `Basic` credentials as Noyo sends them (raw id and secret) and as RFC 6749 sends them
/// (form-urlencoded first).
pub(crate) fn basic_credentials() -> [String; 2] {
    [
        STANDARD.encode(format!("{CLIENT_ID}:{SECRET}")),
        STANDARD.encode(format!(
            "{}:{}",
            url_encode(CLIENT_ID),
            form_encoded_secret()
        )),
    ]
}

/// The first forbidden string in `text`: any sentinel whole, or its distinctive start or end
/// (a cut-off copy), an encoded form of the secret, or one of `extra`.
pub(crate) fn forbidden_in(text: &str, extra: &[String]) -> Option<String> {
    let mut forbidden: Vec<String> = vec![
        "SENTINEL".into(),
        "SECRET+7f3a".into(),
        "SECRET%2B7f3a".into(),
        "7f3a/x=".into(),
        "7f3a%2Fx".into(),
        "TOKEN-91c2".into(),
        "REFRESH-5d0e".into(),
        "REDISPW-2b8c".into(),
    ];
    forbidden.extend(basic_credentials());
    // A base64 encoding cut short still starts the same way.
    forbidden.extend(basic_credentials().map(|b| b[..24].to_owned()));
    forbidden.extend(extra.iter().filter(|e| e.len() >= 8).cloned());
    forbidden.into_iter().find(|f| text.contains(f.as_str()))
}

fn in_child() -> bool {
    std::env::var_os(CHILD_VAR).is_some()
}

/// Everything `tracing` wrote, from every thread, since the process started.
static TRACE_BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct BufferWriter(Arc<Mutex<Vec<u8>>>);

impl Write for BufferWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        if in_child() {
            std::io::stderr().write_all(bytes)?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the global TRACE subscriber (and the global metrics recorder) once, and returns
/// the buffer the subscriber writes to. Spans are written when they close, with every field
/// recorded on them.
pub(crate) fn trace_buffer() -> Arc<Mutex<Vec<u8>>> {
    TRACE_BUFFER
        .get_or_init(|| {
            MetricsRecorder::global();
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let writer = BufferWriter(Arc::clone(&buffer));
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_span_events(FmtSpan::CLOSE)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in this test binary");
            buffer
        })
        .clone()
}

/// What one scenario formatted, checked when it is dropped... explicitly, with [`Seen::check`].
pub(crate) struct Seen {
    scenario: String,
    texts: Vec<(String, String)>,
    extra: Vec<String>,
}

impl Seen {
    /// A scenario; the tracing subscriber is installed if it was not.
    pub(crate) fn new(scenario: impl Into<String>) -> Self {
        trace_buffer();
        Seen {
            scenario: scenario.into(),
            texts: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// Also forbids `text` (a token the mock issued, say) in this scenario's output.
    pub(crate) fn forbid(&mut self, text: impl Into<String>) {
        self.extra.push(text.into());
    }

    fn record(&mut self, what: &str, text: String) {
        if in_child() {
            println!("{PRINT_MARK}{}: {what}: {text}", self.scenario);
        }
        self.texts.push((what.to_owned(), text));
    }

    /// `{:?}` and `{:#?}` of `value`.
    pub(crate) fn debug(&mut self, what: &str, value: &dyn Debug) {
        self.record(what, format!("{value:?}"));
        self.record(what, format!("{value:#?}"));
    }

    /// `{}` of `value`.
    pub(crate) fn display(&mut self, what: &str, value: &dyn Display) {
        self.record(what, value.to_string());
    }

    /// `Display` and `Debug` of `error` and of every error in its `source()` chain.
    pub(crate) fn error(&mut self, what: &str, error: &(dyn std::error::Error + 'static)) {
        let mut current = Some(error);
        let mut depth = 0;
        while let Some(e) = current {
            self.display(&format!("{what} (source {depth})"), e);
            self.debug(&format!("{what} (source {depth})"), e);
            current = e.source();
            depth += 1;
        }
    }

    /// A `tokensource::Error`: as [`error`](Self::error), plus its accessors.
    pub(crate) fn token_error(&mut self, what: &str, error: &tokensource::Error) {
        self.error(what, error);
        self.record(what, error.detail().to_owned());
        self.record(
            what,
            error.provider_message().unwrap_or_default().to_owned(),
        );
        self.record(what, error.provider().to_owned());
    }

    /// Asserts that nothing formatted, nothing traced so far and no metric's name or label holds
    /// a forbidden string.
    pub(crate) fn check(mut self) {
        // The metrics so far, printed in the child as an application's exporter would.
        for (name, labels) in MetricsRecorder::global().keys() {
            self.record("metric", format!("{name} {labels:?}"));
        }
        assert!(
            !self.texts.is_empty(),
            "{}: nothing was formatted",
            self.scenario
        );
        for (what, text) in &self.texts {
            if let Some(found) = forbidden_in(text, &self.extra) {
                panic!("{}: {what} holds {found:?}: {text}", self.scenario);
            }
        }
        let traced = String::from_utf8_lossy(&trace_buffer().lock().unwrap()).into_owned();
        if let Some(found) = forbidden_in(&traced, &self.extra) {
            let line = traced
                .lines()
                .find(|l| l.contains(found.as_str()))
                .unwrap_or_default();
            panic!("{}: a tracing event holds {found:?}: {line}", self.scenario);
        }
    }
}
