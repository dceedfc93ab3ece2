//! The sled-backed [`Store`]: opening, reading, and the statistics kept with the graph.
//!
//! All data lives in one sled tree whose keys start with a one-byte table prefix (see
//! docs/storage-format.md). Writes go through a [`Writer`], which collects changes in memory and applies
//! them as one atomic sled batch on [`Writer::commit`].

mod index;
mod keys;
mod writer;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::{Entity, EntityId, IdentifierKind, Node, NodeId, RecordNode};
use crate::normalize::{Normalized, Normalizer};

pub use writer::Writer;

/// Version of the on-disk layout that this build reads and writes.
pub const FORMAT_VERSION: u32 = 3;

/// Counters kept in the meta table and updated by every commit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Next node id to allocate.
    pub next_node: NodeId,
    /// Next entity id to allocate.
    pub next_entity: EntityId,
    /// Number of record nodes.
    pub records: u64,
    /// Number of identifier nodes.
    pub identifiers: u64,
    /// Number of record-to-identifier edges.
    pub edges: u64,
    /// Number of entities.
    pub entities: u64,
    /// Number of audit log pages written, one per commit that logged an event.
    pub audit_pages: u64,
}

/// Description of one source, written by ingest and shown by `stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The source's name.
    pub name: String,
    /// The input column that contains the record key, if the records came from a file.
    pub key_column: Option<String>,
}

/// An embedded identity graph stored in a sled database directory.
///
/// Opening the same directory from two processes at once fails, because sled locks it.
pub struct Store {
    db: sled::Db,
    tree: sled::Tree,
    path: PathBuf,
    config: Config,
    /// Built on first use: loading the phone metadata takes tens of milliseconds, which a
    /// query that normalizes nothing should not pay.
    normalizer: std::sync::OnceLock<Normalizer>,
    counters: Counters,
    /// The index keys committed through this handle, kept while the store was empty when
    /// opened and the keys number at most [`WRITTEN_INDEX_LIMIT`]. sled's lock keeps other
    /// processes out, so a key missing here is missing in the tree too and a lookup skips
    /// the tree: a first bulk load then pays no tree read per row.
    written_index: Option<rustc_hash::FxHashMap<Vec<u8>, NodeId>>,
}

/// Most index keys a store keeps in memory after a bulk load into an empty store (about 100
/// bytes each).
const WRITTEN_INDEX_LIMIT: usize = 1_000_000;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store at `path`, creating it with the default configuration if it does not
    /// exist.
    ///
    /// # Errors
    ///
    /// Fails when the directory cannot be opened (for example when another process has it open),
    /// or when it contains a store of another format version.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(path, None)
    }

    /// Opens an existing store, without creating one.
    ///
    /// # Errors
    ///
    /// Fails with [`Error::NotAStore`] when `path` is missing, is not a directory, or is a
    /// directory without an idgraph store in it, and otherwise as [`Store::open`].
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref();
        let not_a_store = |reason: &str| Error::NotAStore {
            path: path.to_path_buf(),
            reason: reason.to_owned(),
        };
        if !path.exists() {
            return Err(not_a_store(
                "it does not exist; create a store with `idgraph ingest` or `idgraph demo`",
            ));
        }
        if !path.is_dir() {
            return Err(not_a_store("it is a file, and a store is a directory"));
        }
        // sled keeps its configuration in `conf` and its data in `db`.
        if !path.join("conf").is_file() || !path.join("db").is_file() {
            return Err(not_a_store(
                "the directory contains no sled database; check the path",
            ));
        }
        Store::open(path)
    }

    /// Opens the store at `path`. A new store takes `config`, or the default when it is
    /// `None`. An existing store keeps its own configuration unless `config` is given and
    /// differs, in which case the new configuration is saved and every entity is resolved again.
    ///
    /// # Errors
    ///
    /// As [`Store::open`], and [`Error::Config`] when `config` is invalid.
    pub fn open_with(path: impl AsRef<Path>, config: Option<Config>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        refuse_foreign_path(&path)?;
        if let Some(config) = &config {
            config.validate().map_err(Error::Config)?;
        }
        let db = sled::Config::new()
            .path(&path)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|error| {
                // sled 0.34 reports a held lock as an I/O error with this text and an
                // unspecific kind, so the text is all there is to recognize it by.
                let locked = matches!(&error, sled::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("could not acquire lock"));
                if locked {
                    Error::Locked { path: path.clone() }
                } else {
                    Error::Store(error)
                }
            })?;
        let tree = db.open_tree("graph")?;

        let version: Option<u32> =
            read_value(&tree, &keys::meta("format_version"), "format version")?;
        let (stored_config, counters) = match version {
            None => {
                let config = config.clone().unwrap_or_default();
                tree.insert(keys::meta("format_version"), encode(&FORMAT_VERSION))?;
                tree.insert(keys::meta("config"), encode(&config))?;
                tree.insert(keys::meta("counters"), encode(&Counters::default()))?;
                tree.flush()?;
                tracing::debug!(path = %path.display(), "created store");
                (config, Counters::default())
            }
            Some(FORMAT_VERSION) => {
                let config: Config = read_value(&tree, &keys::meta("config"), "configuration")?
                    .ok_or_else(|| Error::corrupt("configuration", "missing"))?;
                let counters: Counters = read_value(&tree, &keys::meta("counters"), "counters")?
                    .ok_or_else(|| Error::corrupt("counters", "missing"))?;
                (config, counters)
            }
            Some(found) => {
                return Err(Error::FormatVersion {
                    found,
                    expected: FORMAT_VERSION,
                });
            }
        };
        let normalizer = std::sync::OnceLock::new();
        if let Some(config) = &config {
            let built = Normalizer::new(&config.normalize).map_err(Error::Config)?;
            if config.normalize == stored_config.normalize {
                let _ = normalizer.set(built);
            }
        }
        let mut store = Store {
            db,
            tree,
            path,
            config: stored_config,
            normalizer,
            written_index: (counters.records == 0 && counters.identifiers == 0)
                .then(rustc_hash::FxHashMap::default),
            counters,
        };
        tracing::debug!(
            records = store.counters.records,
            entities = store.counters.entities,
            "opened store"
        );

        if let Some(config) = config {
            if config != store.config {
                store.replace_config(config)?;
            }
        }
        Ok(store)
    }

    /// Returns the directory of the store.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the store's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Returns the normalizer built from the store's configuration.
    ///
    /// # Errors
    ///
    /// Fails with [`Error::Config`] when the stored normalization settings are invalid, which
    /// only a store written by another program can contain.
    pub fn normalizer(&self) -> Result<&Normalizer> {
        if let Some(normalizer) = self.normalizer.get() {
            return Ok(normalizer);
        }
        let built = Normalizer::new(&self.config.normalize).map_err(Error::Config)?;
        Ok(self.normalizer.get_or_init(|| built))
    }

    /// Adds the index keys of a committed batch to the keys kept in memory, or stops keeping
    /// them once they would pass [`WRITTEN_INDEX_LIMIT`].
    fn remember_index_entries(&mut self, entries: Vec<(Vec<u8>, NodeId)>) {
        if let Some(written) = &mut self.written_index {
            if written.len() + entries.len() > WRITTEN_INDEX_LIMIT {
                self.written_index = None;
            } else {
                written.extend(entries);
            }
        }
    }

    /// Returns the counters as of the last commit.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Starts a batch of changes. Nothing is visible to readers until [`Writer::commit`].
    pub fn writer(&mut self) -> Writer<'_> {
        Writer::new(self)
    }

    /// Writes every committed batch to disk and waits until it is there.
    ///
    /// sled also flushes on its own every 500 ms. A crash loses at most the batches committed
    /// since the last flush, and never a part of one batch.
    ///
    /// # Errors
    ///
    /// Fails when the disk write fails.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// Returns the node with `id`.
    ///
    /// # Errors
    ///
    /// Fails on I/O errors and on an undecodable value.
    pub fn node(&self, id: NodeId) -> Result<Option<Node>> {
        let (page, slot) = keys::page_of(id);
        Ok(self.node_page(page)?.into_iter().nth(slot).flatten())
    }

    /// Returns the slots of node page `page`; an empty vector when the page does not exist.
    pub(crate) fn node_page(&self, page: u32) -> Result<Vec<Option<Node>>> {
        Ok(read_value(&self.tree, &keys::node_page(page), "node page")?.unwrap_or_default())
    }

    /// Returns the slots of entity page `page`; an empty vector when the page does not exist.
    pub(crate) fn entity_page(&self, page: u32) -> Result<Vec<Option<Entity>>> {
        Ok(read_value(&self.tree, &keys::entity_page(page), "entity page")?.unwrap_or_default())
    }

    /// Returns the entity with `id`.
    ///
    /// # Errors
    ///
    /// Fails on I/O errors and on an undecodable value.
    pub fn entity(&self, id: EntityId) -> Result<Option<Entity>> {
        let (page, slot) = keys::page_of(id);
        Ok(self.entity_page(page)?.into_iter().nth(slot).flatten())
    }

    /// Returns the node id of the record `key` of `source`. The key is trimmed of surrounding
    /// whitespace, as ingest trims it.
    ///
    /// # Errors
    ///
    /// Fails on I/O errors.
    pub fn find_record(&self, source: &str, key: &str) -> Result<Option<NodeId>> {
        index::lookup(&self.tree, &keys::record(source, key.trim()))
    }

    /// Normalizes `value` as an identifier of `kind` and returns its node id.
    ///
    /// Returns `None` when no such identifier is stored, including when `value` is a
    /// placeholder or invalid for its kind.
    ///
    /// # Errors
    ///
    /// Fails on I/O errors.
    pub fn find_identifier(&self, kind: &IdentifierKind, value: &str) -> Result<Option<NodeId>> {
        match self.normalizer()?.identifier(kind, value) {
            Normalized::Value(normalized) => {
                index::lookup(&self.tree, &keys::identifier(kind.as_str(), &normalized))
            }
            Normalized::Placeholder | Normalized::Invalid(_) => Ok(None),
        }
    }

    /// Returns the trained matcher model, if the matcher has run on this store.
    ///
    /// # Errors
    ///
    /// Fails on I/O errors and on an undecodable model.
    pub fn match_model(&self) -> Result<Option<crate::matching::TrainedModel>> {
        match self.tree.get(keys::meta("match_model"))? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|error| Error::corrupt("match model", error)),
            None => Ok(None),
        }
    }

    /// Returns the description of `source`.
    ///
    /// # Errors
    ///
    /// Fails on I/O errors and on an undecodable value.
    pub fn source(&self, name: &str) -> Result<Option<SourceInfo>> {
        read_value(&self.tree, &keys::source(name), "source")
    }

    /// Returns every source, sorted by name.
    ///
    /// # Errors
    ///
    /// Fails on I/O errors and on an undecodable value.
    pub fn sources(&self) -> Result<Vec<SourceInfo>> {
        self.tree
            .scan_prefix([keys::SOURCE])
            .map(|item| {
                let (_, value) = item?;
                decode(&value, "source")
            })
            .collect()
    }

    /// Iterates over all entities in id order.
    pub fn entities(&self) -> impl Iterator<Item = Result<Entity>> + '_ {
        self.tree
            .scan_prefix([keys::ENTITY])
            .flat_map(|item| page_items::<Entity>(item, "entity page"))
            .map(|item| item.map(|(_, entity)| entity))
    }

    /// Returns every audit event, oldest first.
    pub(crate) fn audit_pages(&self) -> Result<Vec<crate::model::AuditEvent>> {
        let mut events = Vec::new();
        for item in self.tree.scan_prefix([keys::AUDIT]) {
            let (_, value) = item?;
            let page: Vec<crate::model::AuditEvent> = decode(&value, "audit page")?;
            events.extend(page);
        }
        Ok(events)
    }

    /// Iterates over all nodes in id order.
    pub fn nodes(&self) -> impl Iterator<Item = Result<(NodeId, Node)>> + '_ {
        self.tree
            .scan_prefix([keys::NODE])
            .flat_map(|item| page_items::<Node>(item, "node page"))
    }

    /// Iterates over all record nodes in id order.
    pub fn records(&self) -> impl Iterator<Item = Result<(NodeId, RecordNode)>> + '_ {
        self.nodes().filter_map(|item| match item {
            Ok((id, Node::Record(record))) => Some(Ok((id, record))),
            Ok((_, Node::Identifier(_))) => None,
            Err(error) => Some(Err(error)),
        })
    }

    /// Saves a new configuration and resolves every entity again under it.
    fn replace_config(&mut self, config: Config) -> Result<()> {
        let normalizer = Normalizer::new(&config.normalize).map_err(Error::Config)?;
        tracing::debug!("configuration changed, resolving all entities again");
        self.config = config;
        self.normalizer = std::sync::OnceLock::from(normalizer);
        let mut writer = self.writer();
        writer.save_config();
        crate::resolve::resolve_all(&mut writer)?;
        writer.commit()?;
        self.flush()
    }
}

/// Fails when `path` is a file, or a directory with other files and no sled database, so that
/// creating a store never writes into someone else's folder.
fn refuse_foreign_path(path: &Path) -> Result<()> {
    let not_a_store = |reason: &str| Error::NotAStore {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    if path.is_file() {
        return Err(not_a_store("it is a file, and a store is a directory"));
    }
    let is_store = path.join("conf").is_file() && path.join("db").is_file();
    if path.is_dir() && !is_store {
        let mut entries = std::fs::read_dir(path).map_err(|io_error| Error::Io {
            path: path.to_path_buf(),
            io_error,
        })?;
        if entries.next().is_some() {
            return Err(not_a_store(
                "the directory holds other files and no store; give a new or empty directory",
            ));
        }
    }
    Ok(())
}

fn bincode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // bincode's serde encoder fails only on types it cannot describe, such as sequences of
    // unknown length. The store's types are plain structs, enums, vectors and strings.
    bincode::serde::encode_to_vec(value, bincode_config()).expect("bincode encodes store values")
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    let (value, _) = bincode::serde::decode_from_slice(bytes, bincode_config())
        .map_err(|error| Error::corrupt(what, error))?;
    Ok(value)
}

fn read_value<T: DeserializeOwned>(tree: &sled::Tree, key: &[u8], what: &str) -> Result<Option<T>> {
    match tree.get(key)? {
        Some(bytes) => decode(&bytes, what).map(Some),
        None => Ok(None),
    }
}

/// Decodes one page from a scan into (id, item) pairs, or one error.
fn page_items<T: DeserializeOwned>(
    item: sled::Result<(sled::IVec, sled::IVec)>,
    what: &str,
) -> Vec<Result<(u32, T)>> {
    let decoded = item.map_err(Error::from).and_then(|(key, value)| {
        let page = keys::number_of(&key).ok_or_else(|| Error::corrupt(what, "key too short"))?;
        let slots: Vec<Option<T>> = decode(&value, what)?;
        Ok(slots
            .into_iter()
            .enumerate()
            .filter_map(|(slot, item)| Some(Ok((page * keys::PAGE_SLOTS + slot as u32, item?))))
            .collect::<Vec<_>>())
    });
    decoded.unwrap_or_else(|error| vec![Err(error)])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens the store at `path`, retrying while sled's flusher thread of a handle dropped a
    /// moment ago still holds the lock.
    fn open_after_drop(path: &Path) -> Result<Store> {
        for _ in 0..100 {
            match Store::open(path) {
                Err(Error::Locked { .. }) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                result => return result,
            }
        }
        Store::open(path)
    }

    #[test]
    fn older_format_versions_are_rejected() {
        // Version 2 records have no past identifiers, and version 1 stores have no audit log.
        for old in [1u32, 2] {
            let dir = tempfile::tempdir().unwrap();
            {
                let store = Store::open(dir.path()).unwrap();
                store
                    .tree
                    .insert(keys::meta("format_version"), encode(&old))
                    .unwrap();
                store.flush().unwrap();
            }
            let error = open_after_drop(dir.path()).unwrap_err();
            assert!(
                matches!(error, Error::FormatVersion { found, expected: FORMAT_VERSION }
                    if found == old),
                "version {old}: {error:?}"
            );
            let message = error.to_string();
            assert!(
                message.contains(&format!("format version {old} is not supported")),
                "{message}"
            );
            assert!(message.contains("re-ingest into a new store"), "{message}");
        }
    }
}
