//! Refuses messages above a size cap, before they are decoded.

mod error;
mod layer;
mod service;

pub use error::MessageTooLarge;
pub use layer::MessageSizeLimitLayer;
pub use service::MessageSizeLimit;
