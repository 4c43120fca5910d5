//! [`ConnectionRegistry`]: how to reach each live link right now.

use std::collections::HashMap;

use tokio::sync::mpsc;

use crate::ConnectionId;
use crate::transport::LinkSender;
use crate::wire::Frame;

/// A live link's control handle.
#[derive(Clone, Debug)]
pub(crate) struct LinkHandle {
    /// MN: where to hand `VerifyBatch` frames; the link's driver sends them ahead of replay.
    pub(crate) control: mpsc::Sender<Frame>,
    /// Closes the link out of band (admission evicts silent links with it).
    pub(crate) sender: LinkSender,
    /// When the link was established.
    pub(crate) since: tokio::time::Instant,
}

/// Answers "how do I send to this link now?". Entries exist exactly while a link is served.
#[derive(Debug, Default)]
pub(crate) struct ConnectionRegistry {
    links: HashMap<ConnectionId, LinkHandle>,
}

impl ConnectionRegistry {
    pub(crate) fn insert(&mut self, conn: ConnectionId, handle: LinkHandle) {
        self.links.insert(conn, handle);
    }

    pub(crate) fn remove(&mut self, conn: ConnectionId) -> Option<LinkHandle> {
        self.links.remove(&conn)
    }

    /// The handle of one link.
    pub(crate) fn get(&self, conn: ConnectionId) -> Option<&LinkHandle> {
        self.links.get(&conn)
    }

    /// How many links are live.
    pub(crate) fn len(&self) -> usize {
        self.links.len()
    }
}
