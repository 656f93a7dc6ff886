//! [`AuthService`], the service an [`AuthLayer`](super::AuthLayer) builds.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::tower::Service;
use http::{Request, Response, StatusCode};
use tokensource_core::BoxError;

use super::layer::Shared;
use super::replay::{CloneBody, ReplayBody};

/// The future an [`AuthService`] returns.
pub type ResponseFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send + 'static>>;

/// A service that authenticates requests before passing them to `S`; built by an
/// [`AuthLayer`](super::AuthLayer), see the [module documentation](crate::tower).
///
/// Requests to an allowed origin need a token first, so they are sent from the returned future by
/// a clone of `S` that was made ready (the inner service is [`Clone`], as HTTP clients are). The
/// retry after a 401 waits for that clone to be ready again before sending.
pub struct AuthService<S, R = CloneBody> {
    inner: S,
    shared: Arc<Shared>,
    replay: R,
}

impl<S, R> AuthService<S, R> {
    pub(super) fn new(inner: S, shared: Arc<Shared>, replay: R) -> Self {
        AuthService {
            inner,
            shared,
            replay,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, R, B, T> Service<Request<B>> for AuthService<S, R>
where
    S: Service<Request<B>, Response = Response<T>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    R: ReplayBody<B>,
    B: Send + 'static,
    T: Send + 'static,
{
    type Response = Response<T>;
    type Error = BoxError;
    type Future = ResponseFuture<Response<T>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if !self.shared.allows(req.uri()) {
            let response = self.inner.call(req);
            return Box::pin(async move { response.await.map_err(Into::into) });
        }

        // `self.inner` is the instance that was polled ready: take it into the future and leave
        // a fresh clone behind, which the caller polls ready before its next call.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let shared = Arc::clone(&self.shared);
        let retry = self.replay.replay(req.body()).map(|body| {
            let mut copy = Request::new(body);
            *copy.method_mut() = req.method().clone();
            *copy.uri_mut() = req.uri().clone();
            *copy.version_mut() = req.version();
            *copy.headers_mut() = req.headers().clone();
            *copy.extensions_mut() = req.extensions().clone();
            copy
        });

        Box::pin(async move {
            let rules = &shared.rules;
            let token = rules.token().await?;
            rules.apply(req.headers_mut(), &token);
            let response = inner.call(req).await.map_err(Into::into)?;
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            let fresh = rules.after_unauthorized(&token, retry.is_some()).await?;
            let (Some(mut retry), Some(fresh)) = (retry, fresh) else {
                return Ok(response);
            };
            drop(response);
            rules.apply(retry.headers_mut(), &fresh);
            poll_fn(|cx| inner.poll_ready(cx))
                .await
                .map_err(Into::into)?;
            rules.replaying("tower");
            inner.call(retry).await.map_err(Into::into)
        })
    }
}

impl<S: Clone, R: Clone> Clone for AuthService<S, R> {
    fn clone(&self) -> Self {
        AuthService {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            replay: self.replay.clone(),
        }
    }
}

impl<S: fmt::Debug, R> fmt::Debug for AuthService<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("inner", &self.inner)
            .field("config", &self.shared)
            .field("replay", &std::any::type_name::<R>())
            .finish()
    }
}
