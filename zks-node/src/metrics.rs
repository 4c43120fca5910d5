//! Prometheus metrics, derived from a node's [`ProtocolEvent`] stream (the `zks_store_bytes_*`
//! counters from its redb store) through the `metrics` facade and served by
//! `metrics-exporter-prometheus` on `--metrics ADDR`.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `zks_active_links` | gauge | |
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
//!
//! Every series without a `peer` label exists from the start, at zero, so a dashboard shows 0
//! rather than no data and `rate()` sees the first increment. A dashboard for these metrics is
//! `zks-node/dashboards/zks.json`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use metrics::{counter, gauge, histogram};
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
    register();
    Ok(())
}

/// Creates every series that has no `peer` label, at zero.
fn register() {
    gauge!("zks_active_links").set(0.0);
    gauge!("zks_replay_head").set(0.0);
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

/// Turns events into metrics until the node is gone. `head` gives the main node's current head
/// (one past its highest block), for per-peer lag.
pub async fn record_events(
    mut events: EventStream,
    head: Option<Arc<dyn Fn() -> BlockNumber + Send + Sync>>,
) {
    let mut dispatched: HashMap<(ConnectionId, u64), Instant> = HashMap::new();
    while let Some(event) = events.next().await {
        match event {
            ProtocolEvent::Established { .. } => {
                gauge!("zks_active_links").increment(1.0);
                counter!("zks_links_established_total").increment(1);
            }
            ProtocolEvent::Closed { conn, cause, .. } => {
                gauge!("zks_active_links").decrement(1.0);
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

/// Counts a finished quorum collection.
pub fn record_quorum(reached: bool) {
    let outcome = if reached { "reached" } else { "failed" };
    counter!("zks_quorums_total", "outcome" => outcome).increment(1);
}
