//! The task that owns the libp2p [`Swarm`]: TCP + noise + yamux, a connection cap with trusted
//! peers exempt, and [`libp2p_stream`] for the zks streams.
//!
//! The rest of the crate talks to it through a bounded command queue (listen, connect) and
//! through [`libp2p_stream::Control`], which opens and accepts streams without going through
//! this task. The task ends when every [`SwarmHandle`] is dropped; then all connections close.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::core::transport::ListenerId;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, DialError, NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};

use crate::config::Libp2pConfig;
use crate::error::Error;

/// Commands queued to the swarm task at most.
const COMMAND_QUEUE: usize = 64;

/// The behaviours of our swarm.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    limits: connection_limits::Behaviour,
    stream: libp2p_stream::Behaviour,
}

/// Why connecting to a peer failed.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// Nothing answered, or the connection broke.
    Unreachable(String),
    /// Something answered but the noise or yamux upgrade failed, or it is another peer.
    Handshake(String),
}

/// What the transport asks of the swarm task.
enum Command {
    Listen {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<Multiaddr, String>>,
    },
    Connect {
        peer: PeerId,
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), ConnectError>>,
    },
}

/// The remote address of each connected peer's latest connection, for [`zks_api::transport::LinkInfo`].
#[derive(Debug, Default)]
pub(crate) struct PeerBook {
    addrs: Mutex<HashMap<PeerId, Multiaddr>>,
}

impl PeerBook {
    /// The address we see `peer` at, if connected.
    pub(crate) fn get(&self, peer: &PeerId) -> Option<Multiaddr> {
        self.addrs.lock().ok()?.get(peer).cloned()
    }

    fn set(&self, peer: PeerId, addr: Option<Multiaddr>) {
        if let Ok(mut addrs) = self.addrs.lock() {
            match addr {
                Some(addr) => addrs.insert(peer, addr),
                None => addrs.remove(&peer),
            };
        }
    }
}

/// The handle to a running swarm task.
pub(crate) struct SwarmHandle {
    commands: mpsc::Sender<Command>,
    /// Opens and accepts streams; clone it per concurrent use.
    pub(crate) control: libp2p_stream::Control,
}

impl std::fmt::Debug for SwarmHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwarmHandle").finish_non_exhaustive()
    }
}

impl SwarmHandle {
    /// Builds the swarm and spawns its task (needs a tokio runtime).
    pub(crate) fn spawn(config: &Libp2pConfig, book: Arc<PeerBook>) -> Result<Self, Error> {
        // The raw connection cap: a flood of idle connections stays bounded. Which links are
        // served (the active-link cap, refused with TooManyPeers) is the node's decision, so a
        // peer over that cap still has a connection on which to be told why.
        let cap = u32::try_from(config.max_connections).unwrap_or(u32::MAX);
        let mut limits = connection_limits::Behaviour::new(
            ConnectionLimits::default()
                .with_max_pending_incoming(Some(cap))
                .with_max_established_incoming(Some(cap)),
        );
        for peer in &config.trusted_peers {
            limits.bypass_peer_id(peer);
        }
        let stream = libp2p_stream::Behaviour::new();
        let control = stream.new_control();
        let behaviour = Behaviour { limits, stream };
        let idle = config.idle_timeout;
        let swarm = libp2p::SwarmBuilder::with_existing_identity(config.keypair.clone())
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| Error::Key(e.to_string()))?
            .with_behaviour(|_| behaviour)
            .map_err(|_| Error::InvalidConfig {
                reason: "cannot build the behaviour",
            })?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build();
        let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
        let local = *swarm.local_peer_id();
        tokio::spawn(async move {
            SwarmTask {
                swarm,
                book,
                listens: HashMap::new(),
                connects: HashMap::new(),
                inbound_failed: zks_api::transport::kit::RepeatSummary::new(
                    std::time::Duration::from_secs(10),
                ),
            }
            .run(rx)
            .await;
            tracing::debug!(%local, "swarm task stopped");
        });
        Ok(Self { commands, control })
    }

    /// Starts listening on `addr`; resolves to the first bound address.
    pub(crate) async fn listen(&self, addr: Multiaddr) -> Result<Multiaddr, String> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Listen { addr, reply })
            .await
            .map_err(|_| "swarm task stopped".to_owned())?;
        rx.await.map_err(|_| "swarm task stopped".to_owned())?
    }

    /// Resolves once we hold a connection to `peer` (dialing `addr` unless connected already).
    pub(crate) async fn connect(&self, peer: PeerId, addr: Multiaddr) -> Result<(), ConnectError> {
        let stopped = || ConnectError::Unreachable("swarm task stopped".to_owned());
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Connect { peer, addr, reply })
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

struct SwarmTask {
    swarm: Swarm<Behaviour>,
    book: Arc<PeerBook>,
    listens: HashMap<ListenerId, oneshot::Sender<Result<Multiaddr, String>>>,
    connects: HashMap<ConnectionId, oneshot::Sender<Result<(), ConnectError>>>,
    /// Inbound connections that failed before a link: one INFO line per interval.
    inbound_failed: zks_api::transport::kit::RepeatSummary,
}

impl SwarmTask {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_event(event),
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Listen { addr, reply } => match self.swarm.listen_on(addr) {
                Ok(id) => {
                    self.listens.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e.to_string()));
                }
            },
            Command::Connect { peer, addr, reply } => {
                if self.swarm.is_connected(&peer) {
                    let _ = reply.send(Ok(()));
                    return;
                }
                let opts = DialOpts::peer_id(peer)
                    .addresses(vec![addr])
                    .condition(PeerCondition::Always)
                    .build();
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.connects.retain(|_, waiter| !waiter.is_closed());
                        self.connects.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(connect_error(&e)));
                    }
                }
            }
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                tracing::info!(%address, "listening");
                if let Some(reply) = self.listens.remove(&listener_id) {
                    let _ = reply.send(Ok(address));
                }
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                let reason = match reason {
                    Ok(()) => "listener closed".to_owned(),
                    Err(e) => e.to_string(),
                };
                tracing::warn!(%reason, "listener closed");
                if let Some(reply) = self.listens.remove(&listener_id) {
                    let _ = reply.send(Err(reason));
                }
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                tracing::warn!(%error, "listener error");
                if let Some(reply) = self.listens.remove(&listener_id) {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                tracing::debug!(peer = %peer_id, addr = %endpoint.get_remote_address(), "connected");
                self.book
                    .set(peer_id, Some(endpoint.get_remote_address().clone()));
                if let Some(reply) = self.connects.remove(&connection_id) {
                    let _ = reply.send(Ok(()));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                tracing::debug!(peer = %peer_id, ?cause, "connection closed");
                if num_established == 0 {
                    self.book.set(peer_id, None);
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                tracing::debug!(%error, "dial failed");
                if let Some(reply) = self.connects.remove(&connection_id) {
                    let _ = reply.send(Err(connect_error(&error)));
                }
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                // Includes connections refused by the cap (the peer sees the connection close).
                tracing::debug!(remote = %send_back_addr, %error, "inbound connection failed");
                if let Some(connections) = self.inbound_failed.record(std::time::Instant::now()) {
                    tracing::info!(
                        remote = %send_back_addr,
                        %error,
                        connections,
                        "inbound connections failed before their link was set up"
                    );
                }
            }
            _ => {}
        }
    }
}

fn connect_error(error: &DialError) -> ConnectError {
    match error {
        DialError::WrongPeerId { .. } | DialError::LocalPeerId { .. } => {
            ConnectError::Handshake(error.to_string())
        }
        _ => ConnectError::Unreachable(error.to_string()),
    }
}
