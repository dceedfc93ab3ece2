//! [`Writer`]: a batch of changes kept in memory and applied to sled in one atomic batch.

use std::collections::BTreeSet;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::{Error, Result};
use crate::model::{
    AuditAction, AuditEvent, Entity, EntityId, IdentifierKind, IdentifierNode, Node, NodeId,
    RecordNode, ScoreFactors,
};
use crate::store::{Counters, SourceInfo, Store, encode, index, keys};

/// A batch of changes to a [`Store`].
///
/// Reads through a writer see its own uncommitted changes. Dropping a writer without calling
/// [`Writer::commit`] discards the changes.
pub struct Writer<'a> {
    store: &'a mut Store,
    /// Nodes read or changed in this batch.
    nodes: FxHashMap<NodeId, Node>,
    /// Nodes changed in this batch, written on commit.
    dirty_nodes: FxHashSet<NodeId>,
    /// Index entries added in this batch, by encoded key.
    new_index_entries: FxHashMap<Vec<u8>, NodeId>,
    /// Entities read or changed in this batch; `None` marks a deleted entity.
    entities: FxHashMap<EntityId, Option<Entity>>,
    loaded_node_pages: FxHashSet<u32>,
    loaded_entity_pages: FxHashSet<u32>,
    /// Entities created, changed or deleted in this batch, written on commit.
    changed_entities: FxHashSet<EntityId>,
    sources: Vec<SourceInfo>,
    counters: Counters,
    config_changed: bool,
    match_model: Option<Vec<u8>>,
    /// Nodes whose entities resolution recomputes at commit.
    pending: FxHashSet<NodeId>,
    /// Audit events of this batch, written as one page on commit.
    audit: Vec<AuditEvent>,
}

impl<'a> Writer<'a> {
    pub(super) fn new(store: &'a mut Store) -> Writer<'a> {
        let counters = store.counters.clone();
        Writer {
            store,
            nodes: FxHashMap::default(),
            dirty_nodes: FxHashSet::default(),
            new_index_entries: FxHashMap::default(),
            entities: FxHashMap::default(),
            loaded_node_pages: FxHashSet::default(),
            loaded_entity_pages: FxHashSet::default(),
            changed_entities: FxHashSet::default(),
            sources: Vec::new(),
            counters,
            config_changed: false,
            match_model: None,
            pending: FxHashSet::default(),
            audit: Vec::new(),
        }
    }

    /// Returns the store being written.
    pub fn store(&self) -> &Store {
        self.store
    }

    /// Returns the counters including this batch's uncommitted changes.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub(crate) fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }

    /// Returns the number of nodes changed in this batch.
    pub fn changed_nodes(&self) -> usize {
        self.dirty_nodes.len()
    }

    /// Returns a copy of the node with `id`, including this batch's uncommitted changes.
    ///
    /// # Errors
    ///
    /// Fails on I/O errors and on an undecodable value.
    pub fn node(&self, id: NodeId) -> Result<Option<Node>> {
        match self.nodes.get(&id) {
            Some(node) => Ok(Some(node.clone())),
            None => self.store.node(id),
        }
    }

    /// Loads the page of node `id` into the batch's cache, keeping nodes already cached.
    fn load_node_page(&mut self, page: u32) -> Result<()> {
        if self.loaded_node_pages.insert(page) {
            for (slot, node) in self.store.node_page(page)?.into_iter().enumerate() {
                if let Some(node) = node {
                    let id = page * keys::PAGE_SLOTS + slot as u32;
                    self.nodes.entry(id).or_insert(node);
                }
            }
        }
        Ok(())
    }

    /// Loads every node of the store into the batch's cache, for a batch that reads them all:
    /// each page is then decoded once, however many of its nodes the batch changes.
    ///
    /// # Errors
    ///
    /// Fails on I/O errors and on an undecodable page.
    pub(crate) fn load_all_nodes(&mut self) -> Result<()> {
        // Reading the pages is cheap; decoding them is the work, spread over the threads.
        let pages: Vec<(sled::IVec, sled::IVec)> = self
            .store
            .tree
            .scan_prefix([keys::NODE])
            .collect::<sled::Result<_>>()?;
        let decoded: Vec<Result<(u32, Node)>> = pages
            .into_par_iter()
            .flat_map_iter(|page| super::page_items::<Node>(Ok(page), "node page"))
            .collect();
        self.nodes.reserve(decoded.len());
        for item in decoded {
            let (id, node) = item?;
            self.loaded_node_pages.insert(keys::page_of(id).0);
            self.nodes.entry(id).or_insert(node);
        }
        Ok(())
    }

    /// Returns the records in the batch's cache in id order: all of them after
    /// [`Writer::load_all_nodes`].
    pub(crate) fn cached_records(&self) -> Vec<(NodeId, &RecordNode)> {
        let mut records: Vec<(NodeId, &RecordNode)> = self
            .nodes
            .iter()
            .filter_map(|(&id, node)| match node {
                Node::Record(record) => Some((id, record)),
                Node::Identifier(_) => None,
            })
            .collect();
        records.sort_unstable_by_key(|&(id, _)| id);
        records
    }

    /// Loads the node with `id` into the batch's cache.
    fn load(&mut self, id: NodeId) -> Result<()> {
        if !self.nodes.contains_key(&id) {
            self.load_node_page(keys::page_of(id).0)?;
            if !self.nodes.contains_key(&id) {
                return Err(Error::corrupt(
                    "node",
                    format!("node {id} is referenced but missing"),
                ));
            }
        }
        Ok(())
    }

    /// Loads the page of entity `id` into the batch's cache, keeping entities already cached.
    fn load_entity_page(&mut self, page: u32) -> Result<()> {
        if self.loaded_entity_pages.insert(page) {
            for (slot, entity) in self.store.entity_page(page)?.into_iter().enumerate() {
                let id = page * keys::PAGE_SLOTS + slot as u32;
                self.entities.entry(id).or_insert(entity);
            }
        }
        Ok(())
    }

    /// Returns the node with `id` without copying it.
    pub(crate) fn node_ref(&mut self, id: NodeId) -> Result<&Node> {
        self.load(id)?;
        Ok(&self.nodes[&id])
    }

    /// Returns the node with `id` for changing it; the change is written on commit.
    pub(crate) fn node_mut(&mut self, id: NodeId) -> Result<&mut Node> {
        self.load(id)?;
        self.dirty_nodes.insert(id);
        Ok(self.nodes.get_mut(&id).expect("node was just loaded"))
    }

    pub(crate) fn record_mut(&mut self, id: NodeId) -> Result<&mut RecordNode> {
        match self.node_mut(id)? {
            Node::Record(record) => Ok(record),
            Node::Identifier(_) => {
                Err(Error::corrupt("node", format!("node {id} is not a record")))
            }
        }
    }

    pub(crate) fn identifier_mut(&mut self, id: NodeId) -> Result<&mut IdentifierNode> {
        match self.node_mut(id)? {
            Node::Identifier(identifier) => Ok(identifier),
            Node::Record(_) => Err(Error::corrupt(
                "node",
                format!("node {id} is not an identifier"),
            )),
        }
    }

    /// Returns the node id of the record `key` of `source`, including this batch's uncommitted changes.
    pub(crate) fn find_record(&self, source: &str, key: &str) -> Result<Option<NodeId>> {
        self.find_indexed(keys::record(source, key))
    }

    /// Returns the node id of the normalized identifier, including this batch's uncommitted changes.
    pub(crate) fn find_identifier(
        &self,
        kind: &IdentifierKind,
        value: &str,
    ) -> Result<Option<NodeId>> {
        self.find_indexed(keys::identifier(kind.as_str(), value))
    }

    fn find_indexed(&self, key: Vec<u8>) -> Result<Option<NodeId>> {
        if let Some(id) = self.new_index_entries.get(&key) {
            return Ok(Some(*id));
        }
        if let Some(written) = &self.store.written_index {
            return Ok(written.get(&key).copied());
        }
        index::lookup(&self.store.tree, &key)
    }

    fn allocate_node(&mut self) -> Result<NodeId> {
        let id = self.counters.next_node;
        self.counters.next_node = id
            .checked_add(1)
            .ok_or_else(|| Error::Full(format!("all {} node ids are used", u32::MAX)))?;
        Ok(id)
    }

    /// Adds a new record node and indexes it by source and key.
    pub(crate) fn insert_record(&mut self, record: RecordNode) -> Result<NodeId> {
        let id = self.allocate_node()?;
        self.new_index_entries
            .insert(keys::record(&record.source, &record.key), id);
        self.nodes.insert(id, Node::Record(record));
        self.dirty_nodes.insert(id);
        self.counters.records += 1;
        Ok(id)
    }

    /// Adds a new identifier node and indexes it by kind and normalized value.
    pub(crate) fn insert_identifier(&mut self, identifier: IdentifierNode) -> Result<NodeId> {
        let id = self.allocate_node()?;
        self.new_index_entries.insert(
            keys::identifier(identifier.kind.as_str(), &identifier.value),
            id,
        );
        self.nodes.insert(id, Node::Identifier(identifier));
        self.dirty_nodes.insert(id);
        self.counters.identifiers += 1;
        Ok(id)
    }

    /// Allocates a new, empty entity id.
    pub(crate) fn allocate_entity(&mut self) -> Result<EntityId> {
        let id = self.counters.next_entity;
        self.counters.next_entity = id
            .checked_add(1)
            .ok_or_else(|| Error::Full(format!("all {} entity ids are used", u32::MAX)))?;
        self.counters.entities += 1;
        self.restore_entity(id);
        Ok(id)
    }

    /// Re-creates a deleted entity id as an empty entity, when resolving from scratch.
    pub(crate) fn restore_entity(&mut self, id: EntityId) {
        self.entities.insert(
            id,
            Some(Entity {
                id,
                members: Default::default(),
                score: 1.0,
                tier: crate::model::Tier::High,
                conflicts: Vec::new(),
                factors: ScoreFactors::default(),
            }),
        );
        self.changed_entities.insert(id);
    }

    /// Returns a copy of the entity with `id`, including this batch's uncommitted changes.
    ///
    /// # Errors
    ///
    /// Fails on I/O errors and on an undecodable value.
    pub fn entity(&self, id: EntityId) -> Result<Option<Entity>> {
        match self.entities.get(&id) {
            Some(entity) => Ok(entity.clone()),
            None => self.store.entity(id),
        }
    }

    /// Returns the entity with `id` without copying it, loading its page into the batch's
    /// cache.
    ///
    /// # Errors
    ///
    /// Fails on I/O errors and on an undecodable page.
    pub(crate) fn entity_ref(&mut self, id: EntityId) -> Result<Option<&Entity>> {
        if !self.entities.contains_key(&id) {
            self.load_entity_page(keys::page_of(id).0)?;
        }
        Ok(self.entities.get(&id).and_then(Option::as_ref))
    }

    /// Returns the entity with `id` for changing it; the change is written on commit.
    pub(crate) fn entity_mut(&mut self, id: EntityId) -> Result<&mut Entity> {
        if !self.entities.contains_key(&id) {
            self.load_entity_page(keys::page_of(id).0)?;
        }
        self.changed_entities.insert(id);
        self.entities
            .get_mut(&id)
            .and_then(Option::as_mut)
            .ok_or_else(|| {
                Error::corrupt("entity", format!("entity {id} is referenced but missing"))
            })
    }

    /// Deletes the entity with `id`.
    pub(crate) fn remove_entity(&mut self, id: EntityId) {
        self.entities.insert(id, None);
        self.changed_entities.insert(id);
        self.counters.entities -= 1;
    }

    /// Records the description of a source.
    pub(crate) fn save_source(&mut self, info: SourceInfo) {
        self.sources.push(info);
    }

    /// Saves the trained matcher model (JSON) with this batch.
    pub(crate) fn save_match_model(&mut self, model: Vec<u8>) {
        self.match_model = Some(model);
    }

    pub(crate) fn save_config(&mut self) {
        self.config_changed = true;
    }

    /// Marks a node whose entity resolution must recompute at commit: a record that was
    /// added or changed, or an identifier that gained or lost records.
    pub(crate) fn mark_pending(&mut self, id: NodeId) {
        self.pending.insert(id);
    }

    /// Takes the nodes marked with [`Writer::mark_pending`], in id order.
    pub(crate) fn take_pending(&mut self) -> Vec<NodeId> {
        let mut pending: Vec<NodeId> = std::mem::take(&mut self.pending).into_iter().collect();
        pending.sort_unstable();
        pending
    }

    /// Adds an event to the audit log, written with this batch.
    pub(crate) fn log(&mut self, action: AuditAction) {
        self.audit.push(AuditEvent {
            at: crate::ingest::now(),
            action,
        });
    }

    /// Resolves and qualifies the entities of the pending nodes, then applies all changes as
    /// one atomic sled batch.
    ///
    /// # Errors
    ///
    /// Fails on I/O errors. On failure nothing of the batch is applied.
    pub fn commit(mut self) -> Result<()> {
        crate::resolve::partition::resolve_pending(&mut self)?;

        let mut batch = sled::Batch::default();
        // A page on disk may hold nodes this batch never read: load it before rewriting it.
        let node_pages: BTreeSet<u32> = self
            .dirty_nodes
            .iter()
            .map(|&id| keys::page_of(id).0)
            .collect();
        for &page in &node_pages {
            self.load_node_page(page)?;
        }
        // Encoding the pages is most of a large commit's work, and each page is independent.
        let nodes = &self.nodes;
        let encoded: Vec<(u32, Vec<u8>)> = node_pages
            .par_iter()
            .map(|&page| {
                let slots: Vec<Option<&Node>> = (0..keys::PAGE_SLOTS)
                    .map(|slot| nodes.get(&(page * keys::PAGE_SLOTS + slot)))
                    .collect();
                (page, encode(&trim_slots(slots)))
            })
            .collect();
        for (page, bytes) in encoded {
            batch.insert(&keys::node_page(page), bytes);
        }
        let mut index_entries: Vec<(Vec<u8>, NodeId)> = std::mem::take(&mut self.new_index_entries)
            .into_iter()
            .collect();
        index::add(&self.store.tree, &mut batch, &mut index_entries)?;
        let entity_pages: BTreeSet<u32> = self
            .changed_entities
            .iter()
            .map(|&id| keys::page_of(id).0)
            .collect();
        for &page in &entity_pages {
            self.load_entity_page(page)?;
            let slots: Vec<Option<&Entity>> = (0..keys::PAGE_SLOTS)
                .map(|slot| {
                    self.entities
                        .get(&(page * keys::PAGE_SLOTS + slot))
                        .and_then(Option::as_ref)
                })
                .collect();
            let slots = trim_slots(slots);
            if slots.is_empty() {
                batch.remove(&keys::entity_page(page));
            } else {
                batch.insert(&keys::entity_page(page), encode(&slots));
            }
        }
        for source in &self.sources {
            batch.insert(keys::source(&source.name), encode(source));
        }
        if self.config_changed {
            batch.insert(keys::meta("config"), encode(&self.store.config));
        }
        if let Some(model) = &self.match_model {
            batch.insert(keys::meta("match_model"), model.as_slice());
        }
        if !self.audit.is_empty() {
            let page = keys::audit_page(self.counters.audit_pages);
            batch.insert(&page, encode(&self.audit));
            self.counters.audit_pages += 1;
        }
        batch.insert(keys::meta("counters"), encode(&self.counters));
        self.store.tree.apply_batch(batch)?;

        tracing::debug!(
            nodes = self.dirty_nodes.len(),
            entities = self.changed_entities.len(),
            records = self.counters.records,
            "committed batch"
        );
        self.store.counters = std::mem::take(&mut self.counters);
        self.store.remember_index_entries(index_entries);
        // Freeing a large batch's nodes takes tens of milliseconds; the caller need not wait.
        if self.nodes.len() >= BACKGROUND_DROP_NODES {
            let nodes = std::mem::take(&mut self.nodes);
            rayon::spawn(move || drop(nodes));
        }
        Ok(())
    }
}

/// Batches that read or changed at least this many nodes free them on a rayon thread.
const BACKGROUND_DROP_NODES: usize = 10_000;

/// Drops the empty slots at the end of a page, so a page ends at its last item.
fn trim_slots<T>(mut slots: Vec<Option<T>>) -> Vec<Option<T>> {
    while matches!(slots.last(), Some(None)) {
        slots.pop();
    }
    slots
}
