//! RLPx handshakes per second on loopback (TCP connect + ECIES auth/ack + Hello exchange),
//! next to the k256 operation costs measured in the same run and the bound they imply.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use zks_api::transport::Transport;
use zks_api::wire::VersionSet;
use zks_devp2p::NodeKey;
use zks_devp2p::rlpx::ecies;
use zks_verifier::VerifierKey;

use crate::BenchError;
use crate::nets::{Net, TransportKind};

/// Mean cost of each k256 operation an RLPx handshake performs, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct K256Costs {
    /// Fresh secret key and its public key (one base-point multiplication).
    pub keygen_us: f64,
    /// ECDH: one variable-base multiplication.
    pub ecdh_us: f64,
    /// ECDSA recoverable signature over a prehash (RFC 6979 nonce).
    pub sign_us: f64,
    /// Public-key recovery from a signature.
    pub recover_us: f64,
}

impl K256Costs {
    /// k256 work of one handshake, both sides: the initiator does 4 ECDH (static-shared,
    /// ECIES seal of auth, ECIES open of ack, ephemeral secret), 1 keygen (ECIES ephemeral)
    /// and 1 sign; the recipient 4 ECDH (ECIES open of auth, static-shared, ECIES seal of ack,
    /// ephemeral secret), 2 keygens (ack ephemeral, ECIES ephemeral) and 1 recover.
    pub fn per_handshake_us(&self) -> f64 {
        8.0 * self.ecdh_us + 3.0 * self.keygen_us + self.sign_us + self.recover_us
    }
}

fn mean_us(iters: u32, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / f64::from(iters.max(1))
}

/// Measures the k256 operations on one thread, through the workspace's own wrappers.
pub(crate) fn k256_costs(iters: u32) -> Result<K256Costs, BenchError> {
    let a = NodeKey::generate();
    let b = NodeKey::generate();
    let b_pub = b
        .id()
        .public_key()
        .map_err(|e| BenchError::codec("k256", e))?;
    let signer = VerifierKey::generate();
    let prehash = [0x5au8; 32];
    // RLPx carries the recovery id as 0/1; the verifier key writes 27/28.
    let mut signature = signer.sign_prehash(&prehash);
    signature[64] = signature[64].saturating_sub(27);
    ecies::recover(&prehash, &signature).map_err(|e| BenchError::codec("k256 recover", e))?;
    let mut sink = 0u8;
    let keygen_us = mean_us(iters, || sink ^= NodeKey::generate().id().as_bytes()[0]);
    let ecdh_us = mean_us(iters, || sink ^= ecies::ecdh_x(a.secret(), &b_pub)[0]);
    let sign_us = mean_us(iters, || sink ^= signer.sign_prehash(&prehash)[0]);
    let mut ok = true;
    let recover_us = mean_us(iters, || ok &= ecies::recover(&prehash, &signature).is_ok());
    std::hint::black_box(sink);
    if !ok {
        return Err(BenchError::codec("k256 recover", "recovery failed"));
    }
    Ok(K256Costs {
        keygen_us,
        ecdh_us,
        sign_us,
        recover_us,
    })
}

/// What the handshake loop measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HandshakeMeasured {
    pub(crate) connections: u64,
    pub(crate) failures: u64,
    pub(crate) elapsed: Duration,
    pub(crate) concurrency: usize,
}

/// `concurrency` dialers connect to one listener over `kind` for `duration`; every dial is
/// a full connection setup, and the link is dropped at once.
pub(crate) async fn handshakes(
    kind: TransportKind,
    duration: Duration,
    concurrency: usize,
) -> Result<HandshakeMeasured, BenchError> {
    let net = Net::new(kind).ok_or_else(|| BenchError::transport("handshakes", "no engine"))?;
    let server = net.transport("server")?;
    let mut incoming = server
        .listen(VersionSet::ALL.into())
        .await
        .map_err(|e| BenchError::transport("handshake listen", e))?;
    let accept = tokio::spawn(async move {
        while let Some(link) = incoming.next().await {
            drop(link);
        }
    });
    let addr = net.addr("server")?;
    let client: Arc<dyn Transport> = net.transport("client")?;
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut dialers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, addr) = (Arc::clone(&client), addr.clone());
        let (done, failed) = (Arc::clone(&done), Arc::clone(&failed));
        dialers.spawn(async move {
            while Instant::now() < deadline {
                match client.dial(&addr, VersionSet::ALL.into()).await {
                    Ok(link) => {
                        drop(link);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    while dialers.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    accept.abort();
    Ok(HandshakeMeasured {
        connections: done.load(Ordering::Relaxed),
        failures: failed.load(Ordering::Relaxed),
        elapsed,
        concurrency,
    })
}
