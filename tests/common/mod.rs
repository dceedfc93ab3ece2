//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use idgraph::Store;
use idgraph::ingest::RecordInput;

/// Returns the folder of public datasets beside the repository (`../shared/data`), or `None`
/// when it is missing. Under CI (the `CI` variable set) a missing folder fails the test
/// instead, so that the quality checks never pass by being skipped.
#[allow(dead_code)] // Not every test crate that includes this module calls it.
pub fn data_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "dataset folder {} is missing; CI must provide it",
        dir.display()
    );
    eprintln!("skipped: dataset folder {} is missing", dir.display());
    None
}

/// Opens the store at `path` with `config`, retrying for up to two seconds while the lock is
/// held: sled's flusher thread lets go of it a moment after the last handle is dropped.
#[allow(dead_code)] // Not every test crate that includes this module calls it.
pub fn reopen(path: &Path, config: Option<idgraph::Config>) -> Store {
    for _ in 0..100 {
        match Store::open_with(path, config.clone()) {
            Err(idgraph::Error::Locked { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => return result.unwrap(),
        }
    }
    Store::open_with(path, config).unwrap()
}

/// Returns the entity of the record `key` of `source`, which must be stored.
#[allow(dead_code)] // Not every test crate that includes this module calls it.
pub fn entity_of(store: &Store, source: &str, key: &str) -> u32 {
    let id = store
        .find_record(source, key)
        .unwrap()
        .expect("record is stored");
    store.node(id).unwrap().unwrap().entity().unwrap()
}

/// Returns a record of `source` with `key`, the key as its `name` attribute, and the
/// identifiers as (kind, raw value) pairs.
#[allow(dead_code)] // Not every test crate that includes this module calls it.
pub fn record(source: &str, key: &str, identifiers: &[(&str, &str)]) -> RecordInput {
    let mut record = RecordInput::new(source, key).attribute("name", key);
    for (kind, value) in identifiers {
        record = record.identifier(*kind, *value);
    }
    record
}
