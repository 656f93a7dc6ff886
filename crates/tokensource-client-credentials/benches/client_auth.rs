//! What each client authentication style costs per token fetch, against HTTP Basic with a client
//! secret, over loopback to a server that answers every request with a token.
//!
//! `cargo bench -p tokensource-client-credentials --bench client_auth` runs:
//! 1. criterion group `sign`: one assertion signed per iteration (RS256, PS256, ES256, HS256), the
//!    cryptography alone;
//! 2. criterion group `fetch`: one whole token fetch per iteration (a new connection each, as
//!    every token request is), for `basic`, `private-key-jwt` RS256/PS256/ES256,
//!    `client-secret-jwt` and `client-assertion`;
//! 3. an interleaved run: in each round a block of fetches per style, in rotating order, so that
//!    drift hits all alike; the median of the per-round ratios to `basic` is printed.
//!
//! Keys are made when the bench starts (rcgen on aws-lc-rs, RSA 2048 and EC P-256).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256, RsaKeySize};
use tokensource_client_credentials::{
    AssertionSigner, AuthStyle, ClientCredentialsBuilder, ClientCredentialsTokenSource,
    SigningAlgorithm,
};
use tokensource_core::TokenSource;
use tokensource_testkit::raw::{RawServer, Script, http_response};
use tokio::runtime::Runtime;

const ROUNDS: usize = 30;
const BLOCK: u32 = 20;

fn styles(url: &str) -> Vec<(&'static str, ClientCredentialsTokenSource)> {
    let rsa = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)
        .expect("an RSA key")
        .serialize_pem();
    let ec = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .expect("an EC key")
        .serialize_pem();
    let new = || ClientCredentialsBuilder::new(url, "bench-client");
    let build = |builder: ClientCredentialsBuilder| builder.build().expect("a valid source");
    vec![
        ("basic", build(new().client_secret("bench-secret"))),
        (
            "private-key-jwt RS256",
            build(new().private_key(rsa.clone())),
        ),
        (
            "private-key-jwt PS256",
            build(new().private_key(rsa).signing_alg(SigningAlgorithm::Ps256)),
        ),
        ("private-key-jwt ES256", build(new().private_key(ec))),
        (
            "client-secret-jwt",
            build(
                new()
                    .client_secret("bench-secret")
                    .auth_style(AuthStyle::ClientSecretJwt),
            ),
        ),
        (
            "client-assertion",
            build(new().client_assertion("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiIn0.c2ln")),
        ),
    ]
}

fn main() {
    let server = RawServer::start(Script::respond(http_response(
        200,
        &[("content-type", "application/json")],
        r#"{"access_token":"bench-token","token_type":"Bearer","expires_in":3600}"#,
    )));
    let runtime = Runtime::new().expect("a runtime");
    let styles = styles(&server.url("/oauth2/token"));
    let mut criterion = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();

    let mut sign = criterion.benchmark_group("sign");
    let rsa = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)
        .expect("an RSA key")
        .serialize_pem();
    let ec = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .expect("an EC key")
        .serialize_pem();
    let signers = [
        ("RS256", AssertionSigner::private_key(rsa.clone(), None)),
        (
            "PS256",
            AssertionSigner::private_key(rsa, Some(SigningAlgorithm::Ps256)),
        ),
        ("ES256", AssertionSigner::private_key(ec, None)),
        ("HS256", AssertionSigner::client_secret("bench-secret")),
    ];
    for (name, signer) in signers {
        let signer = signer.expect("a signer");
        sign.bench_function(name, |b| {
            b.iter(|| black_box(signer.sign("bench-client", "https://auth.example.com/token")))
        });
    }
    sign.finish();

    let mut fetch = criterion.benchmark_group("fetch");
    for (name, source) in &styles {
        fetch.bench_function(*name, |b| {
            b.to_async(&runtime)
                .iter(|| async { black_box(source.token().await.expect("a token")) })
        });
    }
    fetch.finish();

    // Interleaved: per round, a block of fetches per style in rotating order.
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); styles.len()];
    for round in 0..ROUNDS {
        let mut per_style = vec![Duration::ZERO; styles.len()];
        for i in 0..styles.len() {
            let index = (i + round) % styles.len();
            let source = &styles[index].1;
            let started = Instant::now();
            runtime.block_on(async {
                for _ in 0..BLOCK {
                    black_box(source.token().await.expect("a token"));
                }
            });
            per_style[index] = started.elapsed();
        }
        for (index, elapsed) in per_style.iter().enumerate() {
            ratios[index].push(elapsed.as_secs_f64() / per_style[0].as_secs_f64());
        }
    }
    println!(
        "\nper-fetch cost against basic (median of {ROUNDS} interleaved rounds of {BLOCK} fetches):"
    );
    for ((name, _), mut ratios) in styles.iter().zip(ratios) {
        ratios.sort_by(f64::total_cmp);
        println!("  {name:<24} {:.2}", ratios[ratios.len() / 2]);
    }
    criterion.final_summary();
}
