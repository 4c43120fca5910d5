//! The external node's driver for one link: ask for replay, validate, apply.

use async_trait::async_trait;
use tokio::sync::{Mutex, watch};

use super::link::{LinkCx, RoleDriver};
use crate::engine::{CloseCause, EnInput, EnSession, ProtocolEvent, ReplayRequest};
use crate::transport::LinkReceiver;
use crate::wire::RecordOverride;
use crate::{BlockNumber, ReplayRecord, ReplaySink};

pub(crate) struct ExternalNodeDriver<K> {
    pub(crate) sink: K,
    /// Serialises applies from links to several main nodes.
    pub(crate) apply_lock: Mutex<()>,
    pub(crate) overrides: Vec<RecordOverride>,
    pub(crate) max_blocks_per_message: u64,
    /// The sink's next block as of our last apply.
    pub(crate) applied: watch::Sender<BlockNumber>,
}

#[async_trait]
impl<K: ReplaySink> RoleDriver for ExternalNodeDriver<K> {
    async fn serve(&self, cx: &LinkCx, rx: &mut LinkReceiver) -> CloseCause {
        let request = cx.trusted.then(|| ReplayRequest {
            starting_block: self.sink.next_block(),
            record_overrides: self.overrides.clone(),
            max_blocks_per_message: self.max_blocks_per_message,
        });
        let mut session = EnSession::<K::Record>::new(cx.info.version, request);
        while let Some(frame) = session.poll_outbound() {
            if let Err(cause) = cx.send(rx, frame).await {
                return cause;
            }
        }
        loop {
            let frame = match cx.recv(rx).await {
                Ok(frame) => frame,
                Err(cause) => return cause,
            };
            match session.handle_frame(&frame) {
                Ok(EnInput::Records(records)) => {
                    // Not raced against shutdown: an apply in flight is never cancelled.
                    if let Err(cause) = self.apply(cx, records).await {
                        return cause;
                    }
                }
                Ok(EnInput::None) => {}
                Err(e) => return e.into(),
            }
        }
    }
}

impl<K: ReplaySink> ExternalNodeDriver<K> {
    /// Applies validated records, skipping any another link already delivered.
    async fn apply(&self, cx: &LinkCx, mut records: Vec<K::Record>) -> Result<(), CloseCause> {
        let _serialised = self.apply_lock.lock().await;
        let next = self.sink.next_block();
        let Some(first) = records.first().map(ReplayRecord::block_number) else {
            return Ok(());
        };
        if first > next {
            return Err(CloseCause::SinkMoved {
                sink_next: next,
                got: first,
            });
        }
        let already = usize::try_from(next - first)
            .unwrap_or(usize::MAX)
            .min(records.len());
        records.drain(..already);
        let Some(last) = records.last().map(ReplayRecord::block_number) else {
            return Ok(());
        };
        self.sink.apply(records).await.map_err(CloseCause::Sink)?;
        self.applied.send_replace(last + 1);
        cx.mark_progress();
        cx.emit(ProtocolEvent::ReplayApplied {
            conn: cx.conn,
            peer: cx.peer(),
            first_block: next,
            last_block: last,
        });
        Ok(())
    }
}
