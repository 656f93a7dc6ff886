//! How [`AuthService`](super::AuthService) copies a request body so it can resend it after a 401.

/// Copies a request body so the request can be sent again after a `401 Unauthorized`.
///
/// Implemented by [`CloneBody`] (the default: `B: Clone`), [`NoReplay`] (never retry), and by any
/// `Fn(&B) -> Option<B>` (return `None` when this body cannot be copied, a stream say).
///
/// ```
/// use tokensource::tower::ReplayBody;
///
/// // A body type that is not `Clone` but can sometimes be copied.
/// enum MyBody {
///     Bytes(Vec<u8>),
///     Stream,
/// }
///
/// let replay = |body: &MyBody| match body {
///     MyBody::Bytes(bytes) => Some(MyBody::Bytes(bytes.clone())),
///     MyBody::Stream => None,
/// };
/// assert!(replay.replay(&MyBody::Bytes(b"{}".to_vec())).is_some());
/// assert!(replay.replay(&MyBody::Stream).is_none());
/// ```
pub trait ReplayBody<B> {
    /// A copy of `body` to send again, or `None` when it cannot be copied (then no retry).
    fn replay(&self, body: &B) -> Option<B>;
}

/// Replays bodies by cloning them: for body types that are [`Clone`]. The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneBody;

impl<B: Clone> ReplayBody<B> for CloneBody {
    fn replay(&self, body: &B) -> Option<B> {
        Some(body.clone())
    }
}

/// Never replays: a 401 is returned to the caller (after the token is invalidated, so that the
/// next request gets a new one). For body types that cannot be copied.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReplay;

impl<B> ReplayBody<B> for NoReplay {
    fn replay(&self, _body: &B) -> Option<B> {
        None
    }
}

impl<B, F> ReplayBody<B> for F
where
    F: Fn(&B) -> Option<B>,
{
    fn replay(&self, body: &B) -> Option<B> {
        self(body)
    }
}
