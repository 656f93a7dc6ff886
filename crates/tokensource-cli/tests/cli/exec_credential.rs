//! `exec-credential`: the real kubectl runs the binary as its exec credential plugin against an
//! HTTPS server playing the API server; and the apiVersion rules, without kubectl.

use std::path::Path;
use std::process::Output;

use tokensource_testkit::tls::{ClientAuth, TestPki, TlsFront};
use tokensource_testkit::{Fault, MockServer, OAuth2Mock};

use crate::support::{
    BINARY, CLIENT_ID, SECRET, Setup, oauth2_profile, output_of, path_str, require_program,
};

const V1: &str = "client.authentication.k8s.io/v1";
const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";
/// The path kubectl asks for: `kubectl get --raw` makes exactly this request.
const PODS: &str = "/api/v1/namespaces/default/pods";

async fn oauth2_server() -> MockServer {
    MockServer::oauth2(OAuth2Mock::new(CLIENT_ID, SECRET))
        .start()
        .await
}

fn setup_for(server: &MockServer) -> Setup {
    Setup::new(&oauth2_profile(
        "partner",
        &server.token_url(),
        "timeout_secs = 2",
    ))
}

/// A kubeconfig for the cluster at `server` (trusting `ca`) whose user runs `tokensource
/// exec-credential` with `api_version`.
fn write_kubeconfig(
    setup: &Setup,
    server: &str,
    ca: &Path,
    api_version: &str,
) -> std::path::PathBuf {
    let path = setup.dir().join("kubeconfig");
    let config = setup.config();
    let cache = setup.cache_dir();
    let mut exec = serde_json::json!({
        "apiVersion": api_version,
        "command": BINARY,
        "args": ["exec-credential", "--config", path_str(&config), "--profile", "partner",
                 "--cache-dir", path_str(&cache)],
    });
    // Required by v1; kubectl versions that know only v1beta1 do not know the field.
    if api_version == V1 {
        exec["interactiveMode"] = "Never".into();
    }
    // JSON is YAML; serde_json quotes every path correctly.
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {
            "server": server,
            "certificate-authority": path_str(ca),
        }}],
        "users": [{"name": "tokensource", "user": {"exec": exec}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "tokensource"}}],
        "current-context": "test",
    });
    std::fs::write(&path, serde_json::to_string_pretty(&kubeconfig).unwrap()).unwrap();
    path
}

/// Runs `kubectl get --raw PATH` with `kubeconfig`.
async fn kubectl_get(setup: &Setup, kubectl: &Path, kubeconfig: &Path, path: &str) -> Output {
    let mut command = setup.program(kubectl);
    command
        .args(["--kubeconfig", path_str(kubeconfig), "get", "--raw", path])
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_EXEC_INFO");
    output_of(command).await
}

/// kubectl's client minor version (1.N), from `kubectl version --client -o json`.
fn kubectl_minor(kubectl: &Path) -> u32 {
    let output = std::process::Command::new(kubectl)
        .args(["version", "--client", "-o", "json"])
        .output()
        .unwrap();
    let version: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("kubectl version printed no JSON ({e}): {output:?}"));
    let minor = version["clientVersion"]["minor"]
        .as_str()
        .unwrap_or_default();
    minor
        .trim_end_matches('+')
        .parse()
        .unwrap_or_else(|_| panic!("cannot read kubectl's version: {version}"))
}

fn require_kubectl(api_version: &str) -> std::path::PathBuf {
    let kubectl = require_program(
        "kubectl",
        "kubectl (Debian: apt-get install kubernetes-client; or https://kubernetes.io/docs/tasks/tools/)",
    );
    let minor = kubectl_minor(&kubectl);
    assert!(
        api_version != V1 || minor >= 22,
        "client.authentication.k8s.io/v1 exec plugins need kubectl 1.22 or later; the kubectl on \
         PATH is 1.{minor} (Debian's kubernetes-client package is 1.20): install a newer kubectl \
         from https://kubernetes.io/docs/tasks/tools/"
    );
    kubectl
}

/// kubectl, run twice, sends the token the token server issued, fetched once.
async fn kubectl_sends_the_token(api_version: &str) {
    let kubectl = require_kubectl(api_version);
    let server = oauth2_server().await;
    let pki = TestPki::new();
    // The API server: the mock's protected API (every path under /api/) behind HTTPS.
    let api = TlsFront::start(&pki, server.address(), ClientAuth::None);
    let setup = setup_for(&server);
    let kubeconfig = write_kubeconfig(&setup, &api.uri(), &pki.ca_file(), api_version);

    let first = kubectl_get(&setup, &kubectl, &kubeconfig, PODS).await;
    assert!(first.status.success(), "kubectl failed: {first:?}");
    let reply: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(reply["path"], PODS, "{reply}");
    let token = server.last_token().expect("a token was issued");
    assert_eq!(server.token_hits(), 1);
    let bearer = format!("Bearer {token}");
    let requests = server.api_requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(
            request.header("authorization"),
            Some(bearer.as_str()),
            "{request:?}"
        );
    }
    assert!(api.handshakes() >= 1, "kubectl spoke HTTPS to the front");

    // A second kubectl run within the token's life: the disk cache answers, no token request.
    let second = kubectl_get(&setup, &kubectl, &kubeconfig, PODS).await;
    assert!(second.status.success(), "kubectl failed: {second:?}");
    assert_eq!(server.token_hits(), 1, "the second run fetched again");
    let later = server.api_requests();
    assert!(later.len() > requests.len());
    for request in &later {
        assert_eq!(
            request.header("authorization"),
            Some(bearer.as_str()),
            "{request:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_v1_sends_the_token_and_reuses_it() {
    kubectl_sends_the_token(V1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_v1beta1_sends_the_token_and_reuses_it() {
    kubectl_sends_the_token(V1BETA1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_reports_a_refused_credential() {
    let kubectl = require_kubectl(V1BETA1);
    let server = oauth2_server().await;
    server.fail_always(Fault::RejectCredentials);
    let pki = TestPki::new();
    let api = TlsFront::start(&pki, server.address(), ClientAuth::None);
    let setup = setup_for(&server);
    let kubeconfig = write_kubeconfig(&setup, &api.uri(), &pki.ca_file(), V1BETA1);
    let output = kubectl_get(&setup, &kubectl, &kubeconfig, PODS).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains(SECRET), "{stderr}");
    assert!(
        stderr.contains("exit code 3"),
        "kubectl names the plugin's exit: {stderr}"
    );
    assert_eq!(server.api_hits(), 0, "no request without a token");
}

/// A run of `exec-credential` with `args` and `KUBERNETES_EXEC_INFO` = `exec_info` (or unset).
async fn exec_credential(
    setup: &mut Setup,
    exec_info: Option<&str>,
    args: &[&str],
) -> crate::support::Run {
    match exec_info {
        Some(value) => setup.set_env("KUBERNETES_EXEC_INFO", value),
        None => setup.remove_env("KUBERNETES_EXEC_INFO"),
    }
    let mut all = vec!["exec-credential"];
    all.extend_from_slice(args);
    setup.run_cached(&all).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_version_comes_from_the_flag_then_kubectl_then_v1() {
    let server = oauth2_server().await;
    let mut setup = setup_for(&server);
    let info = |version: &str| {
        format!(
            r#"{{"kind":"ExecCredential","apiVersion":"{version}","spec":{{"interactive":false}}}}"#
        )
    };
    let cases: [(Option<String>, &[&str], &str); 5] = [
        (None, &[], V1),
        (Some(info(V1BETA1)), &[], V1BETA1),
        (Some(info(V1)), &[], V1),
        (None, &["--api-version", V1BETA1], V1BETA1),
        (Some(info(V1BETA1)), &["--api-version", V1], V1),
    ];
    for (exec_info, args, expected) in cases {
        let run = exec_credential(&mut setup, exec_info.as_deref(), args).await;
        let value: serde_json::Value = serde_json::from_str(run.success()).unwrap();
        assert_eq!(value["apiVersion"], expected, "{exec_info:?} {args:?}");
        assert_eq!(value["kind"], "ExecCredential");
        assert_eq!(value["status"]["token"], server.last_token().unwrap());
        let expiry = value["status"]["expirationTimestamp"].as_str().unwrap();
        assert!(humantime::parse_rfc3339(expiry).is_ok(), "{expiry}");
        assert_eq!(value.as_object().unwrap().len(), 3, "{value}");
        assert_eq!(value["status"].as_object().unwrap().len(), 2, "{value}");
    }
    assert_eq!(server.token_hits(), 1, "every run used the disk cache");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_api_version_is_a_usage_error_before_any_token_request() {
    let server = oauth2_server().await;
    let mut setup = setup_for(&server);
    let bad_env = [
        "not json",
        "",
        "{\"apiVersion\": \"client.authentication.k8s.io/v1alpha1\"}",
        "{\"kind\": \"ExecCredential\"}",
    ];
    for exec_info in bad_env {
        let run = exec_credential(&mut setup, Some(exec_info), &[]).await;
        let line = run.failure(2, &[]);
        assert!(line.contains("KUBERNETES_EXEC_INFO"), "{line}");
    }
    for flag in ["v1", "client.authentication.k8s.io/v2", ""] {
        let run = exec_credential(&mut setup, None, &["--api-version", flag]).await;
        let line = run.failure(2, &[]);
        assert!(line.contains("--api-version"), "{line}");
    }
    assert_eq!(server.token_hits(), 0, "no token was requested");
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_exit_as_token_does() {
    let server = oauth2_server().await;
    // Each in a setup of its own: runs sharing a cache folder also share a failure's backoff.
    for (fault, code) in [(Fault::RejectCredentials, 3), (Fault::MalformedBody, 5)] {
        server.clear_faults();
        server.fail_always(fault);
        let mut setup = setup_for(&server);
        let run = exec_credential(&mut setup, None, &[]).await;
        run.failure(code, &[]);
    }
}
