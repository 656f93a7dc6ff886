//! An HTTP `CONNECT` proxy on loopback that records every tunnel it opens, to test that clients
//! use a proxy when told to, and only then.
//!
//! ```
//! use tokensource_testkit::proxy::ConnectProxy;
//! use tokensource_testkit::tls::{ClientAuth, TestPki, TlsFront};
//! use tokensource_testkit::{MockServer, OAuth2Mock};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let pki = TestPki::new();
//! let server = MockServer::oauth2(OAuth2Mock::new("client", "secret")).start().await;
//! let front = TlsFront::start(&pki, server.address(), ClientAuth::None);
//! let proxy = ConnectProxy::start();
//!
//! let client = reqwest::Client::builder()
//!     .proxy(reqwest::Proxy::all(proxy.url()).unwrap())
//!     .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap()])
//!     .build()
//!     .unwrap();
//! client.get(front.url("/api/ping")).send().await.unwrap();
//! assert_eq!(proxy.tunnels(), vec![format!("localhost:{}", front.address().port())]);
//! # }
//! ```

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The longest request head the proxy reads.
const MAX_HEAD: usize = 16 * 1024;

/// A `CONNECT` proxy on a free port of `127.0.0.1`; see the [module documentation](self).
///
/// Each `CONNECT host:port` is recorded, connected and answered `200`, then bytes flow both ways.
/// Any other request (a plain-http request in absolute form) is recorded as such and answered
/// `502`. It runs on a thread of its own and stops when dropped.
pub struct ConnectProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

#[derive(Default)]
struct Shared {
    tunnels: Mutex<Vec<String>>,
    other_requests: Mutex<Vec<String>>,
}

impl ConnectProxy {
    /// Starts the proxy.
    ///
    /// # Panics
    /// If no port can be bound or the thread cannot start.
    pub fn start() -> ConnectProxy {
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let (address, stop) = serve_on_thread("proxy", move |listener, stopped| {
            serve(listener, thread_shared, stopped)
        });
        ConnectProxy {
            address,
            shared,
            _stop: stop,
        }
    }

    /// The socket address the proxy listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The proxy's URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The targets (`host:port`) of the tunnels opened so far, in order.
    pub fn tunnels(&self) -> Vec<String> {
        self.shared
            .tunnels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The request lines of requests that were not `CONNECT`.
    pub fn other_requests(&self) -> Vec<String> {
        self.shared
            .other_requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl fmt::Debug for ConnectProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectProxy")
            .field("address", &self.address)
            .field("tunnels", &self.tunnels().len())
            .finish_non_exhaustive()
    }
}

/// Binds a free port of `127.0.0.1` and runs `serve` on it on a thread of its own (a
/// current-thread tokio runtime), until the returned sender is dropped.
pub(crate) fn serve_on_thread<F, Fut>(
    name: &str,
    serve: F,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>)
where
    F: FnOnce(std::net::TcpListener, tokio::sync::oneshot::Receiver<()>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("tokensource-testkit-{name}"))
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .expect("runtime");
            runtime.block_on(serve(listener, stopped));
        })
        .expect("thread");
    (address, stop)
}

async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stop => return,
        };
        let Ok((client, _)) = accepted else { continue };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _ = handle(client, &shared).await;
        });
    }
}

async fn handle(mut client: tokio::net::TcpStream, shared: &Shared) -> io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = client.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let line = text.lines().next().unwrap_or_default().to_owned();
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !method.eq_ignore_ascii_case("CONNECT") {
        shared
            .other_requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line.clone());
        client
            .write_all(
                b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )
            .await?;
        return Ok(());
    }
    shared
        .tunnels
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(target.to_owned());
    let mut upstream = match tokio::net::TcpStream::connect(target).await {
        Ok(upstream) => upstream,
        Err(_) => {
            client
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                .await?;
            return Ok(());
        }
    };
    client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
