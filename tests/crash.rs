//! A store killed in the middle of an ingest reopens consistent: every committed batch is
//! whole, the counters match the nodes, and every record's entity exists and lists it.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use idgraph::{Node, Store};

#[test]
fn killed_ingest_leaves_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    writeln!(out, "id,email,name").unwrap();
    for row in 0..120_000 {
        // Every third row shares the previous row's email, so batches merge entities.
        let person = row - row % 3 / 2;
        writeln!(out, "r{row},p{person}@example.com,Name {row}").unwrap();
    }
    out.flush().unwrap();
    drop(out);

    let store_dir = dir.path().join("store");
    let mut child = Command::new(env!("CARGO_BIN_EXE_idgraph"))
        .args([
            "ingest",
            store_dir.to_str().unwrap(),
            input.to_str().unwrap(),
        ])
        .args([
            "--key",
            "id",
            "--id",
            "email=email",
            "--batch-size",
            "1000",
            "--no-progress",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some batches are committed, then kill the process without warning.
    for _ in 0..200 {
        std::thread::sleep(Duration::from_millis(50));
        if store_dir.join("db").exists()
            && std::fs::metadata(store_dir.join("db")).unwrap().len() > 1_000_000
        {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let mut store = Store::open(&store_dir).unwrap();
    let counters = store.counters().clone();
    eprintln!("after the kill: {counters:?}");
    let mut records = 0;
    let mut identifiers = 0;
    for item in store.nodes() {
        let (id, node) = item.unwrap();
        match &node {
            Node::Record(record) => {
                records += 1;
                let entity = store.entity(record.entity).unwrap().unwrap_or_else(|| {
                    panic!("record {id} points at missing entity {}", record.entity)
                });
                assert!(
                    entity.members.contains(id),
                    "entity {} does not list record {id}",
                    entity.id
                );
            }
            Node::Identifier(_) => identifiers += 1,
        }
    }
    assert_eq!(records, counters.records);
    assert_eq!(identifiers, counters.identifiers);
    assert_eq!(store.entities().count() as u64, counters.entities);
    assert_eq!(
        records % 1000,
        0,
        "only whole batches of 1000 rows are visible"
    );

    // The store takes the rest of the file afterwards, without duplicates.
    let mapping = idgraph::ingest::Mapping {
        source: "big".into(),
        key: "id".into(),
        identifiers: [("email".to_owned(), "email".to_owned())].into(),
        ..Default::default()
    };
    let options = idgraph::ingest::IngestOptions::default();
    idgraph::ingest::ingest_file(&mut store, &input, &mapping, &options).unwrap();
    assert_eq!(store.counters().records, 120_000);
    assert_eq!(store.counters().entities, 80_000);
}
