//! Prometheus metrics, derived from a node's [`ProtocolEvent`] stream through the `metrics`
//! facade and served by `metrics-exporter-prometheus` on `--metrics ADDR`.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `zks_active_links` | gauge | |
//! | `zks_links_established_total` | counter | |
//! | `zks_replay_blocks_sent_total` | counter | `peer` |
//! | `zks_replay_blocks_applied_total` | counter | `peer` |
//! | `zks_replay_lag_blocks` | gauge | `peer` (MN: head − last block sent) |
//! | `zks_replay_head` | gauge | |
//! | `zks_verification_results_total` | counter | `outcome` (approved / refused) |
//! | `zks_verification_latency_seconds` | histogram | (dispatch → result) |
//! | `zks_quorums_total` | counter | `outcome` (reached / failed) |
//! | `zks_refusals_total` | counter | `reason` (too_many_peers / unauthorized_verifier / dial_failed / incoming_failed / not_relayed) |
//! | `zks_upstream_switches_total` | counter | `reason` (failback / stalled) |
//! | `zks_replay_loops_total` | counter | |

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::PrometheusBuilder;
use zks_api::{BlockNumber, ConnectionId};
use zks_api::{EventStream, ProtocolEvent};

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
        .install()
        .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))
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
                if matches!(cause, zks_api::CloseCause::NotServed(_)) {
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
