//! [`Libp2pNet`]: the scenarios over libp2p (TCP + noise + yamux) on 127.0.0.1.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use zks_api::PeerAddr;
use zks_api::transport::Transport;
use zks_libp2p::{Libp2pConfig, Libp2pTransport, key};

use crate::TestNet;

/// libp2p on 127.0.0.1: every node gets a fresh ed25519 identity and binds port 0; its address
/// is the bound `/ip4/127.0.0.1/tcp/<port>/p2p/<peer id>`, looked up once it listens.
#[derive(Debug, Default)]
pub struct Libp2pNet {
    nodes: Mutex<HashMap<String, Libp2pTransport>>,
}

#[async_trait]
impl TestNet for Libp2pNet {
    async fn transport(&self, name: &str) -> Arc<dyn Transport> {
        let config = Libp2pConfig::builder(key::generate_ed25519())
            .listen_addr("/ip4/127.0.0.1/tcp/0".parse().expect("a multiaddr"))
            .build()
            .expect("valid libp2p config");
        let transport = Libp2pTransport::new(config).expect("transport starts");
        self.nodes
            .lock()
            .expect("not poisoned")
            .insert(name.to_owned(), transport.clone());
        Arc::new(transport)
    }

    fn addr(&self, name: &str) -> PeerAddr {
        let nodes = self.nodes.lock().expect("not poisoned");
        let addr = nodes.get(name).map(|t| {
            t.local_multiaddr()
                .map_or_else(|| format!("/p2p/{}", t.local_peer_id()), |a| a.to_string())
        });
        PeerAddr::new(addr.as_deref().unwrap_or("/p2p/unknown"))
    }
}
