//! The whole flow through the cache, against the test kit's Younium mock.

use std::time::Duration;

use tokensource_core::{CachedTokenSource, ErrorKind, TokenSource};
use tokensource_testkit::{Fault, MockServer, YouniumMock};
use tokensource_younium::{YouniumAuthVersion, YouniumTokenSource};

async fn call_api(
    server: &MockServer,
    source: &YouniumTokenSource,
    token: &tokensource_core::Token,
) -> u16 {
    reqwest::Client::new()
        .get(server.api_url())
        .headers(source.api_headers())
        .header("authorization", token.authorization_header())
        .send()
        .await
        .expect("the mock API answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn v1_and_v2_through_the_cache_then_the_api() {
    for version in [YouniumAuthVersion::V1, YouniumAuthVersion::V2] {
        let mock = YouniumMock::new("client", "secret").require_legal_entity("Acme AB");
        let mock = if version == YouniumAuthVersion::V2 {
            mock.auth_v2()
        } else {
            mock
        };
        let server = MockServer::younium(mock).start().await;
        let younium = YouniumTokenSource::builder("client", "secret")
            .auth_version(version)
            .token_url(server.token_url())
            .legal_entity("Acme AB")
            .api_version("2.1")
            .build()
            .unwrap();
        let source = CachedTokenSource::new(younium);

        let token = source.token().await.expect("a token");
        for _ in 0..50 {
            assert!(source.token().await.unwrap().same_secret(&token));
        }
        assert_eq!(server.token_hits(), 1, "{version}");
        assert!(token.refresh_token().is_some());
        assert!(token.jwt_expires_at().is_some(), "the mock issues JWTs");
        let lifetime = token.lifetime().unwrap();
        assert!(
            lifetime > Duration::from_secs(24 * 3600 - 5),
            "{lifetime:?}"
        );

        assert_eq!(call_api(&server, source.source(), &token).await, 200);
        let api = &server.api_requests()[0];
        assert_eq!(api.header("legal-entity"), Some("Acme AB"));
        assert_eq!(api.header("api-version"), Some("2.1"));
        assert_eq!(server.token_requests()[0].path(), version.path());
    }
}

#[tokio::test]
async fn a_missing_legal_entity_is_a_403_from_the_api() {
    let server = MockServer::younium(YouniumMock::new("c", "s").require_legal_entity("Acme AB"))
        .start()
        .await;
    let younium = YouniumTokenSource::builder("c", "s")
        .token_url(server.token_url())
        .build()
        .unwrap();
    let token = younium.token().await.unwrap();
    assert_eq!(call_api(&server, &younium, &token).await, 403);
}

#[tokio::test]
async fn transient_failures_are_retried_inside_one_flight() {
    let server = MockServer::younium(YouniumMock::new("c", "s"))
        .start()
        .await;
    server.fail_times(Fault::ServerError, 2);
    let source = CachedTokenSource::new(
        YouniumTokenSource::builder("c", "s")
            .token_url(server.token_url())
            .build()
            .unwrap(),
    );
    source.token().await.expect("the third attempt succeeds");
    assert_eq!((server.token_hits(), server.tokens_issued()), (3, 1));
}

#[tokio::test]
async fn wrong_credentials_are_rejected_with_younium_s_message() {
    let server = MockServer::younium(YouniumMock::new("c", "right"))
        .start()
        .await;
    let source = CachedTokenSource::new(
        YouniumTokenSource::builder("c", "wrong")
            .token_url(server.token_url())
            .build()
            .unwrap(),
    );
    let error = source.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
    assert_eq!(error.status(), Some(401));
    assert_eq!(error.provider_message(), Some("Invalid client credentials"));
    assert_eq!(
        server.token_hits(),
        1,
        "rejected credentials are not retried"
    );
}

#[tokio::test]
async fn a_revoked_token_is_replaced_after_invalidate() {
    let server = MockServer::younium(YouniumMock::new("c", "s"))
        .start()
        .await;
    let younium = YouniumTokenSource::builder("c", "s")
        .token_url(server.token_url())
        .build()
        .unwrap();
    let source = CachedTokenSource::new(younium);
    let first = source.token().await.unwrap();
    assert_eq!(call_api(&server, source.source(), &first).await, 200);

    assert!(server.revoke(first.expose_secret()));
    assert_eq!(call_api(&server, source.source(), &first).await, 401);
    source.invalidate(&first).await;
    let second = source.token().await.unwrap();
    assert!(!second.same_secret(&first));
    assert_eq!(call_api(&server, source.source(), &second).await, 200);
    assert_eq!(server.tokens_issued(), 2);
}

#[tokio::test]
async fn malformed_and_hostile_mock_answers_are_invalid_responses() {
    let server = MockServer::younium(YouniumMock::new("c", "s"))
        .start()
        .await;
    let younium = YouniumTokenSource::builder("c", "s")
        .token_url(server.token_url())
        .build()
        .unwrap();
    server.fail_next(Fault::MalformedBody);
    assert_eq!(
        younium.token().await.unwrap_err().kind(),
        ErrorKind::InvalidResponse
    );
    server.fail_next(Fault::RejectCredentials);
    assert_eq!(
        younium.token().await.unwrap_err().kind(),
        ErrorKind::CredentialsRejected
    );
    younium.token().await.expect("healthy again");
}
