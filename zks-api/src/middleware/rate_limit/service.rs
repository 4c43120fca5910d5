use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};
use tokio::time::Instant;

use super::bucket::Bucket;
use super::{MessageClass, RateLimited, RateLimits};
use crate::middleware::{BoxError, InboundMessage};

/// Fails the call once the link exceeds a budget; the engine then ends the link.
#[derive(Clone, Debug)]
pub struct RateLimit<S> {
    inner: S,
    control: Bucket,
    results: Bucket,
    messages: Bucket,
    bytes: Bucket,
}

impl<S> RateLimit<S> {
    /// Wraps `inner` with full buckets.
    pub fn new(inner: S, limits: RateLimits) -> Self {
        let now = Instant::now();
        Self {
            inner,
            control: Bucket::new(limits.control_per_sec, limits.control_burst, now),
            results: Bucket::new(limits.results_per_sec, limits.results_burst, now),
            messages: Bucket::new(limits.messages_per_sec, limits.messages_burst, now),
            bytes: Bucket::new(limits.bytes_per_sec, limits.bytes_burst, now),
        }
    }
}

impl<S> tower::Service<InboundMessage> for RateLimit<S>
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
        let now = Instant::now();
        let class = message.frame.class();
        let class_bucket = match class {
            MessageClass::Control => Some((&mut self.control, "control messages/s")),
            MessageClass::Result => Some((&mut self.results, "results/s")),
            MessageClass::Data => None,
        };
        let exceeded = if let Some((bucket, budget)) = class_bucket
            && !bucket.try_take(1.0, now)
        {
            Some(budget)
        } else if !self.messages.try_take(1.0, now) {
            Some("messages/s")
        } else if !self.bytes.try_take(message.frame.len() as f64, now) {
            Some("bytes/s")
        } else {
            None
        };
        match exceeded {
            Some(budget) => Either::Left(ready(Err(RateLimited { class, budget }.into()))),
            None => Either::Right(self.inner.call(message)),
        }
    }
}
