//! A damaged store, through the real binary: a relay whose store has a
//! flipped byte in block 30's record serves blocks up to 29 and never block 30; `store dump`
//! lists the damage; after the relay is killed, redb's repair finds the damage and the start
//! is refused; a damaged last record refuses the start, naming the file and the block.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{Proc, dump, generate_key, main_node, stderr, stdout, zks};
use redb::{Database, ReadableDatabase, TableDefinition};

const CHAIN: &str = "270";
const RECORDS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("records");

/// Flips a byte of block `block`'s stored record, in a 16-byte window of it that occurs once
/// in the whole file (neighbouring v3 records share most of their hash windows).
fn flip_record(data: &Path, block: u64) {
    let file = data.join("replay.redb");
    let value = {
        let db = Database::open(&file).unwrap();
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(RECORDS).unwrap();
        table.get(block).unwrap().unwrap().value().to_vec()
    };
    let mut bytes = std::fs::read(&file).unwrap();
    let at = value
        .windows(16)
        .find_map(|w| {
            let mut hits = bytes.windows(16).enumerate().filter(|(_, b)| *b == w);
            match (hits.next(), hits.next()) {
                (Some((at, _)), None) => Some(at),
                _ => None,
            }
        })
        .expect("a unique window");
    bytes[at + 8] ^= 0x10;
    std::fs::write(&file, bytes).unwrap();
}

fn replica(role: &str, data: &Path, upstream: &str, extra: &[&str]) -> std::process::Command {
    let mut cmd = zks();
    cmd.args(["--log-format", "json", role, "--data"])
        .arg(data)
        .args([
            "--main-node",
            upstream,
            "--port",
            "0",
            "--addr",
            "127.0.0.1",
        ])
        .args(["--chain-id", CHAIN])
        .args(extra);
    cmd
}

#[test]
fn a_damaged_record_is_never_served_and_a_damaged_last_record_refuses_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("mn.key");
    generate_key(&key);
    let (mut mn, enode) = main_node(
        &dir.path().join("mn"),
        &key,
        &["--chain-id", CHAIN, "--produce-blocks", "2000"],
    );
    // A store of exactly 1..=50.
    let held = dir.path().join("held");
    let out = replica("external-node", &held, &enode, &["--exit-at-block", "50"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    mn.kill();
    // A copy for the last part.
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(held.join("replay.redb"), copy.join("replay.redb")).unwrap();

    flip_record(&held, 30);
    let summary = dump(&held);
    assert!(summary.contains("blocks: 1..=50\n"), "{summary}");
    assert!(
        summary.ends_with("\ndamaged: 1 record(s) fail their checksum, the first of block 30\n"),
        "{summary}"
    );

    // A relay on that store: nothing upstream of it.
    let nowhere = format!(
        "enode://{}@127.0.0.1:9",
        generate_key(&dir.path().join("nobody.key"))
    );
    let mut relay = Proc::spawn_logged(replica("relay", &held, &nowhere, &[]));
    let started = relay.line_after("relay ");
    let relay_enode = started.split(' ').next().unwrap().to_owned();
    assert!(started.ends_with("resuming at block 51"), "{started}");

    // Blocks 1..=29 are served.
    let en = dir.path().join("en");
    let out = replica(
        "external-node",
        &en,
        &relay_enode,
        &["--exit-at-block", "29"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("reached block 29; next block 30"));
    // Block 30 never is: the relay closes the link at it, with an ERROR naming the damage.
    let mut en_node = Proc::spawn(replica("external-node", &en, &relay_enode, &[]));
    let closed = relay.log("link closed");
    assert_eq!(closed["level"], "ERROR", "{closed}");
    let cause = closed["fields"]["cause"].as_str().unwrap();
    let file = held.join("replay.redb");
    assert!(
        cause.starts_with(&format!(
            "replay source failed: {} is damaged or not a zks store: the record of block 30 \
             fails its checksum",
            file.display()
        )),
        "{cause}"
    );
    // Twice: the EN came back for block 30 (so it had applied 29) and was refused again.
    let again = relay.log("link closed");
    assert_eq!(again["fields"]["cause"], closed["fields"]["cause"]);
    en_node.kill();
    relay.kill();
    let en_summary = dump(&en);
    assert!(en_summary.contains("blocks: 1..=29\n"), "{en_summary}");
    assert!(en_summary.contains("records: 29\n"), "{en_summary}");

    // The relay was killed: redb repairs the file when it is next opened, checking its page
    // checksums, and finds the damage itself.
    let out = replica("relay", &held, &nowhere, &[]).output().unwrap();
    assert_eq!(
        stderr(&out),
        format!(
            "error: {} is damaged or not a zks store: DB corrupted: Failed to repair database. \
             All roots are corrupted; refusing to use it (move it away to start from an empty \
             store)\n",
            file.display()
        )
    );
    assert_eq!(out.status.code(), Some(1));

    // The last record damaged in a store closed cleanly: refused at start by its checksum.
    let held = copy;
    let file = held.join("replay.redb");
    flip_record(&held, 50);
    let out = replica("relay", &held, &nowhere, &[]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "error: {} is damaged or not a zks store: the record of block 50 fails its \
             checksum (stored ",
            file.display()
        )),
        "{err}"
    );
    assert!(
        err.ends_with(
            "its bytes were changed on disk; refusing to use it (move it away to start from \
             an empty store)\n"
        ),
        "{err}"
    );
}
