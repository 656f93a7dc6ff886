//! A git smart-HTTP server for the tests: real `git http-backend` (as CGI) behind a small HTTP/1.1
//! server that demands HTTP Basic authentication whose password is a token the mock token
//! server issued and has not revoked (asked of the mock's protected API).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;

/// The server; it stops when dropped.
pub(crate) struct GitHttpServer {
    address: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    /// The folder of the bare repositories served (`GIT_PROJECT_ROOT`).
    root: PathBuf,
    git: PathBuf,
    /// The mock token server, whose `/api/` accepts only the tokens it issued and has not revoked.
    token_server: SocketAddr,
    /// Requests answered 401.
    refused: AtomicUsize,
    /// The passwords of requests let through, in order.
    accepted: Mutex<Vec<String>>,
    stop: AtomicBool,
}

impl GitHttpServer {
    /// Serves the bare repositories in `root` with `git`, checking passwords with the mock token
    /// server at `token_server`.
    pub(crate) fn start(root: &Path, git: &Path, token_server: SocketAddr) -> GitHttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            git: git.to_path_buf(),
            token_server,
            refused: AtomicUsize::new(0),
            accepted: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&accepting);
                std::thread::spawn(move || {
                    // A client that hangs up mid-request is its own problem.
                    let _ = serve(&shared, stream);
                });
            }
        });
        GitHttpServer { address, shared }
    }

    /// The URL of `path` on this server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// How many requests were refused with 401.
    pub(crate) fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// The passwords of the requests let through, in order.
    pub(crate) fn accepted(&self) -> Vec<String> {
        self.shared.accepted.lock().unwrap().clone()
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread so that it sees the flag.
        let _ = TcpStream::connect(self.address);
    }
}

/// One request read from a connection.
struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Answers one request and closes the connection.
fn serve(shared: &Shared, stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let Some(request) = read_request(&mut reader)? else {
        return Ok(());
    };
    let Some((user, password)) = basic_credentials(&request) else {
        return refuse(shared, &mut writer);
    };
    if !token_is_valid(shared.token_server, &password) {
        return refuse(shared, &mut writer);
    }
    shared.accepted.lock().unwrap().push(password);
    let (status, headers, body) = http_backend(shared, &request, &user)?;
    write!(writer, "HTTP/1.1 {status}\r\n")?;
    for line in headers {
        write!(writer, "{line}\r\n")?;
    }
    write!(
        writer,
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    writer.write_all(&body)?;
    writer.flush()
}

fn refuse(shared: &Shared, writer: &mut TcpStream) -> std::io::Result<()> {
    shared.refused.fetch_add(1, Ordering::SeqCst);
    let body = "authentication required\n";
    write!(
        writer,
        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"tokensource-test\"\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    writer.flush()
}

fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (path, query) = (path.to_owned(), query.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let mut request = Request {
        method,
        path,
        query,
        headers,
        body: Vec::new(),
    };
    if request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; size + 2]; // the chunk and its CRLF
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            request.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = request.header("content-length") {
        let mut body = vec![0; length.parse().unwrap_or(0)];
        reader.read_exact(&mut body)?;
        request.body = body;
    }
    Ok(Some(request))
}

/// The user and password of an `Authorization: Basic` header.
fn basic_credentials(request: &Request) -> Option<(String, String)> {
    let encoded = request.header("authorization")?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Asks the mock token server's protected API whether `token` is one it issued and has not
/// revoked.
fn token_is_valid(token_server: SocketAddr, token: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(token_server) else {
        return false;
    };
    let request = format!(
        "GET /api/git HTTP/1.1\r\nHost: {token_server}\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut status = String::new();
    let _ = BufReader::new(stream).read_line(&mut status);
    status.starts_with("HTTP/1.1 200")
}

/// Runs `git http-backend` for `request` and returns the status line, the headers and the body
/// of its CGI answer.
fn http_backend(
    shared: &Shared,
    request: &Request,
    user: &str,
) -> std::io::Result<(String, Vec<String>, Vec<u8>)> {
    let mut command = Command::new(&shared.git);
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &shared.root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", &request.path)
        .env("QUERY_STRING", &request.query)
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .env("REMOTE_USER", user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (header, variable) in [
        ("content-type", "CONTENT_TYPE"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "HTTP_GIT_PROTOCOL"),
    ] {
        if let Some(value) = request.header(header) {
            command.env(variable, value);
        }
    }
    let mut child = command.spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let body = request.body.clone();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let output = child.wait_with_output()?;
    let _ = feeder.join();
    let text = output.stdout;
    let split = find(&text, b"\r\n\r\n")
        .map(|at| (at, 4))
        .or_else(|| find(&text, b"\n\n").map(|at| (at, 2)));
    let (head, body) = match split {
        Some((at, len)) => (&text[..at], text[at + len..].to_vec()),
        None => (&text[..], Vec::new()),
    };
    let mut status = "200 OK".to_owned();
    let mut headers = Vec::new();
    for line in String::from_utf8_lossy(head).lines() {
        match line.strip_prefix("Status:") {
            Some(value) => status = value.trim().to_owned(),
            None if !line.trim().is_empty() => headers.push(line.trim().to_owned()),
            None => {}
        }
    }
    Ok((status, headers, body))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
