//! Fan-out: one MN, N ENs. Idle memory per link, bulk sync time and CPU per block per EN,
//! and, with blocks paced every 2 ms, how far each EN trails the fastest one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::MissedTickBehavior;
use zks_api::MemoryReplayStore;
use zks_api::ProtocolEvent;

use crate::error::within;
use crate::latency::INTERVAL;
use crate::nets::{Net, TransportKind};
use crate::payload::Payloads;
use crate::sink::BenchSink;
use crate::stats::{Percentiles, cpu_time, resident_bytes};
use crate::{BenchError, nodes};

/// Payload bytes per block.
pub(crate) const BLOCK_BYTES: usize = 1024;

/// What one fan-out run measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FanoutMeasured {
    pub(crate) ens: usize,
    pub(crate) blocks: u64,
    pub(crate) sync: Duration,
    pub(crate) cpu_per_block_per_en: Duration,
    pub(crate) rss_per_link: Option<f64>,
    pub(crate) lag: Percentiles,
    pub(crate) complete: bool,
}

/// 1 MN → `ens` ENs over `kind`: `blocks` appended at once, then `paced` more every 2 ms.
pub(crate) async fn fanout(
    kind: TransportKind,
    ens: usize,
    blocks: u64,
    paced: u64,
    seed: u64,
) -> Result<FanoutMeasured, BenchError> {
    let net = Net::new(kind).ok_or_else(|| BenchError::transport("fanout", "no engine"))?;
    let source = Arc::new(MemoryReplayStore::new());
    let mn = nodes::main_node(&net, "mn", Arc::clone(&source)).await?;
    let mut events = mn.events();
    let mut payloads = Payloads::new(seed);
    let bulk = payloads.records(0, blocks, BLOCK_BYTES);
    let tail = payloads.records(blocks, paced, BLOCK_BYTES);

    let rss_before = resident_bytes();
    let mut sinks = Vec::with_capacity(ens);
    let mut nodes_up = Vec::with_capacity(ens + 1);
    for i in 0..ens {
        let sink = Arc::new(BenchSink::new(true));
        let name = format!("en{i}");
        nodes_up.push(nodes::external_node(&net, &name, "mn", Arc::clone(&sink)).await?);
        sinks.push(sink);
    }
    let mut requested = 0;
    within("fanout: every EN linked", Duration::from_secs(120), async {
        while requested < ens {
            match events.next().await {
                Some(ProtocolEvent::ReplayRequested { .. }) => requested += 1,
                Some(_) => {}
                None => break,
            }
        }
    })
    .await?;
    // Let dial tasks and buffers settle before reading the idle footprint.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_per_link = match (rss_before, resident_bytes()) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before) as f64 / ens as f64),
        _ => None,
    };

    let cpu0 = cpu_time();
    let start = Instant::now();
    source
        .extend(bulk)
        .map_err(|e| BenchError::transport("fanout source", e))?;
    let all = async {
        for sink in &sinks {
            sink.wait_until(blocks).await;
        }
    };
    let synced = within("fanout: bulk sync", Duration::from_secs(300), all).await;
    let sync = start.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);

    let mut lags = Vec::new();
    let mut complete = synced.is_ok();
    if complete && paced > 0 {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        for block in tail {
            tick.tick().await;
            source
                .push(block)
                .map_err(|e| BenchError::transport("fanout source", e))?;
        }
        let end = blocks + paced;
        let all = async {
            for sink in &sinks {
                sink.wait_until(end).await;
            }
        };
        complete = within("fanout: paced", Duration::from_secs(120), all)
            .await
            .is_ok();
        let times: Vec<_> = sinks.iter().map(|s| s.block_times(end)).collect();
        for b in blocks..end {
            let Ok(i) = usize::try_from(b) else { continue };
            let at: Vec<Instant> = times
                .iter()
                .filter_map(|t| t.get(i).copied().flatten())
                .collect();
            if let Some(fastest) = at.iter().min() {
                lags.extend(at.iter().map(|t| t.saturating_duration_since(*fastest)));
            }
        }
    }
    nodes_up.push(mn);
    nodes::shutdown(nodes_up).await;
    let per = u32::try_from(blocks.saturating_mul(ens as u64).max(1)).unwrap_or(u32::MAX);
    Ok(FanoutMeasured {
        ens,
        blocks,
        sync,
        cpu_per_block_per_en: cpu / per,
        rss_per_link,
        lag: Percentiles::of(&mut lags),
        complete,
    })
}
