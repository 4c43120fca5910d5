//! Head latency: the MN appends one block every 2 ms; time from append to the EN's `apply`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::MissedTickBehavior;
use zks_api::MemoryReplayStore;
use zks_api::ProtocolEvent;

use crate::error::within;
use crate::nets::{Net, TransportKind};
use crate::payload::Payloads;
use crate::sink::BenchSink;
use crate::stats::Percentiles;
use crate::{BenchError, nodes};

/// Block cadence.
pub(crate) const INTERVAL: Duration = Duration::from_millis(2);
/// Payload of each block.
const BLOCK_BYTES: usize = 1024;

/// Append → apply latency over `kind` for blocks appended every [`INTERVAL`] for `duration`.
pub(crate) async fn head_latency(
    kind: TransportKind,
    duration: Duration,
    seed: u64,
) -> Result<Percentiles, BenchError> {
    let net = Net::new(kind).ok_or_else(|| BenchError::transport("latency", "no engine"))?;
    let source = Arc::new(MemoryReplayStore::new());
    let mn = nodes::main_node(&net, "mn", Arc::clone(&source)).await?;
    let mut events = mn.events();
    let sink = Arc::new(BenchSink::new(true));
    let en = nodes::external_node(&net, "en", "mn", Arc::clone(&sink)).await?;
    within(
        "latency: replay request",
        Duration::from_secs(30),
        events.find(|e| matches!(e, ProtocolEvent::ReplayRequested { .. }).then_some(())),
    )
    .await?;

    let count = (duration.as_nanos() / INTERVAL.as_nanos()) as u64;
    let mut payloads = Payloads::new(seed);
    let blocks = payloads.records(0, count, BLOCK_BYTES);
    let mut appended = Vec::with_capacity(blocks.len());
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for block in blocks {
        tick.tick().await;
        appended.push(Instant::now());
        source
            .push(block)
            .map_err(|e| BenchError::transport("latency source", e))?;
    }
    within(
        "latency: last block",
        Duration::from_secs(60),
        sink.wait_until(count),
    )
    .await?;
    nodes::shutdown([en, mn]).await;
    let mut samples: Vec<Duration> = sink
        .block_times(count)
        .into_iter()
        .zip(&appended)
        .filter_map(|(applied, appended)| applied.map(|a| a.saturating_duration_since(*appended)))
        .collect();
    Ok(Percentiles::of(&mut samples))
}
