//! The reqwest middleware and the tower layer: their builders and `Debug`, requests through them
//! (a success, a 401 and its replay, a request elsewhere), the errors when the token source
//! fails, and origins given with credentials.

use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Request, Response};
use tokensource::middleware::token_error;
use tokensource::reqwest_middleware::ClientBuilder;
use tokensource::rules::{AuthRules, Origin};
use tokensource::younium::YouniumTokenSource;
use tokensource::{CachedTokenSource, Error, Token, TokenSource, from_fn};
use tokensource_testkit::{MockServer, RawResponse, YouniumMock};
use tower::{Layer, Service, ServiceExt, service_fn};

use crate::sentinel::{CLIENT_ID, REFRESH, SECRET, Seen, TOKEN};

fn extra_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("legal-entity", HeaderValue::from_static("Acme AB"));
    headers
}

#[tokio::test]
async fn reqwest_middleware() {
    let mut seen = Seen::new("middleware");
    let server = MockServer::younium(YouniumMock::new(CLIENT_ID, SECRET))
        .start()
        .await;
    let younium = YouniumTokenSource::builder(CLIENT_ID, SECRET.to_owned())
        .token_url(server.token_url())
        .build()
        .unwrap();
    let source: Arc<dyn TokenSource> = Arc::new(CachedTokenSource::new(younium));
    let builder = AuthRules::builder(Arc::clone(&source))
        .extra_headers(extra_headers())
        .allow_origin(&server.uri())
        .unwrap();
    seen.debug("middleware builder", &builder);
    let middleware = builder.build().unwrap().middleware();
    seen.debug("middleware", &middleware);
    let client = ClientBuilder::new(tokensource::reqwest::Client::new())
        .with(middleware.clone())
        .build();
    seen.debug("client", &client);

    let response = client.get(server.api_url()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    seen.debug("response", &response);
    // A 401 (the token was revoked): invalidated, fetched again, replayed once.
    server.revoke_all();
    let response = client.get(server.api_url()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    if let Some(token) = server.last_token() {
        seen.forbid(token);
    }
    seen.debug("middleware after use", &middleware);

    // The token endpoint now refuses: the request is not sent, the error says why.
    server.fail_always(RawResponse::new(401).json(&serde_json::json!({
        "error": "invalid_client",
        "error_description": format!("wrong secret {SECRET}"),
    })));
    server.revoke_all();
    let failing = AuthRules::builder(Arc::new(CachedTokenSource::new(
        YouniumTokenSource::builder(CLIENT_ID, SECRET.to_owned())
            .token_url(server.token_url())
            .build()
            .unwrap(),
    )))
    .allow_origin(&server.uri())
    .unwrap()
    .build()
    .unwrap()
    .middleware();
    let client = ClientBuilder::new(tokensource::reqwest::Client::new())
        .with(failing)
        .build();
    let error = client.get(server.api_url()).send().await.unwrap_err();
    seen.error("middleware error", &error);
    seen.debug("middleware error", &error);
    if let Some(inner) = token_error(&error) {
        seen.token_error("token error", inner);
    }

    for origin in [
        format!("https://{CLIENT_ID}:{SECRET}@api.example.com"),
        format!("https://{TOKEN}@api.example.com"),
    ] {
        let error = Origin::parse(&origin).unwrap_err();
        seen.error("origin error", &error);
    }
    seen.check();
}

#[tokio::test]
async fn tower_layer() {
    let mut seen = Seen::new("tower layer");
    let token = Token::builder(TOKEN)
        .refresh_token(REFRESH)
        .build()
        .unwrap();
    let source: Arc<dyn TokenSource> =
        Arc::new(CachedTokenSource::new(from_fn("api", move || {
            let token = token.clone();
            async move { Ok(token) }
        })));
    let builder = AuthRules::builder(Arc::clone(&source))
        .extra_headers(extra_headers())
        .allow_origin("https://api.example.com")
        .unwrap();
    seen.debug("layer builder", &builder);
    let layer = builder.build().unwrap().layer();
    seen.debug("layer", &layer);
    let client = service_fn(|request: Request<String>| async move {
        let authorized = request.headers().contains_key("authorization");
        let status = if authorized { 200 } else { 400 };
        Ok::<_, Infallible>(
            Response::builder()
                .status(status)
                .body(String::new())
                .unwrap(),
        )
    });
    let mut service = layer.layer(client);
    seen.debug("service", &service);
    let request = Request::get("https://api.example.com/items")
        .body(String::new())
        .unwrap();
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(response.status(), 200);
    seen.debug("service after use", &service);

    let failing: Arc<dyn TokenSource> = Arc::new(from_fn("api", || async {
        Err::<Token, _>(Error::credentials_rejected("api", 401, None))
    }));
    let mut service = AuthRules::builder(failing)
        .allow_origin("https://api.example.com")
        .unwrap()
        .build()
        .unwrap()
        .layer()
        .layer(service_fn(|_: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        }));
    let request = Request::get("https://api.example.com/items")
        .body(String::new())
        .unwrap();
    let error = service
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap_err();
    seen.error("layer error", &*error);
    seen.check();
}
