//! [`ConnectionRegistry`]: how to reach each live link right now.

use std::collections::HashMap;

use crate::ConnectionId;
use tokio::sync::mpsc;

use crate::transport::{LinkInfo, LinkSender};
use crate::wire::Frame;

/// A live link's send handle.
#[derive(Clone, Debug)]
pub struct LinkHandle {
    /// Peer, direction, address, version.
    pub info: LinkInfo,
    /// Where to send.
    pub sender: LinkSender,
    /// MN: where to hand `VerifyBatch` frames; the link's driver sends them ahead of replay.
    pub(crate) control: mpsc::Sender<Frame>,
}

/// Answers "how do I send to this link now?". Entries exist exactly while a link is served.
#[derive(Debug, Default)]
pub struct ConnectionRegistry {
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
    pub fn get(&self, conn: ConnectionId) -> Option<&LinkHandle> {
        self.links.get(&conn)
    }

    /// Every live link.
    pub fn iter(&self) -> impl Iterator<Item = (ConnectionId, &LinkHandle)> {
        self.links.iter().map(|(c, h)| (*c, h))
    }

    /// How many links are live.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether no link is live.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }
}
