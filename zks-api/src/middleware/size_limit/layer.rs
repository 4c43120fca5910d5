use super::MessageSizeLimit;

/// Wraps a service in a [`MessageSizeLimit`].
#[derive(Clone, Copy, Debug)]
pub struct MessageSizeLimitLayer {
    max: usize,
}

impl MessageSizeLimitLayer {
    /// Refuses messages above `max` bytes (id plus body).
    pub const fn new(max: usize) -> Self {
        Self { max }
    }
}

impl<S> tower::Layer<S> for MessageSizeLimitLayer {
    type Service = MessageSizeLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MessageSizeLimit::new(inner, self.max)
    }
}
