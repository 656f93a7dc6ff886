//! The mock server: a token endpoint playing one provider's protocol, and a protected API.

use std::collections::VecDeque;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{path, path_regex};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::fault::{Fault, FaultPlan};
use crate::protocol::{Protocol, json_response};
use crate::recorded::RecordedRequest;
use crate::tokens::Ledger;
use crate::{NoyoMock, OAuth2Mock, YouniumMock};

/// The path [`MockServer::api_url`] points at; every path under `/api/` is served alike.
const API_PATH: &str = "/api/ping";

/// How many requests of each kind are kept for [`MockServer::token_requests`] and
/// [`MockServer::api_requests`]; older ones are dropped.
const MAX_RECORDED: usize = 1000;

/// An in-process mock token server with a protected API, bound to `127.0.0.1` on a free port.
///
/// It plays one provider's protocol as documented (see [`YouniumMock`], [`NoyoMock`],
/// [`OAuth2Mock`]), checking each token request as the real service would, issuing distinct tokens
/// with the lifetime you choose, and counting requests. Every path under `/api/` (say
/// [`api_url`](MockServer::api_url), `/api/ping`) is a protected API that answers `200` only to
/// `Authorization: Bearer <token>` with a token this server issued that has neither expired nor
/// been [revoked](MockServer::revoke), and `401` otherwise, in the provider's style.
///
/// The server runs on its own thread and stops when dropped. Its clock is the real one: tests
/// that talk to it over HTTP should not pause tokio's clock (a paused clock fires HTTP timeouts
/// while the runtime waits for the socket); use [`expire_all`](MockServer::expire_all) or
/// [`revoke`](MockServer::revoke) instead of waiting.
///
/// Memory grows with traffic: wiremock, which serves the mock, keeps a copy of every request it
/// answered (a few KiB each) until the server is dropped. For soak tests of many thousands of API
/// requests, measure memory against a server of your own, or start a new `MockServer` now and then.
///
/// ```
/// use tokensource_testkit::{Fault, MockServer, YouniumMock};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), reqwest::Error> {
/// let server = MockServer::younium(YouniumMock::new("id", "secret")).start().await;
/// server.fail_times(Fault::ServerError, 1);
///
/// let client = reqwest::Client::new();
/// let token_request = || {
///     client
///         .post(server.token_url())
///         .header("content-type", "application/json")
///         .body(r#"{"clientId": "id", "secret": "secret"}"#)
/// };
/// assert_eq!(token_request().send().await?.status(), 503);
/// let reply: serde_json::Value = serde_json::from_slice(&token_request().send().await?.bytes().await?).unwrap();
/// let token = reply["accessToken"].as_str().unwrap();
///
/// let api = client.get(server.api_url()).bearer_auth(token).send().await?;
/// assert_eq!(api.status(), 200);
/// server.revoke(token);
/// let api = client.get(server.api_url()).bearer_auth(token).send().await?;
/// assert_eq!(api.status(), 401);
///
/// assert_eq!((server.token_hits(), server.tokens_issued(), server.api_hits()), (2, 1, 2));
/// # Ok(())
/// # }
/// ```
pub struct MockServer {
    server: DropOffRuntime,
    shared: Arc<Shared>,
}

/// The wiremock server, dropped on a thread of its own.
///
/// wiremock's `Drop` waits for a `tokio::sync::RwLock` with `futures::executor::block_on`. When
/// the tokio task dropping it has used up its cooperative budget (many ready awaits in one poll,
/// such as joining a thousand finished tasks), acquiring that lock never completes: the drop
/// spins forever on a `block_on` thread, or deadlocks on a worker, and the test hangs instead of
/// ending. A fresh thread has no budget to run out of.
struct DropOffRuntime(Option<wiremock::MockServer>);

impl std::ops::Deref for DropOffRuntime {
    type Target = wiremock::MockServer;

    fn deref(&self) -> &wiremock::MockServer {
        self.0
            .as_ref()
            .expect("the server is only taken when dropped")
    }
}

impl Drop for DropOffRuntime {
    fn drop(&mut self) {
        let Some(server) = self.0.take() else { return };
        // If no thread can be spawned, the closure, and the server with it, is dropped here.
        if let Ok(dropper) = std::thread::Builder::new()
            .name("tokensource-testkit-drop".into())
            .spawn(move || drop(server))
        {
            let _ = dropper.join();
        }
    }
}

/// A mock server about to start; see [`MockServer::younium`], [`MockServer::noyo`] and
/// [`MockServer::oauth2`].
#[must_use = "a MockServerBuilder does nothing until started"]
pub struct MockServerBuilder {
    protocol: Arc<dyn Protocol>,
}

impl fmt::Debug for MockServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockServerBuilder")
            .field("protocol", &self.protocol)
            .finish()
    }
}

struct Shared {
    protocol: Arc<dyn Protocol>,
    state: Mutex<State>,
}

struct State {
    ledger: Ledger,
    faults: FaultPlan,
    token_hits: usize,
    api_hits: usize,
    token_requests: VecDeque<RecordedRequest>,
    api_requests: VecDeque<RecordedRequest>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not wedge the server: the state stays usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn record(queue: &mut VecDeque<RecordedRequest>, request: &Request) {
    if queue.len() == MAX_RECORDED {
        queue.pop_front();
    }
    queue.push_back(RecordedRequest::from_wiremock(request));
}

impl MockServerBuilder {
    /// Starts the server on `127.0.0.1` with a free port.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start(self) -> MockServer {
        let nonce = RandomState::new().build_hasher().finish();
        let shared = Arc::new(Shared {
            protocol: self.protocol,
            state: Mutex::new(State {
                ledger: Ledger::new(nonce),
                faults: FaultPlan::default(),
                token_hits: 0,
                api_hits: 0,
                token_requests: VecDeque::new(),
                api_requests: VecDeque::new(),
            }),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("the mock server could not bind a loopback port");
        let server = wiremock::MockServer::builder()
            .listener(listener)
            .disable_request_recording()
            .start()
            .await;
        for token_path in shared.protocol.token_paths() {
            Mock::given(path(*token_path))
                .respond_with(TokenEndpoint(Arc::clone(&shared)))
                .mount(&server)
                .await;
        }
        Mock::given(path_regex(r"^/api(/.*)?$"))
            .respond_with(ApiEndpoint(Arc::clone(&shared)))
            .mount(&server)
            .await;
        MockServer {
            server: DropOffRuntime(Some(server)),
            shared,
        }
    }
}

impl MockServer {
    /// A mock of Younium's token endpoint (auth v1 and v2); see [`YouniumMock`].
    pub fn younium(mock: YouniumMock) -> MockServerBuilder {
        MockServerBuilder {
            protocol: Arc::new(mock),
        }
    }

    /// A mock of Noyo's token endpoint; see [`NoyoMock`].
    pub fn noyo(mock: NoyoMock) -> MockServerBuilder {
        MockServerBuilder {
            protocol: Arc::new(mock),
        }
    }

    /// A mock of a standard OAuth2 client-credentials token endpoint; see [`OAuth2Mock`].
    pub fn oauth2(mock: OAuth2Mock) -> MockServerBuilder {
        MockServerBuilder {
            protocol: Arc::new(mock),
        }
    }

    /// The base URL, for example `http://127.0.0.1:41234` (no trailing slash).
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The socket address the server listens on (always on `127.0.0.1`).
    pub fn address(&self) -> SocketAddr {
        *self.server.address()
    }

    /// The URL of `path` on this server; `path` should start with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.uri())
    }

    /// The token endpoint's URL, for the provider's `token_url` setting: `/auth/token` (or
    /// `/auth/v2/token` with [`YouniumMock::auth_v2`]) for Younium, `/auth/public/token` for Noyo,
    /// `/oauth/v2/token` for OAuth2.
    pub fn token_url(&self) -> String {
        self.url(self.shared.protocol.token_path())
    }

    /// The protected API's URL, `<uri>/api/ping`. Any path under `/api/` behaves the same.
    pub fn api_url(&self) -> String {
        self.url(API_PATH)
    }

    /// From now on, the token endpoint accepts `secret` instead of the secret it was started
    /// with (a rotation on the provider's side): requests with the old secret are refused.
    pub fn rotate_secret(&self, secret: &str) {
        self.shared.protocol.rotate_secret(secret);
    }

    /// How many requests reached the token endpoint (successful, refused or faulted).
    pub fn token_hits(&self) -> usize {
        self.shared.lock().token_hits
    }

    /// How many tokens were issued.
    pub fn tokens_issued(&self) -> usize {
        usize::try_from(self.shared.lock().ledger.issued()).unwrap_or(usize::MAX)
    }

    /// How many requests reached the protected API (accepted or not).
    pub fn api_hits(&self) -> usize {
        self.shared.lock().api_hits
    }

    /// The access token issued last, if any.
    pub fn last_token(&self) -> Option<String> {
        self.shared.lock().ledger.last().map(str::to_owned)
    }

    /// Applies `fault` to the next token request (after faults already scheduled).
    pub fn fail_next(&self, fault: impl Into<Fault>) {
        self.fail_times(fault, 1);
    }

    /// Applies `fault` to the next `times` token requests (after faults already scheduled); then
    /// the endpoint behaves again. `fail_times(Fault::ServerError, 2)` is "5xx twice, then succeed".
    pub fn fail_times(&self, fault: impl Into<Fault>, times: usize) {
        self.shared.lock().faults.push(fault.into(), times);
    }

    /// Applies `fault` to every token request once the scheduled ones are used up, until
    /// [`clear_faults`](MockServer::clear_faults).
    pub fn fail_always(&self, fault: impl Into<Fault>) {
        self.shared.lock().faults.set_always(fault.into());
    }

    /// Cancels every scheduled fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Revokes `access_token`: the API refuses it from now on. Returns whether this server had
    /// issued it.
    pub fn revoke(&self, access_token: &str) -> bool {
        self.shared.lock().ledger.revoke(access_token)
    }

    /// Revokes every token issued so far.
    pub fn revoke_all(&self) {
        self.shared.lock().ledger.revoke_all();
    }

    /// Makes every token issued so far expire now, as if its lifetime had passed (the API answers
    /// with the provider's "expired" message).
    pub fn expire_all(&self) {
        self.shared.lock().ledger.expire_all();
    }

    /// The token requests received, oldest first (the last 1000).
    pub fn token_requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().token_requests.iter().cloned().collect()
    }

    /// The API requests received, oldest first (the last 1000).
    pub fn api_requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().api_requests.iter().cloned().collect()
    }
}

impl fmt::Debug for MockServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("MockServer")
            .field("provider", &self.shared.protocol.name())
            .field("uri", &self.server.uri())
            .field("token_hits", &state.token_hits)
            .field("api_hits", &state.api_hits)
            .finish_non_exhaustive()
    }
}

/// The token endpoint's responder.
struct TokenEndpoint(Arc<Shared>);

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let protocol = &*self.0.protocol;
        let mut state = self.0.lock();
        state.token_hits += 1;
        record(&mut state.token_requests, request);
        let delay = match state.faults.next() {
            None => None,
            Some(Fault::Slow(delay)) => Some(delay),
            Some(Fault::ServerError) => return server_error(),
            Some(Fault::RateLimited { retry_after }) => return rate_limited(retry_after),
            Some(Fault::MalformedBody) => return malformed_body(),
            Some(Fault::RejectCredentials) => return protocol.rejection(),
            Some(Fault::Raw(raw)) => return raw.to_template(),
        };
        let response = match protocol.authenticate(request) {
            Ok(grant) => {
                let issued =
                    state
                        .ledger
                        .issue(protocol.name(), &grant.subject, protocol.settings());
                protocol.issued(request, &issued, &grant)
            }
            Err(refused) => refused,
        };
        match delay {
            Some(delay) => response.set_delay(delay),
            None => response,
        }
    }
}

fn server_error() -> ResponseTemplate {
    ResponseTemplate::new(503).set_body_raw(
        "<html><head><title>503 Service Temporarily Unavailable</title></head>\
         <body><h1>503 Service Temporarily Unavailable</h1></body></html>",
        "text/html",
    )
}

fn rate_limited(retry_after: Option<Duration>) -> ResponseTemplate {
    let template = json_response(429, &json!({ "message": "Too many requests" }));
    match retry_after {
        Some(delay) => template.insert_header("retry-after", delay.as_secs().to_string()),
        None => template,
    }
}

fn malformed_body() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        r#"{"access_token": "eyJhbGciOiJub25lIn0"#,
        "application/json",
    )
}

/// The protected API's responder.
struct ApiEndpoint(Arc<Shared>);

impl Respond for ApiEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let protocol = &*self.0.protocol;
        let mut state = self.0.lock();
        state.api_hits += 1;
        record(&mut state.api_requests, request);
        let subject = match crate::protocol::bearer_token(request)
            .and_then(|token| state.ledger.check(token))
        {
            Ok(subject) => subject.to_owned(),
            Err(refusal) => return protocol.api_refusal(refusal),
        };
        if let Some(forbidden) = protocol.api_forbidden(request) {
            return forbidden;
        }
        json_response(
            200,
            &json!({ "ok": true, "path": request.url.path(), "client_id": subject }),
        )
    }
}
