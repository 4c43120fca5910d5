//! [`NodeBuilder`]: configuring and starting a [`Node`].

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::accept::accept_loop;
use super::en::ExternalNodeDriver;
use super::link::RoleDriver;
use super::links::LinkTable;
use super::mn::MainNodeDriver;
use super::relay::RelayDriver;
use super::replay_cache::ReplayCache;
use super::settings::DriverSettings;
use super::shared::Shared;
use super::upstreams::dial_loop;
use super::{Node, NodeSettings, ProtocolEvent};
use crate::admission::ConnectionLimit;
use crate::middleware::{BoxError, InboundMessage, InboundService, LayerFn};
use crate::transport::Transport;
use crate::wire::{Capabilities, RecordOverride, VersionSet};
use crate::{
    ChallengeSigner, ConfigError, Error, PeerAddr, ReplayRecord, ReplaySink, ReplaySource, Role,
    SignerAuthenticator, Verifier,
};

/// Builds the role's driver once every setting is known; erases the record type.
type DriverFactory = Box<dyn FnOnce(DriverSettings) -> Arc<dyn RoleDriver> + Send>;

/// Configures and starts a [`Node`]. Every setting has a default except the role.
#[must_use = "a builder does nothing until `start` is called"]
pub struct NodeBuilder {
    transport: Arc<dyn Transport>,
    caps: Capabilities,
    settings: NodeSettings,
    role: Option<(Role, DriverFactory)>,
    /// The versions the role's record type travels on ([`ReplayRecord::VERSIONS`]).
    ///
    /// [`ReplayRecord::VERSIONS`]: crate::ReplayRecord::VERSIONS
    record_versions: VersionSet,
    trusted_main_nodes: Vec<PeerAddr>,
    trusted_peers: Vec<PeerAddr>,
    layers: Vec<LayerFn>,
    record_overrides: Vec<RecordOverride>,
    rng_seed: Option<u64>,
    authenticator: Option<Arc<dyn SignerAuthenticator>>,
    verifier: Option<(Arc<dyn ChallengeSigner>, Arc<dyn Verifier>)>,
    /// The event channel, when someone subscribed before start.
    events: Option<broadcast::Sender<ProtocolEvent>>,
}

impl std::fmt::Debug for NodeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeBuilder")
            .field("caps", &self.caps)
            .field("settings", &self.settings)
            .field("trusted_main_nodes", &self.trusted_main_nodes)
            .finish_non_exhaustive()
    }
}

impl NodeBuilder {
    pub(super) fn new(transport: Arc<dyn Transport>) -> Self {
        Self {
            transport,
            caps: Capabilities::default(),
            settings: NodeSettings::default(),
            role: None,
            record_versions: VersionSet::ALL,
            trusted_main_nodes: Vec::new(),
            trusted_peers: Vec::new(),
            layers: Vec::new(),
            record_overrides: Vec::new(),
            rng_seed: None,
            authenticator: None,
            verifier: None,
            events: None,
        }
    }

    /// A subscription that sees every event from the node's start, however many are made.
    /// Call it after [`settings`](Self::settings): the channel is sized by
    /// [`NodeSettings::event_capacity`] when the first subscription is made.
    ///
    /// ```no_run
    /// # async fn start(transport: impl zks_api::transport::Transport) -> Result<(), zks_api::Error> {
    /// use std::sync::Arc;
    /// use zks_api::{MemoryReplayStore, Node, RawRecord};
    ///
    /// let chain = Arc::new(MemoryReplayStore::<RawRecord>::new());
    /// let mut builder = Node::builder(transport).main_node(chain);
    /// let mut links = builder.subscribe(); // sees the very first link too
    /// let mut replay = builder.subscribe();
    /// let node = builder.start().await?;
    /// # Ok(()) }
    /// ```
    pub fn subscribe(&mut self) -> super::EventStream {
        let capacity = self.settings.event_capacity();
        let sender = self
            .events
            .get_or_insert_with(|| broadcast::channel(capacity).0);
        super::EventStream::new(sender.subscribe())
    }

    /// Makes this a main node serving replay from `source`.
    ///
    /// The node advertises only the configured versions that carry `S::Record`
    /// ([`ReplayRecord::VERSIONS`](crate::ReplayRecord::VERSIONS)); the same holds for
    /// [`external_node`](Self::external_node) and [`relay`](Self::relay).
    pub fn main_node<S: ReplaySource>(mut self, source: S) -> Self {
        self.record_versions = <S::Record as ReplayRecord>::VERSIONS;
        self.role = Some((
            Role::MainNode,
            Box::new(move |settings: DriverSettings| {
                Arc::new(MainNodeDriver {
                    source,
                    authenticator: settings.authenticator,
                    relay: false,
                    encoded: ReplayCache::default(),
                }) as Arc<dyn RoleDriver>
            }),
        ));
        self
    }

    /// Makes this an external node replaying into `sink` from its trusted main nodes.
    pub fn external_node<K: ReplaySink>(mut self, sink: K) -> Self {
        self.record_versions = <K::Record as ReplayRecord>::VERSIONS;
        self.role = Some((
            Role::ExternalNode,
            Box::new(move |settings: DriverSettings| {
                Arc::new(ExternalNodeDriver::new(sink, settings)) as Arc<dyn RoleDriver>
            }),
        ));
        self
    }

    /// Makes this a relay over `store`: an external node toward its trusted main nodes (the
    /// main node, or relays nearer to it: set them with [`trusted_main_node`]) and a main node
    /// toward the external nodes that link to it, which list this relay as one of their trusted
    /// main nodes. Downstream sees a block only after `store`'s `apply` committed it, woken by
    /// `wait_for` as blocks land, so exactly-once holds across relay restarts, failovers and
    /// chains of relays.
    ///
    /// Records are not signed: a relay replays only from the upstreams it is told to trust, and
    /// its downstream trusts it as it would the main node. Verification is not relayed (a
    /// verifier role request is refused with `UselessPeer`, [`NotServed::VerifierRole`]), nor
    /// are record overrides the store does not hold ([`ReplaySource::holds_overrides`]). The
    /// relay itself may be a verifier toward its upstream ([`verifier`](Self::verifier)).
    ///
    /// [`trusted_main_node`]: Self::trusted_main_node
    /// [`NotServed::VerifierRole`]: super::NotServed::VerifierRole
    pub fn relay<S>(mut self, store: S) -> Self
    where
        S: ReplaySource + ReplaySink<Record = <S as ReplaySource>::Record>,
    {
        self.record_versions = <<S as ReplaySource>::Record as ReplayRecord>::VERSIONS;
        self.role = Some((
            Role::Relay,
            Box::new(move |settings: DriverSettings| {
                let store = Arc::new(store);
                Arc::new(RelayDriver {
                    upstream: ExternalNodeDriver::new(Arc::clone(&store), settings),
                    downstream: MainNodeDriver {
                        source: store,
                        authenticator: None,
                        relay: true,
                        encoded: ReplayCache::default(),
                    },
                }) as Arc<dyn RoleDriver>
            }),
        ));
        self
    }

    /// Main node: judges `VerifierAuth` signatures (on `zks_2fa`, or in-band on zks/3–4); peers it authorizes can be sent
    /// batches. Default: none (every verifier ends unauthorized).
    pub fn verifier_authenticator(mut self, authenticator: impl SignerAuthenticator) -> Self {
        self.authenticator = Some(Arc::new(authenticator));
        self
    }

    /// External node: authenticate as a verifier toward trusted main nodes with
    /// `signer`, and answer their batch requests with `verifier`. Default: not a verifier.
    pub fn verifier(mut self, signer: impl ChallengeSigner, verifier: impl Verifier) -> Self {
        self.verifier = Some((Arc::new(signer), Arc::new(verifier)));
        self
    }

    /// The zks versions to advertise, keeping the `zks_2fa` setting. Default: every version,
    /// `zks/1` to `zks/5` ([`VersionSet::ALL`]), of those that carry the role's record type
    /// (see [`main_node`](Self::main_node)).
    pub fn versions(mut self, versions: impl Into<VersionSet>) -> Self {
        self.caps.zks = versions.into();
        self
    }

    /// Everything to advertise: zks versions and `zks_2fa`. Default:
    /// [`Capabilities::ALL`] — both generations, so one node serves seed-generation peers
    /// (zks/1–3, verification in-band on zks/3) and current upstream peers (zks/5 with
    /// verification on `zks_2fa/1`); each link negotiates the highest shared zks version.
    /// [`Capabilities::CURRENT`] is what an upstream node advertises,
    /// [`Capabilities::SEED`] the seed generation alone.
    pub fn capabilities(mut self, caps: impl Into<Capabilities>) -> Self {
        self.caps = caps.into();
        self
    }

    /// The node runtime's settings: limits and timings of links, replay, upstream checks,
    /// verification and sessions. Default: [`NodeSettings::default`].
    pub fn settings(mut self, settings: NodeSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The node runtime's settings, as the deprecated [`Limits`](crate::Limits).
    #[deprecated(note = "renamed settings, taking NodeSettings (Limits converts: `.into()`)")]
    #[allow(
        deprecated,
        reason = "the deprecation bridge: takes the deprecated Limits"
    )]
    pub fn limits(self, limits: crate::Limits) -> Self {
        self.settings(limits.into())
    }

    /// External node: a main node to dial, keep dialing, and accept replay from. Inbound links
    /// from the same identity are trusted too. Default: none (an EN needs at least one).
    ///
    /// With several, the EN is linked to one at a time, in the order given: when the link to
    /// one ends or its dial fails, the next is dialed at once; after a round with no progress
    /// the EN backs off; a link that made progress sends the next round back to the first.
    pub fn trusted_main_node(mut self, addr: impl Into<PeerAddr>) -> Self {
        self.trusted_main_nodes.push(addr.into());
        self
    }

    /// A peer exempt from the active-link cap (e.g. an MN's own verifiers): it is never refused
    /// for lack of slots and never takes one. An EN's main nodes are exempt already.
    /// Default: none.
    pub fn trusted_peer(mut self, addr: impl Into<PeerAddr>) -> Self {
        self.trusted_peers.push(addr.into());
        self
    }

    /// Adds a [`tower::Layer`] around every link's inbound handling. Layers added first are
    /// outermost; all of them wrap the shipped size cap and rate limits, so they see every
    /// message. A layer fails a call to refuse the message: the link is then closed with
    /// `SubprotocolError` and [`Rejection::Other`](crate::middleware::Rejection::Other).
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower::Layer<InboundService> + Send + Sync + 'static,
        L::Service: tower::Service<InboundMessage, Response = InboundMessage, Error = BoxError>
            + Send
            + 'static,
        <L::Service as tower::Service<InboundMessage>>::Future: Send + 'static,
    {
        self.layers.push(Arc::new(move |inner| {
            InboundService::new(layer.layer(inner))
        }));
        self
    }

    /// External node: record overrides to ask every main node for. Default: none.
    pub fn record_overrides(mut self, overrides: impl IntoIterator<Item = RecordOverride>) -> Self {
        self.record_overrides.extend(overrides);
        self
    }

    /// Seeds the redial jitter, for reproducible tests. Default: seeded from the OS.
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = Some(seed);
        self
    }

    /// Validates the configuration, starts listening, and (external node) starts dialing.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an unusable configuration, [`Error::Transport`] when the transport
    /// cannot listen.
    pub async fn start(mut self) -> Result<Node, Error> {
        let (role, factory) = self.role.take().ok_or(ConfigError::NoRole)?;
        if self.caps.zks.is_empty() {
            return Err(ConfigError::NoVersions.into());
        }
        let carried = self.caps.zks.intersection(self.record_versions);
        if carried.is_empty() {
            return Err(ConfigError::NoVersionsForRecords {
                configured: self.caps.zks,
                carried: self.record_versions,
            }
            .into());
        }
        if carried != self.caps.zks {
            tracing::debug!(
                configured = %self.caps.zks,
                advertised = %carried,
                "advertising only the versions that carry this node's records"
            );
            self.caps.zks = carried;
        }
        self.settings.validate()?;
        match role {
            Role::MainNode if !self.trusted_main_nodes.is_empty() => {
                return Err(ConfigError::TrustedMainNodesOnMainNode.into());
            }
            Role::ExternalNode | Role::Relay if self.trusted_main_nodes.is_empty() => {
                return Err(ConfigError::NoTrustedMainNodes.into());
            }
            Role::Relay if self.authenticator.is_some() => {
                return Err(ConfigError::NotForRole {
                    setting: "verifier_authenticator",
                    role,
                    reason: "verification is not relayed; verifiers authenticate with the main node",
                }
                .into());
            }
            _ => {}
        }
        let resolve = |addrs: &[PeerAddr]| {
            addrs
                .iter()
                .map(|addr| self.transport.peer_id(addr))
                .collect::<Result<HashSet<_>, _>>()
                .map_err(ConfigError::InvalidTrustedPeer)
        };
        let trusted = resolve(&self.trusted_main_nodes)?;
        let exempt = resolve(&self.trusted_peers)?;
        let connection_limit = ConnectionLimit::new(
            self.settings.max_active_links(),
            trusted.iter().chain(exempt.iter()).cloned(),
        );

        let authenticates = self.authenticator.is_some();
        let (applied_tx, applied_rx) = watch::channel(0);
        let driver = factory(DriverSettings {
            record_overrides: self.record_overrides,
            node: self.settings.clone(),
            applied: applied_tx,
            authenticator: self.authenticator,
            verifier: self.verifier,
        });
        let caps = self.caps;
        let incoming = self.transport.listen(caps).await?;
        let events = self
            .events
            .unwrap_or_else(|| broadcast::channel(self.settings.event_capacity()).0);
        let first_events = events.subscribe();
        let local_id = self.transport.local_id();
        let shared = Arc::new(Shared {
            role,
            transport: self.transport,
            caps,
            settings: self.settings,
            trusted,
            connection_limit,
            layers: self.layers,
            events,
            links: LinkTable::default(),
            next_conn: AtomicU64::new(0),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        });
        let span = tracing::info_span!("zks_node", id = %local_id, ?role);
        shared.tasks.spawn(tracing::Instrument::instrument(
            accept_loop(Arc::clone(&shared), Arc::clone(&driver), incoming),
            span.clone(),
        ));
        let seed = self.rng_seed.unwrap_or_else(rand::random);
        if !self.trusted_main_nodes.is_empty() {
            let dial = dial_loop(
                Arc::clone(&shared),
                Arc::clone(&driver),
                self.trusted_main_nodes,
                seed,
                applied_rx.clone(),
            );
            shared
                .tasks
                .spawn(tracing::Instrument::instrument(dial, span.clone()));
        }
        tracing::info!(parent: &span, caps = %shared.caps, "node started");
        Ok(Node {
            shared,
            role,
            local_id,
            first_events: Mutex::new(Some(first_events)),
            applied: (role != Role::MainNode).then_some(applied_rx),
            authenticates,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use async_trait::async_trait;

    use super::*;
    use crate::PeerId;
    use crate::middleware::rate_limit::RateLimits;
    use crate::transport::{Incoming, Link, TransportError};
    use crate::{MemoryReplayStore, RawRecord};

    /// A transport that listens (no peer ever comes) and reaches no one.
    struct Lonely;

    #[async_trait]
    impl Transport for Lonely {
        fn local_id(&self) -> PeerId {
            PeerId::from("lonely")
        }
        fn peer_id(&self, addr: &PeerAddr) -> Result<PeerId, TransportError> {
            Ok(PeerId::new(addr.to_string()))
        }
        async fn listen(&self, _caps: Capabilities) -> Result<Incoming, TransportError> {
            Ok(Incoming::channel(1).1)
        }
        async fn dial(&self, addr: &PeerAddr, _caps: Capabilities) -> Result<Link, TransportError> {
            Err(TransportError::Unreachable {
                addr: addr.clone(),
                reason: "nobody here".into(),
            })
        }
    }

    fn builder() -> NodeBuilder {
        NodeBuilder::new(Arc::new(Lonely))
            .main_node(Arc::new(MemoryReplayStore::<RawRecord>::new()))
    }

    /// The deprecation bridge: node teams' code that builds a `Limits` with a struct literal
    /// and gives it to the deprecated `NodeBuilder::limits` still configures the node exactly
    /// as the `NodeSettings` setters do, and the two types convert both ways without loss.
    #[tokio::test]
    #[allow(deprecated, reason = "proves the deprecation bridge of Limits")]
    async fn a_limits_literal_given_to_the_deprecated_limits_configures_the_same_settings() {
        let secs = Duration::from_secs;
        let rates = RateLimits {
            control_per_sec: 5.0,
            ..RateLimits::default()
        };
        let limits = crate::Limits {
            max_active_links: 3,
            verify_sync_timeout: secs(7),
            redial_initial: secs(1),
            redial_max: secs(60),
            rate_limits: rates,
            upstream_watchdog: None,
            replay_keepalive: Some(secs(120)),
            idle_timeout: Some(secs(90)),
            ..crate::Limits::default()
        };
        let expected = NodeSettings::default()
            .with_max_active_links(3)
            .with_verify_sync_timeout(secs(7))
            .with_redial(secs(1), secs(60))
            .with_rate_limits(rates)
            .with_upstream_watchdog(None)
            .with_replay_keepalive(Some(secs(120)))
            .with_idle_timeout(Some(secs(90)));

        let old = builder().limits(limits.clone());
        assert_eq!(old.settings, expected);
        assert_eq!(NodeSettings::from(limits.clone()), expected);
        assert_eq!(crate::Limits::from(expected.clone()), limits);
        assert_eq!(limits.session_timeouts(), expected.session_timeouts());
        // The untouched fields kept their defaults, read as fields.
        assert_eq!(limits.upstream_stall_timeout, secs(30));
        assert_eq!(limits.max_pending_verification_bytes, 32 * 1024 * 1024);
        assert_eq!(
            crate::Limits::default(),
            crate::Limits::from(NodeSettings::default())
        );

        // And they are what the running node uses.
        let node = old.start().await.unwrap();
        assert_eq!(node.shared.settings, expected);
        let node = builder().settings(expected.clone()).start().await.unwrap();
        assert_eq!(node.shared.settings, expected);
    }
}
