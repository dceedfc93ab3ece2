//! Resolution: turns records and their identifiers into entities, incrementally.
//!
//! An entity is a connected component over edges whose weight is at or above the configured
//! link threshold. Each new or changed record merges the entities it touches, with an
//! incremental union: the merged entity keeps the lowest (oldest) id of the entities involved,
//! and the members of the others are relabelled. When an update removes a confident edge, the
//! entity is split again by a search over its members: the part that contains the entity's oldest
//! record keeps the id and every other part gets a new one.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;

use crate::error::Result;
use crate::model::{
    Edge, EntityId, Evidence, IdentifierKind, IdentifierNode, MAX_RAW_SPELLINGS, Node, NodeId,
    RecordNode, Timestamp,
};
use crate::store::Writer;

/// A record whose identifiers are already normalized.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedRecord {
    /// Source name.
    pub source: String,
    /// Record key within the source.
    pub key: String,
    /// Normalized identifiers.
    pub identifiers: Vec<PreparedIdentifier>,
    /// Attributes by name.
    pub attributes: Vec<(String, String)>,
    /// When the record was observed, if the input gives a time.
    pub timestamp: Option<Timestamp>,
}

/// A normalized identifier with the spelling it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedIdentifier {
    /// The identifier's kind.
    pub kind: IdentifierKind,
    /// The normalized value.
    pub value: String,
    /// The value as the input spelled it.
    pub raw: String,
}

/// Result of an upsert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpsertOutcome {
    /// The record was new.
    Inserted,
    /// A record with the same source and key existed and was replaced.
    Updated,
}

/// Inserts or replaces one record and resolves its entity. `observed_at` stamps edges when
/// the record has no timestamp of its own.
pub(crate) fn upsert_record(
    writer: &mut Writer<'_>,
    prepared: PreparedRecord,
    observed_at: Timestamp,
) -> Result<UpsertOutcome> {
    let threshold = writer.store().config().link_threshold;
    let seen_at = prepared.timestamp.unwrap_or(observed_at);

    let (record_id, outcome) = match writer.find_record(&prepared.source, &prepared.key)? {
        Some(id) => (id, UpsertOutcome::Updated),
        None => {
            let record = RecordNode {
                source: prepared.source.clone(),
                key: prepared.key.clone(),
                attributes: Vec::new(),
                timestamp: None,
                entity: EntityId::MAX,
                edges: Vec::new(),
            };
            (writer.insert_record(record)?, UpsertOutcome::Inserted)
        }
    };
    // Identifier edges are rebuilt from the new input; other edges (matches found by the
    // probabilistic matcher) stay.
    let (old_edges, kept_edges, old_entity) = {
        let record = writer.record_mut(record_id)?;
        let entity = (outcome == UpsertOutcome::Updated).then_some(record.entity);
        let (identifier_edges, other_edges): (Vec<Edge>, Vec<Edge>) =
            std::mem::take(&mut record.edges)
                .into_iter()
                .partition(|edge| matches!(edge.evidence, Evidence::HasIdentifier(_)));
        (identifier_edges, other_edges, entity)
    };

    // Attach the record to each distinct identifier, creating identifiers on first sight.
    let mut new_edges: BTreeMap<NodeId, Edge> = BTreeMap::new();
    for identifier in &prepared.identifiers {
        let identifier_id = attach_identifier(writer, identifier, record_id)?;
        let config = writer.store().config();
        let weight = config.identifier_weight(identifier.kind.as_str(), &identifier.value);
        let previous = old_edges.iter().find(|edge| edge.to == identifier_id);
        let edge = new_edges.entry(identifier_id).or_insert_with(|| Edge {
            to: identifier_id,
            evidence: Evidence::HasIdentifier(identifier.kind.clone()),
            weight,
            source: prepared.source.clone(),
            first_seen: previous.map_or(seen_at, |edge| edge.first_seen.min(seen_at)),
            last_seen: previous.map_or(seen_at, |edge| edge.last_seen.max(seen_at)),
            count: previous.map_or(1, |edge| edge.count.saturating_add(1)),
        });
        edge.weight = weight;
    }

    // Detach the identifiers the record no longer carries.
    let mut lost_confident_edge = false;
    for edge in &old_edges {
        if !new_edges.contains_key(&edge.to) {
            writer.identifier_mut(edge.to)?.records.remove(record_id);
            lost_confident_edge |= edge.weight >= threshold;
        }
    }
    let counters = writer.counters_mut();
    counters.edges = counters.edges + new_edges.len() as u64 - old_edges.len() as u64;

    // Merge the entities of every confidently linked identifier, keeping the oldest id.
    let mut touched: BTreeSet<EntityId> = old_entity.into_iter().collect();
    let mut unassigned = Vec::new();
    for edge in new_edges.values().filter(|edge| edge.weight >= threshold) {
        match writer.node_ref(edge.to)?.entity() {
            Some(entity) => {
                touched.insert(entity);
            }
            None => unassigned.push(edge.to),
        }
    }
    let target = match touched.first() {
        Some(&oldest) => oldest,
        None => writer.allocate_entity()?,
    };
    for &other in touched.iter().skip(1) {
        merge_entities(writer, other, target)?;
    }
    for identifier_id in unassigned {
        writer.identifier_mut(identifier_id)?.entity = Some(target);
        writer.entity_mut(target)?.members.insert(identifier_id);
    }

    let record = writer.record_mut(record_id)?;
    record.entity = target;
    record.attributes = prepared.attributes;
    record.timestamp = prepared.timestamp;
    record.edges = new_edges.into_values().chain(kept_edges).collect();
    record.edges.sort_by_key(|edge| edge.to);
    writer.entity_mut(target)?.members.insert(record_id);

    if lost_confident_edge {
        split_entity(writer, target)?;
    }
    Ok(outcome)
}

/// Finds or creates the identifier node and adds `record_id` to its records.
fn attach_identifier(
    writer: &mut Writer<'_>,
    prepared: &PreparedIdentifier,
    record_id: NodeId,
) -> Result<NodeId> {
    let id = match writer.find_identifier(&prepared.kind, &prepared.value)? {
        Some(id) => id,
        None => writer.insert_identifier(IdentifierNode {
            kind: prepared.kind.clone(),
            value: prepared.value.clone(),
            raw: Vec::new(),
            entity: None,
            records: RoaringBitmap::new(),
        })?,
    };
    let identifier = writer.identifier_mut(id)?;
    identifier.records.insert(record_id);
    if identifier.raw.len() < MAX_RAW_SPELLINGS && !identifier.raw.contains(&prepared.raw) {
        identifier.raw.push(prepared.raw.clone());
    }
    Ok(id)
}

/// Moves every member of `from` into `into` and deletes `from`.
fn merge_entities(writer: &mut Writer<'_>, from: EntityId, into: EntityId) -> Result<()> {
    let members = writer.entity_mut(from)?.members.clone();
    // NOTE: the older entity keeps its id even when it is the smaller one, so a merge can
    // relabel the larger side. Relabelling is one node rewrite per member.
    for member in &members {
        set_entity(writer, member, Some(into))?;
    }
    writer.entity_mut(into)?.members |= members;
    writer.remove_entity(from);
    tracing::trace!(from, into, "merged entities");
    Ok(())
}

fn set_entity(writer: &mut Writer<'_>, id: NodeId, entity: Option<EntityId>) -> Result<()> {
    match writer.node_mut(id)? {
        Node::Record(record) => {
            // Every record belongs to an entity, so a record is never unassigned.
            if let Some(entity) = entity {
                record.entity = entity;
            }
        }
        Node::Identifier(identifier) => identifier.entity = entity,
    }
    Ok(())
}

/// Returns the confident neighbours of `id`: the identifiers a record links to, or the
/// records an identifier links to, over edges at or above `threshold`.
pub(crate) fn confident_neighbours(
    writer: &mut Writer<'_>,
    id: NodeId,
    threshold: f32,
) -> Result<Vec<NodeId>> {
    match writer.node_ref(id)? {
        Node::Record(record) => Ok(record
            .edges
            .iter()
            .filter(|edge| edge.weight >= threshold)
            .map(|edge| edge.to)
            .collect()),
        Node::Identifier(identifier) => {
            let records = identifier.records.clone();
            let mut neighbours = Vec::new();
            for record_id in &records {
                if let Node::Record(record) = writer.node_ref(record_id)? {
                    let linked = record
                        .edges
                        .iter()
                        .any(|edge| edge.to == id && edge.weight >= threshold);
                    if linked {
                        neighbours.push(record_id);
                    }
                }
            }
            Ok(neighbours)
        }
    }
}

/// Returns the connected components over confident edges among `members`, each sorted, in
/// the order of their lowest record id. Identifiers reached by no record are left out.
fn components(writer: &mut Writer<'_>, members: &RoaringBitmap) -> Result<Vec<RoaringBitmap>> {
    let threshold = writer.store().config().link_threshold;
    let mut seen: HashSet<NodeId> = HashSet::new();
    let mut found = Vec::new();
    for start in members {
        if seen.contains(&start) || !matches!(writer.node_ref(start)?, Node::Record(_)) {
            continue;
        }
        let mut component = RoaringBitmap::new();
        let mut stack = vec![start];
        seen.insert(start);
        while let Some(id) = stack.pop() {
            component.insert(id);
            for neighbour in confident_neighbours(writer, id, threshold)? {
                if members.contains(neighbour) && seen.insert(neighbour) {
                    stack.push(neighbour);
                }
            }
        }
        found.push(component);
    }
    Ok(found)
}

/// Splits `entity` into its connected components after an edge was removed.
pub(crate) fn split_entity(writer: &mut Writer<'_>, entity: EntityId) -> Result<Vec<EntityId>> {
    let members = writer.entity_mut(entity)?.members.clone();
    let parts = components(writer, &members)?;

    let mut reached = RoaringBitmap::new();
    let mut ids = Vec::new();
    for (index, part) in parts.into_iter().enumerate() {
        // The first part contains the oldest record, so it keeps the entity's id.
        let id = if index == 0 {
            entity
        } else {
            writer.allocate_entity()?
        };
        for member in &part {
            set_entity(writer, member, Some(id))?;
        }
        reached |= &part;
        writer.entity_mut(id)?.members = part;
        ids.push(id);
    }
    for orphan in &(members - reached) {
        set_entity(writer, orphan, None)?;
    }
    if ids.len() > 1 {
        tracing::debug!(entity, parts = ids.len(), "split entity");
    }
    Ok(ids)
}

/// Resolves every entity from scratch, for example after the link threshold changed.
///
/// Each component keeps the old entity id of its oldest record when no older component took
/// that id first; otherwise it gets a new id.
pub(crate) fn resolve_all(writer: &mut Writer<'_>) -> Result<()> {
    let mut all = RoaringBitmap::new();
    let mut old_entities = BTreeSet::new();
    let ids: Vec<(NodeId, Option<EntityId>)> = writer
        .store()
        .nodes()
        .map(|item| item.map(|(id, node)| (id, node.entity())))
        .collect::<Result<_>>()?;
    for (id, entity) in ids {
        all.insert(id);
        old_entities.extend(entity);
    }
    for entity in old_entities {
        writer.remove_entity(entity);
    }
    for member in &all {
        if let Node::Identifier(_) = writer.node_ref(member)? {
            set_entity(writer, member, None)?;
        }
    }

    let mut taken = HashSet::new();
    for part in components(writer, &all)? {
        let mut previous = None;
        for member in &part {
            if let Node::Record(record) = writer.node_ref(member)? {
                previous = Some(record.entity);
                break;
            }
        }
        let id = match previous {
            Some(previous) if taken.insert(previous) => {
                writer.counters_mut().entities += 1;
                writer.restore_entity(previous);
                previous
            }
            _ => writer.allocate_entity()?,
        };
        for member in &part {
            set_entity(writer, member, Some(id))?;
        }
        writer.entity_mut(id)?.members = part;
    }
    Ok(())
}

/// A probabilistic match between two records, to be stored as an edge on both.
pub(crate) struct MatchLink {
    /// The two records.
    pub records: (NodeId, NodeId),
    /// The match probability, the edge's weight.
    pub weight: f32,
    /// The comparison levels and weight contributions behind it.
    pub evidence: Evidence,
}

/// Adds or replaces the probabilistic match edges of `links`, each stored on both records.
/// The caller merges the entities of confident pairs with [`merge_linked`].
///
/// Each record is looked up and its edges sorted once, however many links it takes part in.
pub(crate) fn add_match_edges(
    writer: &mut Writer<'_>,
    links: Vec<MatchLink>,
    observed_at: Timestamp,
) -> Result<()> {
    // One half-edge per side, grouped by the record that stores it.
    let mut sides: Vec<(NodeId, NodeId, f32, Evidence)> = Vec::with_capacity(links.len() * 2);
    for MatchLink {
        records: (a, b),
        weight,
        evidence,
    } in links
    {
        sides.push((a, b, weight, evidence.clone()));
        sides.push((b, a, weight, evidence));
    }
    sides.sort_by_key(|&(from, to, ..)| (from, to));

    let mut added = 0;
    let mut sides = sides.into_iter().peekable();
    while let Some(&(from, ..)) = sides.peek() {
        let record = writer.record_mut(from)?;
        let had_edges = record.edges.len();
        let mut appended = false;
        while let Some((_, to, weight, evidence)) = sides.next_if(|side| side.0 == from) {
            let existing =
                record.edges.iter_mut().take(had_edges).find(|edge| {
                    edge.to == to && !matches!(edge.evidence, Evidence::HasIdentifier(_))
                });
            match existing {
                Some(existing) => {
                    existing.first_seen = existing.first_seen.min(observed_at);
                    existing.last_seen = observed_at;
                    existing.count = existing.count.saturating_add(1);
                    existing.weight = weight;
                    existing.evidence = evidence;
                }
                None => {
                    record.edges.push(Edge {
                        to,
                        evidence,
                        weight,
                        source: MATCHER_SOURCE.to_owned(),
                        first_seen: observed_at,
                        last_seen: observed_at,
                        count: 1,
                    });
                    appended = true;
                    if from < to {
                        added += 1;
                    }
                }
            }
        }
        if appended {
            // Edges stay sorted by the other node's id; the sort is stable, so identifier
            // edges keep their order.
            record.edges.sort_by_key(|edge| edge.to);
        }
    }
    writer.counters_mut().edges += added;
    Ok(())
}

/// Merges the entities of each pair of linked records. Entities that end up connected merge
/// into the one with the lowest id, and each record is relabelled at most once, so a batch of
/// links costs time linear in the records involved whatever order the pairs come in.
pub(crate) fn merge_linked(writer: &mut Writer<'_>, pairs: &[(NodeId, NodeId)]) -> Result<()> {
    fn root(parent: &mut FxHashMap<EntityId, EntityId>, mut entity: EntityId) -> EntityId {
        while let Some(&up) = parent.get(&entity) {
            if up == entity {
                break;
            }
            // Path halving: point at the grandparent on the way up.
            let grandparent = parent.get(&up).copied().unwrap_or(up);
            parent.insert(entity, grandparent);
            entity = grandparent;
        }
        entity
    }

    let mut parent: FxHashMap<EntityId, EntityId> = FxHashMap::default();
    for &(a, b) in pairs {
        let entity_a = writer.record_mut(a)?.entity;
        let entity_b = writer.record_mut(b)?.entity;
        let (root_a, root_b) = (root(&mut parent, entity_a), root(&mut parent, entity_b));
        if root_a != root_b {
            // The lower id stays the root, so it is the id the group keeps.
            parent.insert(root_a.max(root_b), root_a.min(root_b));
        }
    }
    // Every key of `parent` is an entity that merges into its root.
    let children: Vec<EntityId> = parent.keys().copied().collect();
    let mut merges: Vec<(EntityId, EntityId)> = children
        .into_iter()
        .map(|entity| (entity, root(&mut parent, entity)))
        .collect();
    merges.sort_unstable();
    for (from, into) in merges {
        merge_entities(writer, from, into)?;
    }
    Ok(())
}

/// Source name recorded on the edges that the probabilistic matcher adds.
pub const MATCHER_SOURCE: &str = "matcher";
