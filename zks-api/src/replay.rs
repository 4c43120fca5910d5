//! The node team's replay storage: [`ReplaySource`] on the main node, [`ReplaySink`] on external
//! nodes.

use std::any::TypeId;
use std::cell::Cell;
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
/// same as [`ReplaySink::resume_block`], and `wait_for(b)` waits until `b` is readable. An empty
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
/// start exactly at [`resume_block`](Self::resume_block), one call at a time per node (links
/// to several main nodes are serialised), and never cancels a call in flight. For exactly-once
/// replay across crashes, `apply` must be atomic: all records or none become visible, and
/// `resume_block` moves with them.
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
    ///
    /// Implement this one. (It was called `next_block`, like [`ReplaySource::next_block`],
    /// which made `store.next_block()` ambiguous on a relay's store that is both.) The default
    /// calls the deprecated [`next_block`](Self::next_block), so a sink written against the
    /// previous release keeps working unchanged for one release.
    ///
    /// # Panics
    ///
    /// The default panics when the sink implements neither this nor the deprecated
    /// `next_block`: a programmer error, found at the first call (when the node starts).
    #[allow(deprecated, reason = "the bridge to sinks written before resume_block")]
    fn resume_block(&self) -> BlockNumber {
        let _marked = Resuming::enter(self);
        self.next_block()
    }

    /// The old name of [`resume_block`](Self::resume_block). Its default calls
    /// `resume_block`, so callers of a sink that implements only `resume_block` keep working.
    ///
    /// # Panics
    ///
    /// When the sink implements neither method: this default, called from `resume_block`'s
    /// default on the same sink, panics with a message naming the fix (implement
    /// `resume_block`), where the two defaults would otherwise call each other forever.
    #[deprecated(
        note = "renamed resume_block (it clashed with ReplaySource::next_block): implement and call resume_block"
    )]
    #[allow(
        clippy::panic,
        reason = "a sink that implements neither method is a programmer error, found at the first call"
    )]
    fn next_block(&self) -> BlockNumber {
        if Resuming::is_inside(self) {
            panic!(
                "{} implements neither ReplaySink::resume_block nor the deprecated \
                 ReplaySink::next_block: implement resume_block",
                std::any::type_name::<Self>()
            );
        }
        self.resume_block()
    }

    /// Applies records `resume_block()..` in order.
    ///
    /// # Errors
    ///
    /// [`SinkError`] when they cannot be stored; the link is closed and the EN redials,
    /// resuming from `resume_block()` — unless the error is a
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
    fn resume_block(&self) -> BlockNumber {
        (**self).resume_block()
    }
    async fn apply(&self, records: Vec<Self::Record>) -> Result<(), SinkError> {
        (**self).apply(records).await
    }
}

/// The deprecation bridge between [`ReplaySink::resume_block`] and `ReplaySink::next_block`:
/// which sink, on this thread, is inside `resume_block`'s default, calling `next_block`.
///
/// Each default calls the other, so a sink that implements neither would recurse until the
/// stack overflows. `resume_block`'s default marks the sink (its address and type) while it
/// calls `next_block`; `next_block`'s default, finding its own sink marked, knows that nothing
/// was implemented and panics instead. Keyed by sink, not a plain flag, so an old-style sink
/// whose `next_block` asks a wrapped sink's `next_block` (a new-style one, say) is not
/// mistaken for one that implements nothing. Removed with `next_block`.
struct Resuming {
    previous: Option<(usize, TypeId)>,
}

thread_local! {
    static RESUMING: Cell<Option<(usize, TypeId)>> = const { Cell::new(None) };
}

impl Resuming {
    fn key<S: ReplaySink + ?Sized>(sink: &S) -> (usize, TypeId) {
        (
            std::ptr::from_ref(sink).cast::<()>().addr(),
            TypeId::of::<S>(),
        )
    }

    /// Marks `sink` until the guard drops (unwinding included), restoring the mark before.
    fn enter<S: ReplaySink + ?Sized>(sink: &S) -> Self {
        Self {
            previous: RESUMING.replace(Some(Self::key(sink))),
        }
    }

    /// Whether `sink` is inside its own `resume_block` default.
    fn is_inside<S: ReplaySink + ?Sized>(sink: &S) -> bool {
        RESUMING.get() == Some(Self::key(sink))
    }
}

impl Drop for Resuming {
    fn drop(&mut self) {
        RESUMING.set(self.previous);
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

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;
    use crate::RawRecord;

    /// A sink written before `resume_block`: it implements the deprecated `next_block` only.
    struct OldStyle(BlockNumber);

    #[async_trait]
    impl ReplaySink for OldStyle {
        type Record = RawRecord;
        fn next_block(&self) -> BlockNumber {
            self.0
        }
        async fn apply(&self, _records: Vec<RawRecord>) -> Result<(), SinkError> {
            Ok(())
        }
    }

    /// A sink written for this release: it implements `resume_block` only.
    struct NewStyle(BlockNumber);

    #[async_trait]
    impl ReplaySink for NewStyle {
        type Record = RawRecord;
        fn resume_block(&self) -> BlockNumber {
            self.0
        }
        async fn apply(&self, _records: Vec<RawRecord>) -> Result<(), SinkError> {
            Ok(())
        }
    }

    /// A sink that implements neither: a programmer error.
    struct Neither;

    #[async_trait]
    impl ReplaySink for Neither {
        type Record = RawRecord;
        async fn apply(&self, _records: Vec<RawRecord>) -> Result<(), SinkError> {
            Ok(())
        }
    }

    /// An old-style wrapper that asks its inner sink's deprecated `next_block`, whose inner
    /// sink moved to `resume_block`. Its only field sits at the wrapper's own address.
    struct OldWrapper<S>(S);

    #[async_trait]
    impl<S: ReplaySink<Record = RawRecord>> ReplaySink for OldWrapper<S> {
        type Record = RawRecord;
        #[allow(deprecated, reason = "an old-style sink, as node teams wrote them")]
        fn next_block(&self) -> BlockNumber {
            self.0.next_block()
        }
        async fn apply(&self, records: Vec<RawRecord>) -> Result<(), SinkError> {
            self.0.apply(records).await
        }
    }

    const NEITHER: &str = "zks_api::replay::tests::Neither implements neither \
                           ReplaySink::resume_block nor the deprecated ReplaySink::next_block: \
                           implement resume_block";

    #[test]
    fn a_sink_that_implements_only_next_block_is_read_through_resume_block() {
        assert_eq!(OldStyle(7).resume_block(), 7);
        assert_eq!(Arc::new(OldStyle(7)).resume_block(), 7);
        let dyn_sink: Arc<dyn ReplaySink<Record = RawRecord>> = Arc::new(OldStyle(7));
        assert_eq!(dyn_sink.resume_block(), 7);
    }

    #[test]
    #[allow(deprecated, reason = "proves the deprecated next_block still answers")]
    fn a_sink_that_implements_only_resume_block_is_read_through_the_deprecated_next_block() {
        assert_eq!(NewStyle(9).next_block(), 9);
        assert_eq!(Arc::new(NewStyle(9)).next_block(), 9);
        let dyn_sink: Arc<dyn ReplaySink<Record = RawRecord>> = Arc::new(NewStyle(9));
        assert_eq!(dyn_sink.next_block(), 9);
    }

    #[test]
    #[should_panic(
        expected = "zks_api::replay::tests::Neither implements neither ReplaySink::resume_block nor the deprecated ReplaySink::next_block: implement resume_block"
    )]
    fn a_sink_that_implements_neither_panics_naming_the_fix_instead_of_recursing() {
        Neither.resume_block();
    }

    #[test]
    #[should_panic(
        expected = "zks_api::replay::tests::Neither implements neither ReplaySink::resume_block nor the deprecated ReplaySink::next_block: implement resume_block"
    )]
    #[allow(
        deprecated,
        reason = "the deprecated entry point of the same programmer error"
    )]
    fn a_sink_that_implements_neither_panics_through_next_block_too() {
        Neither.next_block();
    }

    /// A plain "inside resume_block" flag would take this wrapper for a sink that implements
    /// nothing: its `next_block` runs inside its own `resume_block` default and calls the inner
    /// sink's `next_block` default. The mark is the sink's address and type, so the inner sink
    /// (same address, another type) is not mistaken for the wrapper.
    #[test]
    fn an_old_style_wrapper_of_a_new_style_sink_is_not_taken_for_a_sink_that_implements_neither() {
        let wrapper = OldWrapper(NewStyle(11));
        assert_eq!(
            std::ptr::from_ref(&wrapper).addr(),
            std::ptr::from_ref(&wrapper.0).addr()
        );
        assert_eq!(wrapper.resume_block(), 11);
        assert_eq!(OldWrapper(Arc::new(NewStyle(12))).resume_block(), 12);
        assert_eq!(OldWrapper(OldStyle(13)).resume_block(), 13);
        // An old-style wrapper of a sink that implements neither still names the culprit.
        let inner = catch_unwind(AssertUnwindSafe(|| OldWrapper(Neither).resume_block()));
        let message = inner.err().and_then(|e| e.downcast::<String>().ok());
        assert_eq!(message.as_deref().map(String::as_str), Some(NEITHER));
    }

    #[test]
    fn the_mark_is_cleared_after_each_call_and_after_the_panic() {
        assert_eq!(OldStyle(1).resume_block(), 1);
        assert_eq!(RESUMING.get(), None);
        assert!(catch_unwind(|| Neither.resume_block()).is_err());
        assert_eq!(RESUMING.get(), None);
        assert_eq!(NewStyle(2).resume_block(), 2);
        assert_eq!(OldStyle(3).resume_block(), 3);
    }
}
