//! Resolution: turns records and their identifiers into entities.
//!
//! Writing a record only updates its node, its identifiers and their edges, and marks them
//! pending. At commit, [`partition`] recomputes the entities of the part of the graph the
//! batch touched: the records reachable from the pending nodes over evidence that can link,
//! plus every record of the entities they belonged to. The result depends on the evidence
//! only, never on the order in which records arrived.

pub(crate) mod partition;

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use roaring::RoaringBitmap;

use crate::error::Result;
use crate::model::{
    Edge, EntityId, Evidence, IdentifierKind, IdentifierNode, MAX_RAW_SPELLINGS, NodeId,
    PastIdentifier, RecordNode, Timestamp,
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
///
/// Each upsert is one version of the record. The version with the newest timestamp gives the
/// record's attributes and identifiers, and of two versions with the same timestamp the one
/// that arrived last does. Every version, older ones that arrive late included, counts as one
/// sighting of each identifier it carries, so that an identifier's `first_seen`, `last_seen`
/// and `count` do not depend on the order in which timestamped versions arrive.
pub(crate) fn upsert_record(
    writer: &mut Writer<'_>,
    prepared: PreparedRecord,
    observed_at: Timestamp,
) -> Result<UpsertOutcome> {
    let seen_at = prepared.timestamp.unwrap_or(observed_at);

    let (record_id, outcome) = match writer.find_record(&prepared.source, &prepared.key)? {
        Some(id) => {
            if is_stale(writer, id, &prepared)? {
                return absorb_stale(writer, id, &prepared, seen_at);
            }
            (id, UpsertOutcome::Updated)
        }
        None => {
            let record = RecordNode {
                source: prepared.source.clone(),
                key: prepared.key.clone(),
                attributes: Vec::new(),
                timestamp: None,
                entity: EntityId::MAX,
                first_entity: EntityId::MAX,
                edges: Vec::new(),
                past_identifiers: Vec::new(),
            };
            (writer.insert_record(record)?, UpsertOutcome::Inserted)
        }
    };
    // Identifier edges are rebuilt from the new input; other edges (matches found by the
    // probabilistic matcher) stay.
    let (old_edges, kept_edges, mut past_identifiers) = {
        let record = writer.record_mut(record_id)?;
        let (identifier_edges, other_edges): (Vec<Edge>, Vec<Edge>) =
            std::mem::take(&mut record.edges)
                .into_iter()
                .partition(|edge| matches!(edge.evidence, Evidence::HasIdentifier(_)));
        let past_identifiers = std::mem::take(&mut record.past_identifiers);
        (identifier_edges, other_edges, past_identifiers)
    };

    // Attach the record to each distinct identifier, creating identifiers on first sight. An
    // identifier's edge continues the sightings of its old edge, or of its past sightings
    // when an earlier version dropped it.
    let mut new_edges: BTreeMap<NodeId, Edge> = BTreeMap::new();
    for identifier in &prepared.identifiers {
        let identifier_id = attach_identifier(writer, identifier, record_id)?;
        let config = writer.store().config();
        let weight = config.identifier_weight(identifier.kind.as_str(), &identifier.value);
        let edge = match new_edges.entry(identifier_id) {
            Entry::Occupied(edge) => edge.into_mut(),
            Entry::Vacant(slot) => {
                let previous = match old_edges.iter().find(|edge| edge.to == identifier_id) {
                    Some(edge) => Some((edge.first_seen, edge.last_seen, edge.count)),
                    None => take_past(&mut past_identifiers, &identifier.kind, &identifier.value)
                        .map(|past| (past.first_seen, past.last_seen, past.count)),
                };
                let (first_seen, last_seen, count) = match previous {
                    Some(previous) => add_sighting(previous, seen_at),
                    None => (seen_at, seen_at, 1),
                };
                slot.insert(Edge {
                    to: identifier_id,
                    evidence: Evidence::HasIdentifier(identifier.kind.clone()),
                    weight,
                    source: prepared.source.clone(),
                    first_seen,
                    last_seen,
                    count,
                })
            }
        };
        edge.weight = weight;
    }

    // Detach the identifiers the record no longer carries, keeping their sightings.
    for edge in &old_edges {
        if !new_edges.contains_key(&edge.to) {
            let identifier = writer.identifier_mut(edge.to)?;
            identifier.records.remove(record_id);
            let orphaned = identifier.records.is_empty();
            past_identifiers.push(PastIdentifier {
                kind: identifier.kind.clone(),
                value: identifier.value.clone(),
                first_seen: edge.first_seen,
                last_seen: edge.last_seen,
                count: edge.count,
            });
            if orphaned {
                // The counters count identifiers that some record carries.
                writer.counters_mut().identifiers -= 1;
            }
        }
    }
    past_identifiers.sort_by(|a, b| (&a.kind, &a.value).cmp(&(&b.kind, &b.value)));
    let counters = writer.counters_mut();
    counters.edges = counters.edges + new_edges.len() as u64 - old_edges.len() as u64;

    // Resolution at commit recomputes the entities around the record and every identifier
    // it gained or lost.
    writer.mark_pending(record_id);
    for edge in &old_edges {
        writer.mark_pending(edge.to);
    }
    for &identifier_id in new_edges.keys() {
        writer.mark_pending(identifier_id);
    }

    let record = writer.record_mut(record_id)?;
    record.attributes = prepared.attributes;
    record.timestamp = prepared.timestamp;
    record.edges = new_edges.into_values().chain(kept_edges).collect();
    record.edges.sort_by_key(|edge| edge.to);
    record.past_identifiers = past_identifiers;
    Ok(outcome)
}

/// Returns whether `prepared` is an observation older than the stored record's, which
/// arrived late: the newer observation stays. An observation with the same timestamp is not
/// stale, so it replaces the stored one.
fn is_stale(writer: &mut Writer<'_>, id: NodeId, prepared: &PreparedRecord) -> Result<bool> {
    let stored = writer.record_mut(id)?.timestamp;
    Ok(matches!((stored, prepared.timestamp), (Some(stored), Some(new)) if new < stored))
}

/// Takes a late, older observation of record `id`: the record keeps its newer attributes
/// and identifiers, and each identifier the observation carries counts one more sighting,
/// first seen no later than `seen_at`. The sighting goes to the record's edge when the
/// current version carries the identifier too, and to its past identifiers otherwise. A past
/// identifier links nothing, so the observation creates no node and changes no entity.
fn absorb_stale(
    writer: &mut Writer<'_>,
    id: NodeId,
    prepared: &PreparedRecord,
    seen_at: Timestamp,
) -> Result<UpsertOutcome> {
    // A value given twice in one observation is one sighting.
    let mut carried: Vec<(&IdentifierKind, &str)> = prepared
        .identifiers
        .iter()
        .map(|identifier| (&identifier.kind, identifier.value.as_str()))
        .collect();
    carried.sort_unstable();
    carried.dedup();
    let mut found = Vec::with_capacity(carried.len());
    for &(kind, value) in &carried {
        found.push(writer.find_identifier(kind, value)?);
    }

    let record = writer.record_mut(id)?;
    for (&(kind, value), identifier_id) in carried.iter().zip(found) {
        let edge = identifier_id.and_then(|to| {
            record
                .edges
                .iter_mut()
                .find(|edge| edge.to == to && matches!(edge.evidence, Evidence::HasIdentifier(_)))
        });
        if let Some(edge) = edge {
            (edge.first_seen, edge.last_seen, edge.count) =
                add_sighting((edge.first_seen, edge.last_seen, edge.count), seen_at);
            continue;
        }
        let past = &mut record.past_identifiers;
        match past.binary_search_by(|past| (&past.kind, past.value.as_str()).cmp(&(kind, value))) {
            Ok(at) => {
                let past = &mut past[at];
                (past.first_seen, past.last_seen, past.count) =
                    add_sighting((past.first_seen, past.last_seen, past.count), seen_at);
            }
            Err(at) => past.insert(
                at,
                PastIdentifier {
                    kind: kind.clone(),
                    value: value.to_owned(),
                    first_seen: seen_at,
                    last_seen: seen_at,
                    count: 1,
                },
            ),
        }
    }
    Ok(UpsertOutcome::Updated)
}

/// Returns sighting figures (first seen, last seen, count) with one more sighting at
/// `seen_at`.
fn add_sighting(
    (first_seen, last_seen, count): (Timestamp, Timestamp, u32),
    seen_at: Timestamp,
) -> (Timestamp, Timestamp, u32) {
    (
        first_seen.min(seen_at),
        last_seen.max(seen_at),
        count.saturating_add(1),
    )
}

/// Removes and returns the past sightings of identifier `value` of `kind` from `past`, which
/// is sorted by kind and value.
fn take_past(
    past: &mut Vec<PastIdentifier>,
    kind: &IdentifierKind,
    value: &str,
) -> Option<PastIdentifier> {
    let at = past
        .binary_search_by(|past| (&past.kind, past.value.as_str()).cmp(&(kind, value)))
        .ok()?;
    Some(past.remove(at))
}

/// Finds or creates the identifier node and adds `record_id` to its records.
fn attach_identifier(
    writer: &mut Writer<'_>,
    prepared: &PreparedIdentifier,
    record_id: NodeId,
) -> Result<NodeId> {
    let (id, created) = match writer.find_identifier(&prepared.kind, &prepared.value)? {
        Some(id) => (id, false),
        None => {
            let identifier = IdentifierNode {
                kind: prepared.kind.clone(),
                value: prepared.value.clone(),
                raw: Vec::new(),
                entity: None,
                records: RoaringBitmap::new(),
            };
            (writer.insert_identifier(identifier)?, true)
        }
    };
    let identifier = writer.identifier_mut(id)?;
    // A new identifier was counted when it was created; one that no record carried any more
    // counts again.
    let returned = !created && identifier.records.is_empty();
    identifier.records.insert(record_id);
    if identifier.raw.len() < MAX_RAW_SPELLINGS && !identifier.raw.contains(&prepared.raw) {
        identifier.raw.push(prepared.raw.clone());
    }
    if returned {
        writer.counters_mut().identifiers += 1;
    }
    Ok(id)
}

/// Marks every node pending, so that the commit resolves all entities from scratch, for
/// example after the link threshold changed.
pub(crate) fn resolve_all(writer: &mut Writer<'_>) -> Result<()> {
    let ids: Vec<NodeId> = writer
        .store()
        .nodes()
        .map(|item| item.map(|(id, _)| id))
        .collect::<Result<_>>()?;
    for id in ids {
        writer.mark_pending(id);
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

/// Adds or replaces the probabilistic match edges of `links`, each stored on both records,
/// and marks the records pending. A manual link or unlink between the same records stays.
///
/// Each record is looked up and its edges sorted once, however many links it takes part in.
pub(crate) fn add_match_edges(
    writer: &mut Writer<'_>,
    links: Vec<MatchLink>,
    observed_at: Timestamp,
) -> Result<()> {
    // One half-edge per side, grouped by the record that stores it: the two records and the
    // index of the link, so that the sort moves 12 bytes per side, not the evidence.
    let mut sides: Vec<(NodeId, NodeId, u32)> = Vec::with_capacity(links.len() * 2);
    for (index, link) in links.iter().enumerate() {
        let (a, b) = link.records;
        sides.push((a, b, index as u32));
        sides.push((b, a, index as u32));
    }
    sides.sort_unstable();

    let mut added = 0;
    for group in sides.chunk_by(|x, y| x.0 == y.0) {
        let from = group[0].0;
        writer.mark_pending(from);
        let record = writer.record_mut(from)?;
        let had_edges = record.edges.len();
        record.edges.reserve_exact(group.len());
        let mut appended = false;
        for &(_, to, index) in group {
            let MatchLink {
                weight, evidence, ..
            } = &links[index as usize];
            let existing =
                record.edges.iter_mut().take(had_edges).find(|edge| {
                    edge.to == to && !matches!(edge.evidence, Evidence::HasIdentifier(_))
                });
            match existing {
                Some(existing) if matches!(existing.evidence, Evidence::Manual { .. }) => {}
                Some(existing) => {
                    existing.first_seen = existing.first_seen.min(observed_at);
                    existing.last_seen = observed_at;
                    existing.count = existing.count.saturating_add(1);
                    existing.weight = *weight;
                    existing.evidence = evidence.clone();
                }
                None => {
                    record.edges.push(Edge {
                        to,
                        evidence: evidence.clone(),
                        weight: *weight,
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

/// Removes every probabilistic match edge from the records in the batch's cache, which must
/// hold all records (see `Writer::load_all_nodes`), and marks the records pending.
pub(crate) fn remove_match_edges(writer: &mut Writer<'_>) -> Result<()> {
    let with_matches: Vec<NodeId> = writer
        .cached_records()
        .into_iter()
        .filter(|(_, record)| {
            record
                .edges
                .iter()
                .any(|edge| matches!(edge.evidence, Evidence::Match { .. }))
        })
        .map(|(id, _)| id)
        .collect();
    let mut removed = 0u64;
    for id in with_matches {
        let record = writer.record_mut(id)?;
        let before = record.edges.len();
        record
            .edges
            .retain(|edge| !matches!(edge.evidence, Evidence::Match { .. }));
        removed += (before - record.edges.len()) as u64;
        writer.mark_pending(id);
    }
    // Each match edge is stored on both of its records.
    writer.counters_mut().edges -= removed / 2;
    Ok(())
}

/// Source name recorded on the edges that the probabilistic matcher adds.
pub const MATCHER_SOURCE: &str = "matcher";

/// Source name recorded on the edges that an operator's `link` and `unlink` add.
pub const OPERATOR_SOURCE: &str = "operator";

impl crate::store::Store {
    /// Links records `a` and `b` by hand: resolution puts them in one entity whatever the
    /// automatic evidence, unless an operator also unlinked records on both sides. The
    /// link replaces an earlier unlink of the same two records and goes to the audit log.
    ///
    /// # Errors
    ///
    /// Fails with [`crate::Error::Query`] when `a` and `b` are the same node or either is
    /// not a record, and on I/O errors.
    pub fn link(&mut self, a: NodeId, b: NodeId, reason: &str) -> Result<()> {
        self.set_override(a, b, true, reason)
    }

    /// Unlinks records `a` and `b` by hand: resolution never puts them in one entity, and
    /// holds back whichever link would. The unlink replaces an earlier manual link of the
    /// same two records and goes to the audit log.
    ///
    /// # Errors
    ///
    /// As [`crate::store::Store::link`].
    pub fn unlink(&mut self, a: NodeId, b: NodeId, reason: &str) -> Result<()> {
        self.set_override(a, b, false, reason)
    }

    fn set_override(&mut self, a: NodeId, b: NodeId, link: bool, reason: &str) -> Result<()> {
        let mut writer = self.writer();
        add_override(&mut writer, a, b, link, reason)?;
        writer.commit()?;
        self.flush()
    }

    /// Returns how entity `id` would split if an operator unlinked the two records of its
    /// weakest link: the records of each resulting part, the part with the oldest record
    /// first. One part means the entity stays whole without that link. Nothing is stored.
    ///
    /// # Errors
    ///
    /// Fails with [`crate::Error::NotFound`] for an unknown entity, with
    /// [`crate::Error::Query`] for an entity of one record, and on I/O errors.
    pub fn split_preview(&mut self, id: EntityId) -> Result<SplitPlan> {
        let mut writer = self.writer();
        let plan = plan_split(&mut writer, id)?;
        // Dropping the writer discards the trial unlink.
        Ok(plan)
    }

    /// Splits entity `id` at its weakest link by unlinking that link's two records, with
    /// `reason` in the audit log, and returns the plan that was applied.
    ///
    /// # Errors
    ///
    /// As [`crate::store::Store::split_preview`].
    pub fn split(&mut self, id: EntityId, reason: &str) -> Result<SplitPlan> {
        let plan = {
            let mut writer = self.writer();
            plan_split(&mut writer, id)?
        };
        let (a, b) = plan.unlink;
        self.unlink(a, b, reason)?;
        Ok(plan)
    }

    /// Returns the hub identifiers: those whose degree reached their kind's hub degree, with
    /// that degree, most shared first.
    ///
    /// # Errors
    ///
    /// Fails on I/O errors and on an undecodable page.
    pub fn hubs(&self) -> Result<Vec<Hub>> {
        let mut hubs = Vec::new();
        for item in self.nodes() {
            let (id, node) = item?;
            if let crate::model::Node::Identifier(identifier) = node {
                let degree = identifier.records.len();
                let hub_degree = self.config().hub_degree(identifier.kind.as_str());
                if degree >= u64::from(hub_degree) && !self.names_agree(&identifier)? {
                    hubs.push(Hub {
                        id,
                        kind: identifier.kind,
                        value: identifier.value,
                        degree,
                        hub_degree,
                    });
                }
            }
        }
        hubs.sort_by(|x, y| y.degree.cmp(&x.degree).then(x.id.cmp(&y.id)));
        Ok(hubs)
    }

    /// Returns whether the records that carry `identifier` name one party, which keeps a
    /// widely shared value from being a hub (see [`Config::name_attributes`]).
    fn names_agree(&self, identifier: &crate::model::IdentifierNode) -> Result<bool> {
        let degree = identifier.records.len();
        if degree > partition::NAMES_MAX_RECORDS {
            return Ok(false);
        }
        let mut names = partition::NameTally::new(self.config(), degree);
        for holder in &identifier.records {
            if names.ruled_out() {
                break;
            }
            if let Some(crate::model::Node::Record(record)) = self.node(holder)? {
                names.add(&record);
            }
        }
        Ok(names.agree())
    }

    /// Returns the audit log, oldest event first.
    ///
    /// # Errors
    ///
    /// Fails on I/O errors and on an undecodable page.
    pub fn audit_log(&self) -> Result<Vec<crate::model::AuditEvent>> {
        self.audit_pages()
    }
}

/// An identifier shared by so many records that it links none of them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Hub {
    /// The identifier's node id.
    pub id: NodeId,
    /// Its kind.
    pub kind: IdentifierKind,
    /// Its normalized value.
    pub value: String,
    /// Number of records that carry it.
    pub degree: u64,
    /// The degree at which its kind's identifiers become hubs.
    pub hub_degree: u32,
}

/// The plan of a split of an entity at its weakest link.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SplitPlan {
    /// The entity.
    pub entity: EntityId,
    /// The two records whose link is the weakest, which the split unlinks.
    pub unlink: (NodeId, NodeId),
    /// The link's confidence.
    pub confidence: f32,
    /// The records of each part after the split, the part with the oldest record first.
    pub parts: Vec<Vec<NodeId>>,
    /// The records that the split puts into an entity together with records of other
    /// entities, in node id order. Resolution can do this when a link from a part to another
    /// entity was held back only because of the rest of the entity.
    pub moved: Vec<MovedRecord>,
}

/// A record that a split puts into an entity together with records of other entities.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MovedRecord {
    /// The record.
    pub record: NodeId,
    /// The entity it belongs to after the split.
    pub entity: EntityId,
    /// The entities, as they were before the split, whose records it joins, sorted.
    pub joined: Vec<EntityId>,
}

/// Adds a manual link or unlink between records `a` and `b` to the batch, replacing any
/// earlier one between them, and logs it.
pub(crate) fn add_override(
    writer: &mut Writer<'_>,
    a: NodeId,
    b: NodeId,
    link: bool,
    reason: &str,
) -> Result<()> {
    if a == b {
        return Err(crate::Error::Query(format!(
            "cannot link or unlink node {a} with itself; name two different records"
        )));
    }
    let now = crate::ingest::now();
    for id in [a, b] {
        if !matches!(writer.node_ref(id)?, crate::model::Node::Record(_)) {
            return Err(crate::Error::Query(format!(
                "node {id} is an identifier; link and unlink take two records"
            )));
        }
    }
    let mut added = false;
    for (from, to) in [(a, b), (b, a)] {
        let record = writer.record_mut(from)?;
        let before = record.edges.len();
        record
            .edges
            .retain(|edge| !(edge.to == to && matches!(edge.evidence, Evidence::Manual { .. })));
        added |= record.edges.len() == before;
        let at = record.edges.partition_point(|edge| edge.to <= to);
        record.edges.insert(
            at,
            Edge {
                to,
                evidence: Evidence::Manual {
                    link,
                    reason: reason.to_owned(),
                },
                weight: 1.0,
                source: OPERATOR_SOURCE.to_owned(),
                first_seen: now,
                last_seen: now,
                count: 1,
            },
        );
        writer.mark_pending(from);
    }
    if added {
        writer.counters_mut().edges += 1;
    }
    let records = (a, b);
    let reason = reason.to_owned();
    writer.log(if link {
        crate::model::AuditAction::Linked { records, reason }
    } else {
        crate::model::AuditAction::Unlinked { records, reason }
    });
    Ok(())
}

/// Unlinks the weakest link of entity `id` inside `writer`, resolves, and reads the parts.
/// The caller drops the writer to discard the trial.
fn plan_split(writer: &mut Writer<'_>, id: EntityId) -> Result<SplitPlan> {
    let entity = writer
        .entity(id)?
        .ok_or_else(|| crate::Error::NotFound(format!("entity {id}")))?;
    let Some((a, b)) = entity.factors.weakest_pair else {
        return Err(crate::Error::Query(format!(
            "entity {id} has a single record, so there is nothing to split"
        )));
    };
    let mut records = Vec::new();
    for member in &entity.members {
        if matches!(writer.node_ref(member)?, crate::model::Node::Record(_)) {
            records.push(member);
        }
    }
    add_override(writer, a, b, false, "split preview")?;
    partition::resolve_pending(writer)?;
    let mut parts: BTreeMap<EntityId, Vec<NodeId>> = BTreeMap::new();
    for record in records {
        let crate::model::Node::Record(found) = writer.node_ref(record)? else {
            continue;
        };
        parts.entry(found.entity).or_default().push(record);
    }
    let mut moved = Vec::new();
    for (&part_entity, part) in &parts {
        let joined = joined_entities(writer, part_entity, &entity.members)?;
        if !joined.is_empty() {
            moved.extend(part.iter().map(|&record| MovedRecord {
                record,
                entity: part_entity,
                joined: joined.clone(),
            }));
        }
    }
    moved.sort_by_key(|moved| moved.record);
    let mut parts: Vec<Vec<NodeId>> = parts.into_values().collect();
    parts.sort_by_key(|part| part[0]);
    Ok(SplitPlan {
        entity: id,
        unlink: (a, b),
        confidence: entity.factors.weakest_link,
        parts,
        moved,
    })
}

/// Returns the committed entities of the records that entity `id` of the batch contains
/// outside `members`, sorted.
fn joined_entities(
    writer: &Writer<'_>,
    id: EntityId,
    members: &RoaringBitmap,
) -> Result<Vec<EntityId>> {
    let Some(entity) = writer.entity(id)? else {
        return Ok(Vec::new());
    };
    let mut outside = entity.members - members;
    let mut joined = Vec::new();
    // The stored members of each joined entity leave the search together, so that a large
    // joined entity costs one read and not one per member.
    while let Some(node) = outside.min() {
        outside.remove(node);
        let Some(crate::model::Node::Record(record)) = writer.store().node(node)? else {
            continue;
        };
        if let Some(previous) = writer.store().entity(record.entity)? {
            outside -= &previous.members;
        }
        joined.push(record.entity);
    }
    joined.sort_unstable();
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use crate::Store;
    use crate::ingest::RecordInput;
    use crate::model::{Edge, IdentifierKind, Node, PastIdentifier, RecordNode};

    /// Returns a version of web record `s1` at time `at` with the given emails.
    fn version(at: i64, emails: &[&str]) -> RecordInput {
        let mut record = RecordInput::new("web", "s1").timestamp(at);
        for email in emails {
            record = record.identifier("email", *email);
        }
        record
    }

    fn stored(store: &Store, key: &str) -> RecordNode {
        let id = store.find_record("web", key).unwrap().unwrap();
        let Some(Node::Record(record)) = store.node(id).unwrap() else {
            panic!("record {key} is not stored");
        };
        record
    }

    fn email_edge(store: &Store, record: &RecordNode, email: &str) -> Edge {
        let kind = IdentifierKind::new("email").unwrap();
        let id = store.find_identifier(&kind, email).unwrap().unwrap();
        let edge = record.edges.iter().find(|edge| edge.to == id);
        edge.unwrap_or_else(|| panic!("no edge to {email}")).clone()
    }

    fn past_email(value: &str, first_seen: i64, last_seen: i64, count: u32) -> PastIdentifier {
        PastIdentifier {
            kind: IdentifierKind::new("email").unwrap(),
            value: value.to_owned(),
            first_seen,
            last_seen,
            count,
        }
    }

    #[test]
    fn dropped_identifier_keeps_sightings() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.upsert([version(100, &["ann@x.example"])]).unwrap();
        store.upsert([version(200, &[])]).unwrap();

        let record = stored(&store, "s1");
        assert!(record.edges.is_empty(), "{:?}", record.edges);
        let expected = vec![past_email("ann@x.example", 100, 100, 1)];
        assert_eq!(record.past_identifiers, expected);

        store.upsert([version(300, &["ann@x.example"])]).unwrap();
        let record = stored(&store, "s1");
        let edge = email_edge(&store, &record, "ann@x.example");
        assert_eq!(edge.count, 2);
        assert_eq!(edge.first_seen, 100);
        assert_eq!(edge.last_seen, 300);
        assert!(record.past_identifiers.is_empty());

        // A late version carrying the email counts as a third sighting.
        store.upsert([version(150, &["ann@x.example"])]).unwrap();
        let record = stored(&store, "s1");
        let edge = email_edge(&store, &record, "ann@x.example");
        assert_eq!(edge.count, 3);
        assert_eq!(edge.first_seen, 100);
        assert_eq!(edge.last_seen, 300);
    }

    #[test]
    fn late_version_adds_past_identifier_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.upsert([version(300, &["ann@x.example"])]).unwrap();
        let entity = stored(&store, "s1").entity;

        // Given twice in one version, the old email still counts one sighting.
        let late = version(100, &["old@x.example", "Old@x.example", "ann@x.example"]);
        store.upsert([late]).unwrap();
        let kind = IdentifierKind::new("email").unwrap();
        assert_eq!(store.find_identifier(&kind, "old@x.example").unwrap(), None);
        assert_eq!(store.counters().identifiers, 1);
        let record = stored(&store, "s1");
        assert_eq!(record.entity, entity);
        assert_eq!(record.edges.len(), 1);
        let expected = vec![past_email("old@x.example", 100, 100, 1)];
        assert_eq!(record.past_identifiers, expected);
        let edge = email_edge(&store, &record, "ann@x.example");
        assert_eq!(edge.count, 2);
        assert_eq!(edge.first_seen, 100);
        assert_eq!(edge.last_seen, 300);

        // A past identifier links nothing: another record with the old email stays apart.
        let other = RecordInput::new("web", "s2")
            .identifier("email", "old@x.example")
            .timestamp(400);
        store.upsert([other]).unwrap();
        assert_ne!(stored(&store, "s2").entity, stored(&store, "s1").entity);

        // When the old email comes back, its edge starts from the past sighting.
        store
            .upsert([version(500, &["old@x.example", "ann@x.example"])])
            .unwrap();
        let record = stored(&store, "s1");
        let edge = email_edge(&store, &record, "old@x.example");
        assert_eq!(edge.count, 2);
        assert_eq!(edge.first_seen, 100);
        assert_eq!(edge.last_seen, 500);
        assert!(record.past_identifiers.is_empty());
        assert_eq!(stored(&store, "s2").entity, record.entity);
    }

    #[test]
    fn same_timestamp_counts_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.upsert([version(100, &["ann@x.example"])]).unwrap();
        store.upsert([version(100, &["bob@x.example"])]).unwrap();

        // The version that arrived last gives the content, and both count as sightings.
        let record = stored(&store, "s1");
        let edge = email_edge(&store, &record, "bob@x.example");
        assert_eq!(edge.count, 1);
        assert_eq!(edge.first_seen, 100);
        assert_eq!(edge.last_seen, 100);
        let expected = vec![past_email("ann@x.example", 100, 100, 1)];
        assert_eq!(record.past_identifiers, expected);
    }
}
