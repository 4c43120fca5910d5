//! The relay's driver: an external node on the links it dials (its trusted upstreams) and a
//! main node on the links it accepts (its downstream), over one store.

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::CloseCause;
use super::en::ExternalNodeDriver;
use super::link::{LinkCx, LinkIo, RoleDriver};
use super::mn::MainNodeDriver;
use crate::wire::Frame;
use crate::{BlockNumber, Direction, ReplaySink, ReplaySource};

/// Both halves share the store; downstream reads only what the upstream half's `apply`
/// committed, and is woken by the store's `wait_for` as blocks land.
pub(crate) struct RelayDriver<S: ReplaySink> {
    pub(crate) upstream: ExternalNodeDriver<S>,
    pub(crate) downstream: MainNodeDriver<S>,
}

#[async_trait]
impl<S> RoleDriver for RelayDriver<S>
where
    S: ReplaySource + ReplaySink<Record = <S as ReplaySource>::Record>,
{
    async fn serve(
        &self,
        cx: &LinkCx,
        io: &mut LinkIo,
        control: &mut mpsc::Receiver<Frame>,
    ) -> CloseCause {
        // By direction, not by trust: an upstream that dials us (say, in a loop) asks us for
        // replay like any downstream node.
        match cx.info.direction {
            Direction::Outbound => self.upstream.serve(cx, io, control).await,
            Direction::Inbound => self.downstream.serve(cx, io, control).await,
        }
    }

    async fn probe(
        &self,
        cx: &LinkCx,
        io: &mut LinkIo,
        block: BlockNumber,
        timeout: std::time::Duration,
    ) -> bool {
        self.upstream.probe(cx, io, block, timeout).await
    }
}
