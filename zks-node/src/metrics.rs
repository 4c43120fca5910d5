//! Prometheus metrics, derived from a node's [`ProtocolEvent`] stream (the `zks_store_bytes_*`
//! counters from its redb store) through the `metrics` facade and served by
//! `metrics-exporter-prometheus` on `--metrics ADDR`.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `zks_active_links` | gauge | |
//! | `zks_upstream_links` | gauge | (EN/relay: links to trusted upstreams) |
//! | `zks_quorum_waiting_since_seconds` | gauge | (MN: Unix time the waiting batch was first sent, 0 when none) |
//! | `zks_links_established_total` | counter | |
//! | `zks_links_closed_total` | counter | `by` (local / peer / transport), `reason` (the Disconnect reason, snake case, or `dropped`) |
//! | `zks_replay_blocks_sent_total` | counter | `peer` |
//! | `zks_replay_blocks_applied_total` | counter | `peer` |
//! | `zks_replay_lag_blocks` | gauge | `peer` (MN: head − last block sent) |
//! | `zks_replay_head` | gauge | |
//! | `zks_store_bytes_written_total` | counter | (record payload bytes: produced on an MN, applied on an EN) |
//! | `zks_store_bytes_read_total` | counter | (record payload bytes read to serve replay) |
//! | `zks_verification_results_total` | counter | `outcome` (approved / refused) |
//! | `zks_verification_latency_seconds` | histogram | (dispatch → result; buckets 1 ms to 60 s) |
//! | `zks_verification_results_dropped_total` | counter | `reason` (not_authorized / wrong_batch) |
//! | `zks_quorums_total` | counter | `outcome` (reached / failed) |
//! | `zks_refusals_total` | counter | `reason` (too_many_peers / unauthorized_verifier / dial_failed / incoming_failed / not_relayed) |
//! | `zks_upstream_switches_total` | counter | `reason` (failback / stalled / silent / watchdog) |
//! | `zks_replay_loops_total` | counter | |
//! | `zks_build_info` | gauge (1) | `version`, `role`, `records` (zksync_os_v3 / stand_in), `chain_id`, `capabilities` |
//!
//! Every metric carries `# HELP` text, and the process metrics of the Prometheus client
//! conventions are served beside them (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_open_fds`, `process_max_fds`,
//! `process_start_time_seconds`, `process_threads`, `process_virtual_memory_bytes`; collected
//! by the `metrics-process` crate every few seconds), so `promtool check metrics` accepts the page
//! as it is.
//!
//! Every series without a `peer` label exists from the start, at zero, so a dashboard shows 0
//! rather than no data and `rate()` sees the first increment. A dashboard for these metrics is
//! `zks-node/dashboards/zks.json`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use zks_api::transport::LinkClosed;
use zks_api::{BlockNumber, CloseCause, ConnectionId, DisconnectReason};
use zks_api::{EventStream, ProtocolEvent};

/// Histogram buckets of `zks_verification_latency_seconds`, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 60.0,
];

/// Installs the global recorder and serves `/metrics` on `addr`.
///
/// # Errors
///
/// One line when the listener cannot be bound or a recorder is already installed.
pub fn install(addr: SocketAddr) -> Result<(), String> {
    // Bind first, so "address in use" is reported as such (the exporter binds lazily).
    std::net::TcpListener::bind(addr)
        .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(
            Matcher::Full("zks_verification_latency_seconds".to_owned()),
            &LATENCY_BUCKETS,
        )
        .and_then(PrometheusBuilder::install)
        .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
    describe();
    register();
    collect_process_metrics();
    Ok(())
}

/// How often the process metrics are read.
const PROCESS_METRICS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads the process metrics now and then every few seconds, on a thread of its own (it lives
/// as long as the process; reading them takes a few `/proc` reads).
fn collect_process_metrics() {
    let collector = metrics_process::Collector::default();
    collector.describe();
    collector.collect();
    let spawned = std::thread::Builder::new()
        .name("zks-process-metrics".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(PROCESS_METRICS_EVERY);
                collector.collect();
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start the process metrics thread; they are read once");
    }
}

/// What this node is, as `zks_build_info` (value 1): the version, the role, the records it
/// keeps and the capabilities it advertises.
pub fn record_build_info(role: &str, records: crate::store::RecordFormat, capabilities: &str) {
    let (kind, chain_id) = match records {
        crate::store::RecordFormat::StandIn => ("stand_in", String::new()),
        crate::store::RecordFormat::ZksyncOsV3 { chain_id } => {
            ("zksync_os_v3", chain_id.to_string())
        }
    };
    gauge!(
        "zks_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "role" => role.to_owned(),
        "records" => kind,
        "chain_id" => chain_id,
        "capabilities" => capabilities.to_owned(),
    )
    .set(1.0);
}

/// The `# HELP` text of every metric.
fn describe() {
    describe_gauge!("zks_active_links", "Live zks links.");
    describe_counter!("zks_links_established_total", "zks links set up.");
    describe_gauge!(
        "zks_upstream_links",
        "External node or relay: live links to trusted upstreams (the replay link, and probes)."
    );
    describe_gauge!(
        "zks_quorum_waiting_since_seconds",
        "Main node: Unix time the batch now waiting for its quorum was first sent; 0 when none \
         waits."
    );
    describe_counter!(
        "zks_links_closed_total",
        "zks links closed, by who closed them and the Disconnect reason."
    );
    describe_counter!(
        "zks_replay_blocks_sent_total",
        "Main node or relay: blocks streamed to a peer."
    );
    describe_counter!(
        "zks_replay_blocks_applied_total",
        "External node or relay: blocks applied from a main node."
    );
    describe_gauge!(
        "zks_replay_lag_blocks",
        "Main node or relay: the head minus the last block sent to a peer."
    );
    describe_gauge!(
        "zks_replay_head",
        "Main node: one past the highest stored block; external node: the next block to apply."
    );
    describe_counter!(
        "zks_store_bytes_written_total",
        "Record bytes stored (produced on a main node, applied on an external node)."
    );
    describe_counter!(
        "zks_store_bytes_read_total",
        "Record bytes read from the store to serve replay."
    );
    describe_counter!(
        "zks_verification_results_total",
        "Main node: verifier answers received, by outcome."
    );
    describe_histogram!(
        "zks_verification_latency_seconds",
        "Main node: seconds from a batch's dispatch to a verifier's answer."
    );
    describe_counter!(
        "zks_verification_results_dropped_total",
        "Main node: verifier answers dropped before counting, by reason."
    );
    describe_counter!(
        "zks_quorums_total",
        "Main node: batch quorum collections, by outcome."
    );
    describe_counter!(
        "zks_refusals_total",
        "Links, dials and requests refused, by reason."
    );
    describe_counter!(
        "zks_upstream_switches_total",
        "External node or relay: replay moved to another upstream or to a fresh link, by reason."
    );
    describe_counter!(
        "zks_replay_loops_total",
        "Relay: a downstream peer that is also one of our upstreams."
    );
    describe_gauge!(
        "zks_build_info",
        "Always 1: the node's version, role, records and capabilities as labels."
    );
}

/// Creates every series that has no `peer` label, at zero.
fn register() {
    gauge!("zks_active_links").set(0.0);
    gauge!("zks_upstream_links").set(0.0);
    gauge!("zks_replay_head").set(0.0);
    gauge!("zks_quorum_waiting_since_seconds").set(0.0);
    counter!("zks_links_established_total").absolute(0);
    counter!("zks_store_bytes_written_total").absolute(0);
    counter!("zks_store_bytes_read_total").absolute(0);
    for outcome in ["approved", "refused"] {
        counter!("zks_verification_results_total", "outcome" => outcome).absolute(0);
    }
    for reason in ["not_authorized", "wrong_batch"] {
        counter!("zks_verification_results_dropped_total", "reason" => reason).absolute(0);
    }
    for outcome in ["reached", "failed"] {
        counter!("zks_quorums_total", "outcome" => outcome).absolute(0);
    }
    for reason in [
        "too_many_peers",
        "unauthorized_verifier",
        "dial_failed",
        "incoming_failed",
        "not_relayed",
    ] {
        counter!("zks_refusals_total", "reason" => reason).absolute(0);
    }
    for reason in ["failback", "stalled", "silent", "watchdog"] {
        counter!("zks_upstream_switches_total", "reason" => reason).absolute(0);
    }
    counter!("zks_replay_loops_total").absolute(0);
    // Registers the histogram, so its buckets are served before the first observation.
    let _ = histogram!("zks_verification_latency_seconds");
}

/// Counts record payload bytes a store wrote (`written`) or read to serve replay.
pub fn record_store_bytes(written: bool, bytes: usize) {
    let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
    if written {
        counter!("zks_store_bytes_written_total").increment(bytes);
    } else {
        counter!("zks_store_bytes_read_total").increment(bytes);
    }
}

/// The `by` and `reason` labels of `zks_links_closed_total` for a link that ended with `cause`.
fn close_labels(cause: &CloseCause) -> (&'static str, &'static str) {
    match cause {
        CloseCause::Link(LinkClosed::ByPeer(reason)) => ("peer", reason_label(*reason)),
        CloseCause::Link(LinkClosed::ByTransport { reason, .. }) => {
            ("transport", reason_label(*reason))
        }
        CloseCause::Link(_) => ("transport", "dropped"),
        cause => (
            "local",
            cause.disconnect_reason().map_or("dropped", reason_label),
        ),
    }
}

fn reason_label(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::Requested => "requested",
        DisconnectReason::TcpSubsystemError => "tcp_subsystem_error",
        DisconnectReason::ProtocolBreach => "protocol_breach",
        DisconnectReason::UselessPeer => "useless_peer",
        DisconnectReason::TooManyPeers => "too_many_peers",
        DisconnectReason::AlreadyConnected => "already_connected",
        DisconnectReason::IncompatibleVersion => "incompatible_version",
        DisconnectReason::InvalidIdentity => "invalid_identity",
        DisconnectReason::ClientQuitting => "client_quitting",
        DisconnectReason::UnexpectedIdentity => "unexpected_identity",
        DisconnectReason::ConnectedToSelf => "connected_to_self",
        DisconnectReason::PingTimeout => "ping_timeout",
        DisconnectReason::SubprotocolError => "subprotocol_error",
        _ => "other",
    }
}

/// Sets `zks_replay_head` to `next` (an external node or relay at start: its store's next block;
/// later applies move it on).
pub fn record_head(next: BlockNumber) {
    gauge!("zks_replay_head").set(next as f64);
}

/// Turns events into metrics until the node is gone. `head` gives the main node's current head
/// (one past its highest block), for per-peer lag.
pub async fn record_events(
    mut events: EventStream,
    head: Option<Arc<dyn Fn() -> BlockNumber + Send + Sync>>,
) {
    let mut dispatched: HashMap<(ConnectionId, u64), Instant> = HashMap::new();
    // Links to trusted upstreams (the replay link and short probes), at most a few at a time.
    let mut upstream: std::collections::HashSet<ConnectionId> = std::collections::HashSet::new();
    while let Some(event) = events.next().await {
        match event {
            ProtocolEvent::Established { conn, trusted, .. } => {
                gauge!("zks_active_links").increment(1.0);
                counter!("zks_links_established_total").increment(1);
                if trusted {
                    upstream.insert(conn);
                    gauge!("zks_upstream_links").increment(1.0);
                }
            }
            ProtocolEvent::Closed { conn, cause, .. } => {
                gauge!("zks_active_links").decrement(1.0);
                if upstream.remove(&conn) {
                    gauge!("zks_upstream_links").decrement(1.0);
                }
                let (by, reason) = close_labels(&cause);
                counter!("zks_links_closed_total", "by" => by, "reason" => reason).increment(1);
                if matches!(cause, CloseCause::NotServed(_)) {
                    counter!("zks_refusals_total", "reason" => "not_relayed").increment(1);
                }
                dispatched.retain(|(c, _), _| *c != conn);
            }
            ProtocolEvent::ReplayBlockSent {
                peer,
                first_block,
                last_block,
                ..
            } => {
                let peer = peer.to_string();
                counter!("zks_replay_blocks_sent_total", "peer" => peer.clone())
                    .increment(last_block.saturating_sub(first_block) + 1);
                if let Some(head) = &head {
                    let head = head();
                    gauge!("zks_replay_head").set(head as f64);
                    let lag = head.saturating_sub(last_block + 1);
                    gauge!("zks_replay_lag_blocks", "peer" => peer).set(lag as f64);
                }
            }
            ProtocolEvent::ReplayApplied {
                peer,
                first_block,
                last_block,
                ..
            } => {
                counter!("zks_replay_blocks_applied_total", "peer" => peer.to_string())
                    .increment(last_block.saturating_sub(first_block) + 1);
                gauge!("zks_replay_head").set((last_block + 1) as f64);
            }
            // Bounded: a flood of dispatches that never get answers cannot grow it.
            ProtocolEvent::BatchDispatched {
                conn, request_id, ..
            } if dispatched.len() < 4096 => {
                dispatched.insert((conn, request_id.0), Instant::now());
            }
            ProtocolEvent::BatchResultReceived {
                conn,
                request_id,
                approved,
                ..
            } => {
                let outcome = if approved { "approved" } else { "refused" };
                counter!("zks_verification_results_total", "outcome" => outcome).increment(1);
                if let Some(sent) = dispatched.remove(&(conn, request_id.0)) {
                    histogram!("zks_verification_latency_seconds")
                        .record(sent.elapsed().as_secs_f64());
                }
            }
            ProtocolEvent::BatchResultDropped { reason, .. } => {
                let reason = match reason {
                    zks_api::DroppedResult::NotAuthorized => "not_authorized",
                    zks_api::DroppedResult::WrongBatch { .. } => "wrong_batch",
                    _ => "other",
                };
                counter!("zks_verification_results_dropped_total", "reason" => reason).increment(1);
            }
            ProtocolEvent::MaxActiveConnectionsExceeded { .. } => {
                counter!("zks_refusals_total", "reason" => "too_many_peers").increment(1);
            }
            ProtocolEvent::VerifierUnauthorized { .. } => {
                counter!("zks_refusals_total", "reason" => "unauthorized_verifier").increment(1);
            }
            ProtocolEvent::DialFailed { .. } => {
                counter!("zks_refusals_total", "reason" => "dial_failed").increment(1);
            }
            ProtocolEvent::IncomingFailed { .. } => {
                counter!("zks_refusals_total", "reason" => "incoming_failed").increment(1);
            }
            ProtocolEvent::UpstreamSwitched { reason, .. } => {
                let reason = match reason {
                    zks_api::SwitchReason::Failback => "failback",
                    zks_api::SwitchReason::Stalled { .. } => "stalled",
                    zks_api::SwitchReason::Silent { .. } => "silent",
                    zks_api::SwitchReason::Watchdog { .. } => "watchdog",
                    _ => "other",
                };
                counter!("zks_upstream_switches_total", "reason" => reason).increment(1);
            }
            ProtocolEvent::ReplayLoop { .. } => {
                counter!("zks_replay_loops_total").increment(1);
            }
            _ => {}
        }
    }
}

/// Says since when (Unix seconds) a batch has waited for its quorum, or that none waits.
pub fn record_quorum_waiting(since: Option<std::time::SystemTime>) {
    let seconds = since
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    gauge!("zks_quorum_waiting_since_seconds").set(seconds);
}

/// Counts a finished quorum collection.
pub fn record_quorum(reached: bool) {
    let outcome = if reached { "reached" } else { "failed" };
    counter!("zks_quorums_total", "outcome" => outcome).increment(1);
}
