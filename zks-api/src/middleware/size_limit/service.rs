use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};

use super::MessageTooLarge;
use crate::middleware::{BoxError, InboundMessage};

/// Fails the call for a message above the cap; passes the rest to the inner service.
#[derive(Clone, Debug)]
pub struct MessageSizeLimit<S> {
    inner: S,
    max: usize,
}

impl<S> MessageSizeLimit<S> {
    /// Wraps `inner`, refusing messages above `max` bytes.
    pub const fn new(inner: S, max: usize) -> Self {
        Self { inner, max }
    }
}

impl<S> tower::Service<InboundMessage> for MessageSizeLimit<S>
where
    S: tower::Service<InboundMessage, Error = BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Either<Ready<Result<S::Response, BoxError>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, message: InboundMessage) -> Self::Future {
        let size = message.frame.len();
        if size > self.max {
            return Either::Left(ready(Err(MessageTooLarge {
                size,
                max: self.max,
            }
            .into())));
        }
        Either::Right(self.inner.call(message))
    }
}
