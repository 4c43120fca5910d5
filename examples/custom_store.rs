//! A node team's own replay store: SQLite, a versioned record type, a push-based
//! [`ReplaySource`] and an atomic [`ReplaySink`].
//!
//! One process runs a main node and an external node over devp2p on 127.0.0.1. Each keeps its
//! chain in its own SQLite file under `--data`. The main node first stores half of the new
//! blocks, then produces the rest while the external node catches up; the external node prints
//! every batch of blocks it applies. Run it again with the same directory and a larger
//! `--blocks`: the external node resumes at the block after the last one it stored, because its
//! cursor is written in the same SQLite transaction as the blocks.
//!
//! ```text
//! cargo run -p zks-examples --bin custom_store -- --data /tmp/zks-sqlite --blocks 1000
//! cargo run -p zks-examples --bin custom_store -- --data /tmp/zks-sqlite --blocks 2000
//! cargo run -p zks-examples --bin custom_store -- --data /tmp/zks-sqlite-v2 --blocks 100 --zks 2
//! ```
//!
//! What to copy:
//!
//! - `Block`: a record whose encoding depends on the negotiated version. zks/1 and zks/2
//!   carry `[number, payload]`; zks/3 and later add the block's header, `[number, payload,
//!   timestamp, parent_hash, hash]`. A block received over zks/1–2 has no header, and is
//!   served without one later. [`ReplayRecord::follows`] compares parent and hash, so a main
//!   node on another fork is disconnected instead of being spliced in.
//! - `SqliteStore`: one store type for both roles. `wait_for` waits on a
//!   [`tokio::sync::watch`] channel that every commit updates, so a new block reaches every
//!   external node without polling; `apply` is one transaction holding the blocks and the
//!   cursor.
//!
//! Dependencies: `zks-api`, `zks-devp2p`, `rusqlite` (features `bundled`, and `fallible_uint` for
//! `u64` columns), `tokio`, `anyhow`, `clap`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context as _, anyhow, bail};
use clap::Parser;
use rusqlite::{Connection, params};
use tokio::sync::watch;
use zks_api::wire::record_rlp::{Fields, encode_fields};
use zks_api::wire::{Capabilities, VersionSet, ZksVersion};
use zks_api::{
    BlockNumber, Bytes, Node, Overrides, ProtocolEvent, RecordError, ReplayRecord, ReplaySink,
    ReplaySource, SinkError, SourceError, async_trait,
};
use zks_devp2p::{Devp2pConfig, Devp2pTransport, NodeKey};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(about = "A main node and an external node, each with its own SQLite replay store")]
struct Args {
    /// Directory of the two SQLite files (`main-node.sqlite`, `external-node.sqlite`); created
    /// when missing.
    #[arg(long)]
    data: PathBuf,
    /// Blocks the main node's chain holds at the end of the run.
    #[arg(long, default_value_t = 1000)]
    blocks: u64,
    /// The highest zks version the external node speaks (1 to 5). zks/1 and zks/2 carry no
    /// block headers.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=5))]
    zks: u8,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("cannot create {}", args.data.display()))?;
    let chain = SqliteStore::open(&args.data.join("main-node.sqlite"))?;
    let replica = SqliteStore::open(&args.data.join("external-node.sqlite"))?;

    // Half of the new blocks exist before the external node links; the rest arrive live.
    let stored = ReplaySource::next_block(&chain);
    let target = args.blocks.max(stored);
    let backlog = stored + (target - stored) / 2;
    for number in stored..backlog {
        chain.append(vec![Block::produce(number)]).await?;
    }
    println!("main node: blocks 0..{backlog} stored, producing {backlog}..{target}");

    let mn = Node::builder(loopback_transport()?)
        .main_node(chain.clone())
        .start()
        .await?;
    let mn_addr = mn.local_addr().context("the main node is not listening")?;

    let versions = ZksVersion::ALL
        .into_iter()
        .filter(|v| v.number() <= args.zks)
        .fold(VersionSet::EMPTY, VersionSet::with);
    let mut builder = Node::builder(loopback_transport()?)
        // Not a verifier, so no `zks_2fa` beside zks.
        .capabilities(Capabilities {
            zks: versions,
            zks_2fa: None,
        })
        .external_node(replica.clone())
        .trusted_main_node(mn_addr);
    // Subscribed before start, so the stream holds every event from the first link on.
    let mut events = builder.subscribe();
    let resume = replica.resume_block();
    let en = builder.start().await?;
    println!("external node: resuming at block {resume}");

    let mut producer = {
        let chain = chain.clone();
        tokio::spawn(async move {
            for number in backlog..target {
                chain.append(vec![Block::produce(number)]).await?;
            }
            anyhow::Ok(())
        })
    };

    // Print the external node's progress until it holds the whole chain. The event stream is
    // bounded and drops events for a consumer that falls behind (`lagged`); then the sink's own
    // cursor says when it is done.
    let mut cursor = replica.subscribe();
    let mut next = resume;
    let mut produced = false;
    while next < target {
        tokio::select! {
            // A failed append stops the run instead of leaving the external node waiting.
            done = &mut producer, if !produced => {
                done.context("the producer panicked")??;
                produced = true;
            }
            event = events.next() => match event.context("the external node stopped")? {
                ProtocolEvent::Established { info, .. } => {
                    println!("external node: linked to the main node over {}", info.caps);
                }
                ProtocolEvent::ReplayApplied {
                    first_block,
                    last_block,
                    ..
                } => {
                    println!("external node: applied blocks {first_block}..={last_block}");
                    next = last_block + 1;
                }
                ProtocolEvent::Closed { cause, .. } => {
                    println!("external node: link closed ({cause}), redialing");
                }
                _ => {}
            },
            _ = cursor.wait_for(|next| *next >= target), if events.lagged() > 0 => break,
        }
    }
    if !produced {
        producer.await.context("the producer panicked")??;
    }

    let (blocks, with_header) = replica.count()?;
    let same = replica.payloads()? == chain.payloads()?;
    println!(
        "external node: caught up at block {target}: {blocks} blocks, {with_header} with a header, {}",
        if same {
            "payloads identical to the main node's"
        } else {
            "PAYLOADS DIFFER from the main node's"
        }
    );
    en.shutdown().await;
    mn.shutdown().await;
    if !same {
        bail!("the external node's chain differs from the main node's");
    }
    Ok(())
}

/// A devp2p transport with a fresh node key on 127.0.0.1 and a port the OS picks.
fn loopback_transport() -> anyhow::Result<Devp2pTransport> {
    let config = Devp2pConfig::builder(NodeKey::generate())
        .listen_addr(([127, 0, 0, 1], 0).into())
        .build()?;
    Ok(Devp2pTransport::new(config))
}

/// The team's replay record: a block number and payload, and from zks/3 on its header.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Block {
    number: BlockNumber,
    payload: Bytes,
    /// `None` for a block that arrived over zks/1 or zks/2, whose encoding has no header.
    header: Option<BlockHeader>,
}

/// What zks/3 and later carry beside the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BlockHeader {
    timestamp: u64,
    parent_hash: u64,
    hash: u64,
}

impl Block {
    /// The block a sequencer would make at `number` (here: a pure function of the number).
    fn produce(number: BlockNumber) -> Self {
        Self {
            number,
            payload: Bytes::from(format!("transactions of block {number}")),
            header: Some(BlockHeader {
                timestamp: 1_700_000_000 + number,
                parent_hash: number.checked_sub(1).map_or(0, toy_hash),
                hash: toy_hash(number),
            }),
        }
    }
}

/// A stand-in for a real block hash (FNV-1a of the number), enough to chain blocks.
fn toy_hash(number: BlockNumber) -> u64 {
    number
        .to_be_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// Whether `version`'s record encoding carries the header.
fn has_header(version: ZksVersion) -> bool {
    version.number() >= 3
}

impl ReplayRecord for Block {
    fn block_number(&self) -> BlockNumber {
        self.number
    }

    fn encode(&self, version: ZksVersion, out: &mut Vec<u8>) {
        match self.header {
            Some(h) if has_header(version) => encode_fields(
                &[
                    &self.number,
                    &self.payload,
                    &h.timestamp,
                    &h.parent_hash,
                    &h.hash,
                ],
                out,
            ),
            // zks/1–2, or a block we never learnt the header of.
            _ => encode_fields(&[&self.number, &self.payload], out),
        }
    }

    fn decode(version: ZksVersion, item: &Bytes) -> Result<Self, RecordError> {
        let mut fields = Fields::new(item)?;
        let number = fields.value("number")?;
        let payload = fields.bytes("payload")?;
        // On zks/3+ the header is all three fields or none; on zks/1–2 there is none, and
        // `finish` refuses anything after the payload.
        let header = if has_header(version) && !fields.is_empty() {
            Some(BlockHeader {
                timestamp: fields.value("timestamp")?,
                parent_hash: fields.value("parent_hash")?,
                hash: fields.value("hash")?,
            })
        } else {
            None
        };
        fields.finish()?;
        Ok(Self {
            number,
            payload,
            header,
        })
    }

    fn follows(&self, previous: &Self) -> bool {
        match (self.header, previous.header) {
            (Some(this), Some(parent)) => this.parent_hash == parent.hash,
            // Without both headers there is nothing to compare.
            _ => true,
        }
    }
}

/// A replay store in one SQLite file: the `ReplaySource` of a main node or the `ReplaySink` of
/// an external node. Cheap to clone (the clones share the connection).
#[derive(Clone, Debug)]
struct SqliteStore {
    inner: Arc<StoreInner>,
}

#[derive(Debug)]
struct StoreInner {
    db: Mutex<Connection>,
    /// One past the highest stored block, updated after every commit. `wait_for` waits on it.
    next: watch::Sender<BlockNumber>,
}

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    CREATE TABLE IF NOT EXISTS blocks (
        number      INTEGER PRIMARY KEY,
        payload     BLOB NOT NULL,
        timestamp   INTEGER,
        parent_hash INTEGER,
        hash        INTEGER
    );
    CREATE TABLE IF NOT EXISTS cursor (
        id         INTEGER PRIMARY KEY CHECK (id = 0),
        next_block INTEGER NOT NULL
    );
    INSERT OR IGNORE INTO cursor (id, next_block) VALUES (0, 0);
";

impl SqliteStore {
    /// Opens (or creates) the store at `path`; it resumes at the cursor it committed last.
    fn open(path: &Path) -> anyhow::Result<Self> {
        let db =
            Connection::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        db.execute_batch(SCHEMA)
            .with_context(|| format!("cannot set up {}", path.display()))?;
        let next: u64 = db.query_row("SELECT next_block FROM cursor", [], |row| row.get(0))?;
        Ok(Self {
            inner: Arc::new(StoreInner {
                db: Mutex::new(db),
                next: watch::Sender::new(next),
            }),
        })
    }

    /// Appends blocks that start exactly at the cursor, and moves the cursor past them, in one
    /// transaction: after a crash either all of them and the new cursor are there, or none.
    async fn append(&self, blocks: Vec<Block>) -> anyhow::Result<()> {
        let inner = Arc::clone(&self.inner);
        // SQLite blocks the thread: keep it off the async workers.
        tokio::task::spawn_blocking(move || inner.append(&blocks))
            .await
            .context("the store's writer panicked")?
    }

    /// A receiver of the cursor (one past the highest stored block), updated after every commit.
    fn subscribe(&self) -> watch::Receiver<BlockNumber> {
        self.inner.next.subscribe()
    }

    /// (blocks stored, blocks with a header).
    fn count(&self) -> anyhow::Result<(u64, u64)> {
        let db = self.inner.lock()?;
        Ok(
            db.query_row("SELECT COUNT(*), COUNT(hash) FROM blocks", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?,
        )
    }

    /// Every stored (number, payload), in order.
    fn payloads(&self) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
        let db = self.inner.lock()?;
        let mut query = db.prepare("SELECT number, payload FROM blocks ORDER BY number")?;
        let rows = query.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl StoreInner {
    fn lock(&self) -> anyhow::Result<MutexGuard<'_, Connection>> {
        self.db
            .lock()
            .map_err(|_| anyhow!("a thread panicked while writing the store"))
    }

    fn append(&self, blocks: &[Block]) -> anyhow::Result<()> {
        let (Some(first), Some(last)) = (blocks.first(), blocks.last()) else {
            return Ok(());
        };
        let mut db = self.lock()?;
        let tx = db.transaction()?;
        let next: u64 = tx.query_row("SELECT next_block FROM cursor", [], |row| row.get(0))?;
        if first.number != next {
            bail!(
                "block {} does not follow the store's cursor {next}",
                first.number
            );
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO blocks (number, payload, timestamp, parent_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (block, expected) in blocks.iter().zip(next..) {
                if block.number != expected {
                    bail!("block {} where {expected} was due", block.number);
                }
                let header = block.header;
                insert.execute(params![
                    block.number,
                    &block.payload[..],
                    header.map(|h| h.timestamp),
                    header.map(|h| to_sql(h.parent_hash)),
                    header.map(|h| to_sql(h.hash)),
                ])?;
            }
        }
        tx.execute(
            "UPDATE cursor SET next_block = ?1",
            params![last.number + 1],
        )?;
        tx.commit()?;
        // Wakes every `wait_for` at once; under the lock, so the cursor never goes back.
        self.next.send_replace(last.number + 1);
        Ok(())
    }

    fn read(&self, from: BlockNumber, max: usize) -> anyhow::Result<Vec<Block>> {
        let db = self.lock()?;
        let mut query = db.prepare_cached(
            "SELECT number, payload, timestamp, parent_hash, hash FROM blocks
             WHERE number >= ?1 ORDER BY number LIMIT ?2",
        )?;
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let rows = query.query_map(params![from, limit], |row| {
            let timestamp: Option<u64> = row.get(2)?;
            let parent_hash: Option<i64> = row.get(3)?;
            let hash: Option<i64> = row.get(4)?;
            let header = match (timestamp, parent_hash, hash) {
                (Some(timestamp), Some(parent_hash), Some(hash)) => Some(BlockHeader {
                    timestamp,
                    parent_hash: from_sql(parent_hash),
                    hash: from_sql(hash),
                }),
                _ => None,
            };
            Ok(Block {
                number: row.get(0)?,
                payload: Bytes::from(row.get::<_, Vec<u8>>(1)?),
                header,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// SQLite integers are signed 64-bit: a hash is stored as its 64 bits, unchanged.
fn to_sql(hash: u64) -> i64 {
    i64::from_be_bytes(hash.to_be_bytes())
}

fn from_sql(value: i64) -> u64 {
    u64::from_be_bytes(value.to_be_bytes())
}

#[async_trait]
impl ReplaySource for SqliteStore {
    type Record = Block;

    fn next_block(&self) -> BlockNumber {
        *self.inner.next.borrow()
    }

    /// This store keeps no record overrides, so it serves every block's own record.
    async fn read(
        &self,
        from: BlockNumber,
        max: usize,
        _overrides: &Overrides,
    ) -> Result<Vec<Block>, SourceError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.read(from, max))
            .await
            .map_err(SourceError::new)?
            .map_err(SourceError::new)
    }

    async fn wait_for(&self, block: BlockNumber) {
        let mut next = self.inner.next.subscribe();
        // Cancel safe: dropping this future only drops the receiver. The sender lives as long
        // as the store, so the wait cannot fail while `self` is borrowed.
        let _ = next.wait_for(|next| *next > block).await;
    }
}

#[async_trait]
impl ReplaySink for SqliteStore {
    type Record = Block;

    fn resume_block(&self) -> BlockNumber {
        *self.inner.next.borrow()
    }

    async fn apply(&self, records: Vec<Block>) -> Result<(), SinkError> {
        // Already checked by the engine (contiguous, from `resume_block`, each following the
        // one before); the store checks the cursor again inside its transaction.
        self.append(records).await.map_err(SinkError::new)
    }
}
