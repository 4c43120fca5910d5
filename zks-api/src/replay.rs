//! The node team's replay storage: [`ReplaySource`] on the main node, [`ReplaySink`] on external
//! nodes.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{BlockNumber, Overrides, ReplayRecord};

/// MN side: where replay records come from. Push-based: the node never polls it.
///
/// Lifecycle of one replay stream, as the node drives it:
///
/// 1. An EN asks for blocks from `N` on. The node reserves room on that EN's link first, so
///    nothing is read for a link that cannot take it.
/// 2. [`wait_for(N)`](Self::wait_for) resolves once block `N` is readable.
/// 3. [`read(N, max, overrides)`](Self::read) returns blocks `N..` (at most `max`), which are
///    encoded and sent at once; then the cursor moves past them and the cycle repeats.
///
/// Source and sink speak one quantity: `next_block()` is one past the highest stored block, the
/// same as [`ReplaySink::next_block`], and `wait_for(b)` waits until `b` is readable. An empty
/// store's `next_block()` is its chain's first block (an empty store has no "latest" block):
/// 0 for a chain whose block 0 is a record, 1 for a ZKsync OS chain, whose block 0 is the
/// genesis — one constant block every node has and no main node serves as a record, so an
/// external node of a fresh ZKsync OS chain asks for block 1 (`first_block`).
#[async_trait]
pub trait ReplaySource: Send + Sync + 'static {
    /// The record type this source stores.
    type Record: ReplayRecord;

    /// One past the highest block that can be read; the chain's first block
    /// ([`first_block`](Self::first_block)) when nothing is stored.
    fn next_block(&self) -> BlockNumber;

    /// The first block of the chain this source serves: a request for an earlier block is
    /// refused ([`NotServed::BeforeFirstBlock`](crate::NotServed::BeforeFirstBlock), Disconnect
    /// `UselessPeer`) instead of being read. Default: 0. A ZKsync OS chain's records start at
    /// block 1 (block 0 is the genesis, which every node has and no record carries).
    fn first_block(&self) -> BlockNumber {
        0
    }

    /// Reads contiguous records starting exactly at `from`, ascending, at most `max` of them
    /// (fewer when fewer are stored). For a block named in `overrides`, returns the record stored
    /// under that override's key instead, if the source has it.
    ///
    /// # Errors
    ///
    /// [`SourceError`] when the records cannot be read (the EN's link is closed with
    /// `SubprotocolError`, and the EN will redial).
    async fn read(
        &self,
        from: BlockNumber,
        max: usize,
        overrides: &Overrides,
    ) -> Result<Vec<Self::Record>, SourceError>;

    /// Resolves once `block` is readable (`next_block() > block`); at once if it already is.
    ///
    /// # Cancel safety
    ///
    /// Must be cancel safe: the node drops it when the link closes.
    async fn wait_for(&self, block: BlockNumber);

    /// Whether [`read`](Self::read) returns the stored replacement for every override in
    /// `overrides` (rather than the canonical record). A relay serves a request with overrides
    /// only when this holds, and otherwise refuses it (the link ends with `UselessPeer` and
    /// [`CloseCause::NotServed`](crate::CloseCause::NotServed)) so the external node asks its
    /// next upstream instead of silently getting canonical records. A main node does not ask.
    ///
    /// Default: only when `overrides` is empty. A store that keeps override records says
    /// which it holds.
    fn holds_overrides(&self, overrides: &Overrides) -> bool {
        overrides.is_empty()
    }
}

/// EN side: where replay records go. The sink owns the resume point.
///
/// The node calls [`apply`](Self::apply) with records that are validated, contiguous and
/// start exactly at [`next_block`](Self::next_block), one call at a time per node (links to
/// several main nodes are serialised), and never cancels a call in flight. For exactly-once
/// replay across crashes, `apply` must be atomic: all records or none become visible, and
/// `next_block` moves with them.
///
/// Before a record reaches `apply`, the node has checked that it is exactly the next block
/// and that it [follows](ReplayRecord::follows) the record this process applied before it (from
/// any main node), so a main node on another fork ends its link instead of being spliced in.
/// The protocol version a record came in is given to [`ReplayRecord::decode`]; a record type
/// whose older encodings lack fields (zks/1 vs zks/3) keeps that version in the record if its
/// sink must tell them apart.
#[async_trait]
pub trait ReplaySink: Send + Sync + 'static {
    /// The record type this sink stores.
    type Record: ReplayRecord;

    /// The first block not yet applied: where replay resumes after any reconnect or restart.
    /// An empty sink's is its chain's first block: 0, or 1 on a ZKsync OS chain (block 0 is the
    /// genesis, which every node has: a ZKsync OS main node serves no record of it).
    fn next_block(&self) -> BlockNumber;

    /// Applies records `next_block()..` in order.
    ///
    /// # Errors
    ///
    /// [`SinkError`] when they cannot be stored; the link is closed and the EN redials,
    /// resuming from `next_block()` — unless the error is a
    /// [local fault](SinkError::local_fault) (our disk is full, say), after which the EN stops
    /// dialing.
    async fn apply(&self, records: Vec<Self::Record>) -> Result<(), SinkError>;
}

#[async_trait]
impl<T: ReplaySource + ?Sized> ReplaySource for Arc<T> {
    type Record = T::Record;
    fn next_block(&self) -> BlockNumber {
        (**self).next_block()
    }
    fn first_block(&self) -> BlockNumber {
        (**self).first_block()
    }
    async fn read(
        &self,
        from: BlockNumber,
        max: usize,
        overrides: &Overrides,
    ) -> Result<Vec<Self::Record>, SourceError> {
        (**self).read(from, max, overrides).await
    }
    async fn wait_for(&self, block: BlockNumber) {
        (**self).wait_for(block).await;
    }
    fn holds_overrides(&self, overrides: &Overrides) -> bool {
        (**self).holds_overrides(overrides)
    }
}

#[async_trait]
impl<T: ReplaySink + ?Sized> ReplaySink for Arc<T> {
    type Record = T::Record;
    fn next_block(&self) -> BlockNumber {
        (**self).next_block()
    }
    async fn apply(&self, records: Vec<Self::Record>) -> Result<(), SinkError> {
        (**self).apply(records).await
    }
}

macro_rules! opaque_error {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(Arc<dyn StdError + Send + Sync>);

        impl $name {
            /// Wraps any error.
            pub fn new(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
                Self(Arc::from(error.into()))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl StdError for $name {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&*self.0)
            }
        }
    };
}

opaque_error!(
    /// A [`ReplaySource`] could not serve a read. Wraps the node team's own error.
    SourceError
);
/// A [`ReplaySink`] could not apply records. Wraps the node team's own error, and says whose
/// fault it is: [`SinkError::new`] for a failure that a new link may cure (the link is closed
/// and the EN redials), [`SinkError::local_fault`] for our own storage failing (a full disk, an
/// I/O error), which no upstream caused and no redial cures.
#[derive(Clone)]
pub struct SinkError {
    error: Arc<dyn StdError + Send + Sync>,
    local: bool,
}

impl SinkError {
    /// Wraps any error: the link is closed and the EN redials, resuming from the sink.
    pub fn new(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            error: Arc::from(error.into()),
            local: false,
        }
    }

    /// Our own storage failed (the disk is full, an I/O error): nobody's link is to blame.
    /// The external node (or relay) closes the link, does not count the failure against its
    /// upstream, and stops dialing its upstreams until the node is shut down: the sink's owner
    /// decides what comes next (reopen its storage and start a new node, or exit so a
    /// supervisor restarts the process). A relay keeps serving what it holds.
    pub fn local_fault(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            error: Arc::from(error.into()),
            local: true,
        }
    }

    /// Whether this is a [`local_fault`](Self::local_fault).
    pub fn is_local_fault(&self) -> bool {
        self.local
    }
}

impl fmt::Debug for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.local { "local fault: " } else { "" };
        write!(f, "SinkError({kind}{})", self.error)
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl StdError for SinkError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.error)
    }
}
