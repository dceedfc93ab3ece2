//! Partition: recomputes the entities of the part of the graph that a batch touched.
//!
//! 1. Region: the records reachable from the pending nodes over evidence that can link, plus
//!    every record of the entities they belonged to.
//! 2. Links: each pair of records in the region gets one confidence, the noisy-or over the
//!    kinds of evidence they share. A shared identifier counts with the lower of its two edge
//!    confidences, discounted by the identifier's degree and the evidence's age. Hubs link
//!    nothing.
//! 3. Constrained union: links at or above the link threshold join groups from the most to
//!    the least confident, with the kind priority and the records' sources and keys breaking
//!    ties. A link that would break an operator's unlink, a unique kind or a per-entity limit
//!    is held back: every link already joined is at least as confident, so it is the weakest
//!    link on the path it would close.
//! 4. Bridges: within each group, the weakest links that alone join two parts of at least two
//!    records each, and that are weaker than the links inside both parts, are held back too.
//!    Equally weak bridges are all held, so a record that matches two groups equally well
//!    stays on its own.
//! 5. Ids: groups go in the order of their oldest record. Each keeps the lowest entity id of
//!    its records that no group before it took, and a group without one gets a new id.
//!
//! Every step depends on the evidence and on sources and keys, never on arrival order, so
//! the same records give the same groups whichever order they came in.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::unionfind::UnionFind;
use roaring::RoaringBitmap;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::config::Config;
use crate::error::Result;
use crate::model::{
    AuditAction, Conflict, EntityId, Evidence, IdentifierKind, Node, NodeId, RecordNode,
    ScoreFactors, Timestamp,
};
use crate::qualify::{self, GroupFacts};
use crate::store::Writer;

/// Seconds in a day, for the age discount.
const DAY: f64 = 86_400.0;

/// Facts about an identifier next to the region, as partition reads them.
struct IdentifierFacts {
    kind: IdentifierKind,
    value: String,
    degree: u64,
    hub: bool,
    /// Whether its records name one party, which lifts the degree discount and the hub rule.
    names_agree: bool,
    /// A role mailbox that more than one record carries: weak, and worth flagging.
    shared_role: bool,
    /// Whether its edges can link: not a hub, and its kind's weight (or the role mailbox
    /// weight) reaches the link threshold.
    linkable: bool,
    entity: Option<EntityId>,
}

/// One record of the region, copied out of the batch.
struct RegionRecord {
    id: NodeId,
    source: String,
    key: String,
    previous: Option<EntityId>,
    first: Option<EntityId>,
}

/// A link candidate between two records of the region, by index.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    pub a: usize,
    pub b: usize,
    pub confidence: f32,
    /// Evidence kinds behind the link, as indices into the partition's kind names.
    pub kinds: Vec<u16>,
    /// Rank of the best kind in the configured priority, lower first.
    pub rank: usize,
    /// Whether an operator linked the records.
    pub manual: bool,
}

/// The part an edge plays in partition.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EdgeTag {
    Identifier,
    Match,
    Link,
    Unlink,
}

/// Index of the `match` kind in the kind names.
const MATCH_KIND: u16 = 0;
/// Index of the `manual` kind in the kind names.
const MANUAL_KIND: u16 = 1;

/// Returns the index of `name` in `names`, adding it when missing.
fn intern(names: &mut Vec<String>, name: &str) -> u16 {
    match names.iter().position(|known| known == name) {
        Some(index) => index as u16,
        None => {
            names.push(name.to_owned());
            (names.len() - 1) as u16
        }
    }
}

/// Constrained values of a group: per kind, and source for kinds unique per source.
type Values = BTreeMap<(String, Option<String>), BTreeSet<String>>;

/// Recomputes the entities around the nodes marked pending in `writer`.
pub(crate) fn resolve_pending(writer: &mut Writer<'_>) -> Result<()> {
    let pending = writer.take_pending();
    if pending.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let pending = settle_lone_records(writer, pending)?;
    if pending.is_empty() {
        return Ok(());
    }
    let config = writer.store().config().clone();
    // Evidence weaker than the threshold on its own (ip addresses, role mailboxes) is never
    // followed and never counts towards a link, so it cannot pull strangers into a region.
    let floor = config.link_threshold;

    // 1. Region.
    // NOTE: the region is the whole component of linking evidence around the batch. Where
    // devices or cookies chain most records together, every batch recomputes most of the
    // store (docs/resolution.md, "What a commit recomputes").
    let mut identifiers: FxHashMap<NodeId, IdentifierFacts> = FxHashMap::default();
    let mut expanded: FxHashSet<NodeId> = FxHashSet::default();
    let mut entities_seen: FxHashSet<EntityId> = FxHashSet::default();
    let mut previous_held: FxHashSet<(NodeId, NodeId)> = FxHashSet::default();
    let mut in_region: FxHashSet<NodeId> = FxHashSet::default();
    let mut stack: Vec<NodeId> = pending;
    while let Some(id) = stack.pop() {
        if in_region.contains(&id) || expanded.contains(&id) {
            continue;
        }
        let (record_entity, neighbours) = match writer.node_ref(id)? {
            Node::Identifier(_) => {
                if expanded.insert(id) {
                    let facts = identifier_facts(writer, &config, id, &mut identifiers)?;
                    let (linkable, entity, hub) = (facts.linkable, facts.entity, facts.hub);
                    let hub_degree = u64::from(config.hub_degree(facts.kind.as_str()));
                    if let Some(entity) = entity {
                        expand_entity(
                            writer,
                            entity,
                            &mut entities_seen,
                            &mut stack,
                            &mut previous_held,
                        )?;
                    }
                    // An identifier that linked its records before and links no longer takes
                    // them along, so that entities it glued come apart. So does one that
                    // became a hub in this batch, so that its records show the hub conflict.
                    let became_hub = hub
                        && match writer.store().node(id)? {
                            Some(Node::Identifier(committed)) => {
                                committed.records.len() < hub_degree
                            }
                            _ => true,
                        };
                    if linkable || entity.is_some() || became_hub {
                        if let Node::Identifier(identifier) = writer.node_ref(id)? {
                            stack.extend(identifier.records.iter());
                        }
                    }
                }
                continue;
            }
            Node::Record(record) => {
                if !in_region.insert(id) {
                    continue;
                }
                let neighbours: Vec<NodeId> = record
                    .edges
                    .iter()
                    .filter(|edge| edge.can_link() && edge.weight >= floor)
                    .map(|edge| edge.to)
                    .collect();
                (record.entity, neighbours)
            }
        };
        if record_entity != EntityId::MAX {
            expand_entity(
                writer,
                record_entity,
                &mut entities_seen,
                &mut stack,
                &mut previous_held,
            )?;
        }
        stack.extend(neighbours);
    }

    let mut ids: Vec<NodeId> = in_region.into_iter().collect();
    ids.sort_unstable();
    let index: FxHashMap<NodeId, usize> = ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();

    tracing::trace!(elapsed = ?started.elapsed(), "partition step before: region done");
    // 2. Links and the facts qualification needs.
    let mut records = Vec::with_capacity(ids.len());
    let mut values: Vec<Values> = Vec::with_capacity(ids.len());
    let mut attributes: Vec<Vec<(String, String)>> = Vec::with_capacity(ids.len());
    let mut hubs: Vec<Vec<NodeId>> = Vec::with_capacity(ids.len());
    let mut carriers: FxHashMap<NodeId, Vec<(usize, f32)>> = FxHashMap::default();
    // Evidence between two records: the pair, its kind (an index into `kind_names`) and
    // confidence. Collected flat and grouped by sorting, which is faster than a map of lists.
    let mut evidence: Vec<(u32, u32, u16, f32)> = Vec::with_capacity(ids.len() * 4);
    let mut kind_names: Vec<String> = vec!["match".to_owned(), "manual".to_owned()];
    let mut manual_links: Vec<(usize, usize)> = Vec::new();
    let mut unlinks: Vec<(usize, usize)> = Vec::new();
    let mut freshness: Vec<f32> = Vec::with_capacity(ids.len());
    for (i, &id) in ids.iter().enumerate() {
        let Node::Record(record) = writer.node_ref(id)? else {
            unreachable!("the region holds records only");
        };
        // Copy out what partition reads, so that identifiers can be loaded meanwhile.
        let edges: Vec<(NodeId, EdgeTag, f32, Timestamp)> = record
            .edges
            .iter()
            .map(|edge| {
                let tag = match &edge.evidence {
                    Evidence::HasIdentifier(_) => EdgeTag::Identifier,
                    Evidence::Match { .. } => EdgeTag::Match,
                    Evidence::Manual { link: true, .. } => EdgeTag::Link,
                    Evidence::Manual { link: false, .. } => EdgeTag::Unlink,
                };
                (edge.to, tag, edge.weight, edge.last_seen)
            })
            .collect();
        // The record's own observations date it. Match and operator edges carry the time of
        // the run that added them, so they are left out.
        let newest: Timestamp = edges
            .iter()
            .filter(|edge| edge.1 == EdgeTag::Identifier)
            .map(|edge| edge.3)
            .chain(record.timestamp)
            .max()
            .unwrap_or_default();
        let record_attributes: Vec<(String, String)> = config
            .agreeing_attributes
            .iter()
            .filter_map(|name| {
                let value = record.attribute(name)?.trim().to_lowercase();
                (!value.is_empty()).then(|| (name.clone(), value))
            })
            .collect();
        let region_record = RegionRecord {
            id,
            source: record.source.clone(),
            key: record.key.clone(),
            previous: (record.entity != EntityId::MAX).then_some(record.entity),
            first: (record.first_entity != EntityId::MAX).then_some(record.first_entity),
        };
        let mut record_values = Values::new();
        let mut record_hubs = Vec::new();
        let mut oldest_factor = 1.0f32;
        for (to, tag, weight, last_seen) in edges {
            match tag {
                EdgeTag::Identifier => {
                    let facts = identifier_facts(writer, &config, to, &mut identifiers)?;
                    let kind = facts.kind.as_str();
                    if config.is_unique_kind(kind) || config.max_per_entity.contains_key(kind) {
                        record_values
                            .entry((kind.to_owned(), None))
                            .or_default()
                            .insert(facts.value.clone());
                    }
                    if config.unique_per_source.iter().any(|unique| unique == kind) {
                        record_values
                            .entry((kind.to_owned(), Some(region_record.source.clone())))
                            .or_default()
                            .insert(facts.value.clone());
                    }
                    if facts.hub || facts.shared_role {
                        record_hubs.push(to);
                    }
                    if facts.hub {
                        continue;
                    }
                    let age = age_factor(&config, newest - last_seen);
                    oldest_factor = oldest_factor.min(age);
                    let degree = if facts.names_agree {
                        1.0
                    } else {
                        degree_factor(&config, kind, facts.degree)
                    };
                    let confidence = weight * degree * age;
                    if weight >= floor {
                        carriers.entry(to).or_default().push((i, confidence));
                    }
                }
                EdgeTag::Match | EdgeTag::Link | EdgeTag::Unlink => {
                    let Some(&j) = index.get(&to) else {
                        continue;
                    };
                    if i >= j {
                        continue;
                    }
                    match tag {
                        EdgeTag::Link => manual_links.push((i, j)),
                        EdgeTag::Unlink => unlinks.push((i, j)),
                        _ => evidence.push((i as u32, j as u32, MATCH_KIND, weight)),
                    }
                }
            }
        }
        values.push(record_values);
        hubs.push(record_hubs);
        freshness.push(oldest_factor);
        attributes.push(record_attributes);
        records.push(region_record);
    }
    let mut carrier_ids: Vec<NodeId> = carriers.keys().copied().collect();
    carrier_ids.sort_unstable();
    for identifier in &carrier_ids {
        let members = &carriers[identifier];
        let kind = intern(&mut kind_names, identifiers[identifier].kind.as_str());
        for (n, &(a, confidence_a)) in members.iter().enumerate() {
            for &(b, confidence_b) in &members[n + 1..] {
                let confidence = confidence_a.min(confidence_b);
                evidence.push((a.min(b) as u32, a.max(b) as u32, kind, confidence));
            }
        }
    }

    let threshold = config.link_threshold;
    // Kinds in name order, so that the noisy-or multiplies in the same order whatever order
    // the identifiers were created in: float products depend on it, and ties must stay ties.
    let mut by_name: Vec<u16> = (0..kind_names.len() as u16).collect();
    by_name.sort_by(|&x, &y| kind_names[usize::from(x)].cmp(&kind_names[usize::from(y)]));
    let mut name_order = vec![0u16; kind_names.len()];
    for (position, &kind) in by_name.iter().enumerate() {
        name_order[usize::from(kind)] = position as u16;
    }
    let kind_ranks: Vec<usize> = kind_names
        .iter()
        .map(|name| config.kind_rank(name))
        .collect();
    evidence.sort_unstable_by(|x, y| {
        (x.0, x.1, name_order[usize::from(x.2)])
            .cmp(&(y.0, y.1, name_order[usize::from(y.2)]))
            .then(y.3.total_cmp(&x.3))
    });
    let mut links: Vec<Link> = Vec::new();
    for pair in evidence.chunk_by(|x, y| (x.0, x.1) == (y.0, y.1)) {
        let mut doubt = 1.0f32;
        let mut kinds: Vec<u16> = Vec::with_capacity(1);
        // Within a kind the best confidence comes first; the others add nothing.
        for same_kind in pair.chunk_by(|x, y| x.2 == y.2) {
            doubt *= 1.0 - same_kind[0].3;
            kinds.push(same_kind[0].2);
        }
        let confidence = 1.0 - doubt;
        if confidence < threshold {
            continue;
        }
        let rank = kinds
            .iter()
            .map(|&kind| kind_ranks[usize::from(kind)])
            .min()
            .unwrap_or(usize::MAX);
        links.push(Link {
            a: pair[0].0 as usize,
            b: pair[0].1 as usize,
            confidence,
            kinds,
            rank,
            manual: false,
        });
    }
    for &(a, b) in &manual_links {
        links.push(Link {
            a,
            b,
            confidence: 1.0,
            kinds: vec![MANUAL_KIND],
            rank: 0,
            manual: true,
        });
    }
    // Ties go by the records' sources and keys, never by node ids, which follow arrival order.
    let mut by_content: Vec<usize> = (0..records.len()).collect();
    by_content.sort_by(|&x, &y| {
        (&records[x].source, &records[x].key).cmp(&(&records[y].source, &records[y].key))
    });
    let mut content_rank = vec![0usize; records.len()];
    for (rank, i) in by_content.into_iter().enumerate() {
        content_rank[i] = rank;
    }
    let ends = |link: &Link| {
        let (a, b) = (content_rank[link.a], content_rank[link.b]);
        (a.min(b), a.max(b))
    };
    links.sort_by(|x, y| {
        y.manual
            .cmp(&x.manual)
            .then(y.confidence.total_cmp(&x.confidence))
            .then(x.rank.cmp(&y.rank))
            .then_with(|| ends(x).cmp(&ends(y)))
    });

    tracing::trace!(elapsed = ?started.elapsed(), "partition step before: links done");
    // 3. Constrained union.
    let count = records.len();
    let mut sets = UnionFind::<usize>::new(count);
    let mut group_values: Vec<Values> = values.clone();
    let mut held: Vec<(usize, usize, f32, Hold)> = Vec::new();
    let mut kept: Vec<bool> = vec![false; links.len()];
    for (n, link) in links.iter().enumerate() {
        let (root_a, root_b) = (sets.find_mut(link.a), sets.find_mut(link.b));
        if root_a == root_b {
            kept[n] = true;
            continue;
        }
        let unlinked = unlinks.iter().any(|&(x, y)| {
            let (root_x, root_y) = (sets.find_mut(x), sets.find_mut(y));
            (root_x == root_a && root_y == root_b) || (root_x == root_b && root_y == root_a)
        });
        if unlinked {
            // The operator's unlink is in the audit log already, and not a doubt.
            continue;
        }
        let hold = if link.manual {
            None
        } else {
            rule_broken(&config, &group_values[root_a], &group_values[root_b])
        };
        if let Some(hold) = hold {
            held.push((link.a, link.b, link.confidence, hold));
            continue;
        }
        sets.union(root_a, root_b);
        let root = sets.find_mut(root_a);
        let other = if root == root_a { root_b } else { root_a };
        let moved = std::mem::take(&mut group_values[other]);
        for (key, set) in moved {
            group_values[root].entry(key).or_default().extend(set);
        }
        kept[n] = true;
    }

    tracing::trace!(elapsed = ?started.elapsed(), "partition step before: union done");
    // 4. Bridges.
    let mut inside: Vec<Link> = links
        .into_iter()
        .zip(kept)
        .filter(|(_, kept)| *kept)
        .map(|(link, _)| link)
        .collect();
    // Only the groups that a cut changed are searched again.
    let mut starts: Vec<usize> = (0..count).collect();
    loop {
        if !config.hold_weak_bridges {
            break;
        }
        let points = weak_points(count, &inside, &starts);
        if points.is_empty() {
            break;
        }
        // In each group, apply the cuts at its weakest point; equally weak cuts all apply.
        let mut remove: FxHashMap<usize, &'static str> = FxHashMap::default();
        for cuts in points {
            let weakest = cuts
                .iter()
                .map(|cut| cut.confidence)
                .fold(f32::INFINITY, f32::min);
            for cut in cuts.into_iter().filter(|cut| cut.confidence <= weakest) {
                for link in cut.links {
                    remove.insert(link, cut.reason);
                }
            }
        }
        starts = remove
            .keys()
            .flat_map(|&n| [inside[n].a, inside[n].b])
            .collect();
        starts.sort_unstable();
        starts.dedup();
        let mut n = 0;
        inside.retain(|link| {
            let reason = remove.get(&n);
            n += 1;
            if let Some(reason) = reason {
                let hold = Hold {
                    rule: "bridge",
                    kind: None,
                    reason: (*reason).to_owned(),
                };
                held.push((link.a, link.b, link.confidence, hold));
            }
            reason.is_none()
        });
    }

    tracing::trace!(elapsed = ?started.elapsed(), "partition step before: bridges done");
    // Final groups: components over the links kept.
    let mut sets = UnionFind::<usize>::new(count);
    for link in &inside {
        sets.union(link.a, link.b);
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..count {
        groups.entry(sets.find_mut(i)).or_default().push(i);
    }
    // Records are in id order, so ordering groups by their first record puts the group with
    // the oldest record first.
    let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
    groups.sort_by_key(|members| members[0]);
    let mut group_of = vec![0usize; count];
    for (g, members) in groups.iter().enumerate() {
        for &i in members {
            group_of[i] = g;
        }
    }

    tracing::trace!(elapsed = ?started.elapsed(), "partition step before: groups done");
    // 5. Ids.
    let previous: BTreeSet<EntityId> = records.iter().filter_map(|r| r.previous).collect();
    let mut taken: FxHashSet<EntityId> = FxHashSet::default();
    let mut group_ids = Vec::with_capacity(groups.len());
    for members in &groups {
        let candidates: BTreeSet<EntityId> = members
            .iter()
            .filter_map(|&i| records[i].previous)
            .collect();
        let mut id = candidates.iter().find(|id| !taken.contains(id)).copied();
        if id.is_none() {
            // A part split off takes back the first id of its oldest record, if it is free.
            let firsts: BTreeSet<EntityId> =
                members.iter().filter_map(|&i| records[i].first).collect();
            for first in firsts {
                if !taken.contains(&first)
                    && !previous.contains(&first)
                    && writer.entity_ref(first)?.is_none()
                {
                    writer.counters_mut().entities += 1;
                    writer.restore_entity(first);
                    id = Some(first);
                    break;
                }
            }
        }
        let id = match id {
            Some(id) => id,
            None => writer.allocate_entity()?,
        };
        taken.insert(id);
        group_ids.push(id);
    }
    for &id in previous.difference(&taken.iter().copied().collect()) {
        writer.remove_entity(id);
    }

    // Audit: merges of existing entities and splits.
    for (g, members) in groups.iter().enumerate() {
        // Entities merged away: previous ids of these records that no group kept.
        let from: BTreeSet<EntityId> = members
            .iter()
            .filter_map(|&i| records[i].previous)
            .filter(|id| !taken.contains(id))
            .collect();
        let kept_id = members
            .iter()
            .any(|&i| records[i].previous == Some(group_ids[g]));
        if !from.is_empty() && kept_id {
            writer.log(AuditAction::Merged {
                into: group_ids[g],
                from: from.into_iter().collect(),
            });
        }
    }
    let mut parts_of: BTreeMap<EntityId, BTreeSet<EntityId>> = BTreeMap::new();
    for (i, record) in records.iter().enumerate() {
        if let Some(id) = record.previous {
            parts_of
                .entry(id)
                .or_default()
                .insert(group_ids[group_of[i]]);
        }
    }
    for (id, parts) in parts_of {
        if parts.len() > 1 {
            writer.log(AuditAction::Split {
                from: id,
                into: parts.into_iter().filter(|&part| part != id).collect(),
            });
        }
    }

    // Identifiers: each joins the group of its most confident record, if that edge links.
    let mut members: Vec<RoaringBitmap> = groups
        .iter()
        .map(|group| group.iter().map(|&i| records[i].id).collect())
        .collect();
    let mut adjacent: Vec<NodeId> = identifiers.keys().copied().collect();
    adjacent.sort_unstable();
    for identifier in adjacent {
        let best = carriers.get(&identifier).and_then(|carried| {
            carried
                .iter()
                .filter(|(_, confidence)| *confidence >= threshold)
                .max_by(|x, y| {
                    x.1.total_cmp(&y.1)
                        .then_with(|| content_rank[y.0].cmp(&content_rank[x.0]))
                })
                .map(|&(i, _)| group_of[i])
        });
        let entity = best.map(|g| group_ids[g]);
        if let Some(g) = best {
            members[g].insert(identifier);
        }
        if identifiers[&identifier].entity != entity {
            writer.identifier_mut(identifier)?.entity = entity;
        }
    }
    for (i, record) in records.iter().enumerate() {
        let entity = group_ids[group_of[i]];
        if record.previous != Some(entity) || record.first.is_none() {
            let stored = writer.record_mut(record.id)?;
            stored.entity = entity;
            if stored.first_entity == EntityId::MAX {
                stored.first_entity = entity;
            }
        }
    }

    // An identifier whose linking records ended up in several entities is flagged on each.
    let mut shared: Vec<Vec<Conflict>> = vec![Vec::new(); groups.len()];
    for identifier in &carrier_ids {
        let facts = &identifiers[identifier];
        if facts.shared_role {
            continue;
        }
        // Every carrier counts, even one whose edge the identifier's degree discounted below
        // the threshold: a library computer on six records is worth flagging.
        let entities: BTreeSet<usize> = carriers[identifier]
            .iter()
            .map(|&(i, _)| group_of[i])
            .collect();
        if entities.len() > 1 {
            for &g in &entities {
                shared[g].push(Conflict::SharedIdentifier {
                    kind: facts.kind.clone(),
                    value: facts.value.clone(),
                    entities: entities.len(),
                });
            }
        }
    }

    // Held links become conflicts of both entities; new ones go to the audit log.
    let mut group_held: Vec<Vec<Conflict>> = vec![Vec::new(); groups.len()];
    held.sort_by_key(|held| (held.0, held.1));
    for (a, b, confidence, hold) in held {
        let (id_a, id_b) = (records[a].id, records[b].id);
        if !previous_held.contains(&(id_a.min(id_b), id_a.max(id_b))) {
            writer.log(AuditAction::HeldBack {
                records: (id_a, id_b),
                reason: hold.reason.clone(),
            });
        }
        let kind = hold.kind.as_deref().and_then(IdentifierKind::new);
        for (record, other) in [(a, b), (b, a)] {
            group_held[group_of[record]].push(Conflict::HeldBack {
                record: records[record].id,
                other: records[other].id,
                confidence,
                rule: hold.rule.to_owned(),
                kind: kind.clone(),
                reason: hold.reason.clone(),
            });
        }
    }

    tracing::trace!(elapsed = ?started.elapsed(), "partition step before: ids and audit done");
    // Qualification.
    let mut group_links: Vec<Vec<Link>> = vec![Vec::new(); groups.len()];
    for link in inside {
        group_links[group_of[link.a]].push(link);
    }
    for (g, group) in groups.iter().enumerate() {
        let mut hub_ids: Vec<NodeId> = group.iter().flat_map(|&i| hubs[i].clone()).collect();
        hub_ids.sort_unstable();
        hub_ids.dedup();
        let hub_facts: Vec<(IdentifierKind, String, u64)> = hub_ids
            .iter()
            .map(|id| {
                let facts = &identifiers[id];
                (facts.kind.clone(), facts.value.clone(), facts.degree)
            })
            .collect();
        let mut merged = Values::new();
        for &i in group {
            for (key, set) in &values[i] {
                merged
                    .entry(key.clone())
                    .or_default()
                    .extend(set.iter().cloned());
            }
        }
        let facts = GroupFacts {
            records: group.clone(),
            links: std::mem::take(&mut group_links[g]),
            values: merged,
            attributes: group.iter().map(|&i| attributes[i].clone()).collect(),
            hubs: hub_facts,
            held: std::mem::take(&mut group_held[g])
                .into_iter()
                .chain(std::mem::take(&mut shared[g]))
                .collect(),
            freshness: group.iter().map(|&i| freshness[i]).fold(1.0, f32::min),
            record_ids: group.iter().map(|&i| records[i].id).collect(),
        };
        let (score, tier, conflicts, factors) = qualify::qualify_group(&config, &kind_names, facts);
        let entity = writer.entity_mut(group_ids[g])?;
        entity.members = std::mem::take(&mut members[g]);
        entity.score = score;
        entity.tier = tier;
        entity.conflicts = conflicts;
        entity.factors = factors;
    }
    tracing::debug!(
        elapsed = ?started.elapsed(),
        records = count,
        groups = groups.len(),
        "resolved pending nodes"
    );
    Ok(())
}

/// Gives each new record without any edge an entity of its own, as the full partition would,
/// and returns the other pending nodes. Loading rows with no identifiers then costs one
/// entity per record and nothing more.
fn settle_lone_records(writer: &mut Writer<'_>, pending: Vec<NodeId>) -> Result<Vec<NodeId>> {
    let mut rest = Vec::with_capacity(pending.len());
    for id in pending {
        let lone = match writer.node_ref(id)? {
            Node::Record(record) => record.entity == EntityId::MAX && record.edges.is_empty(),
            Node::Identifier(_) => false,
        };
        if !lone {
            rest.push(id);
            continue;
        }
        let entity = writer.allocate_entity()?;
        let record = writer.record_mut(id)?;
        record.entity = entity;
        record.first_entity = entity;
        let found = writer.entity_mut(entity)?;
        found.members.insert(id);
        found.factors = ScoreFactors {
            weakest_link: 1.0,
            weakest_pair: None,
            kinds: Vec::new(),
            support: 1.0,
            freshness: 1.0,
            conflicts: 1.0,
        };
    }
    Ok(rest)
}

/// Returns the facts of identifier `id`, loading them on first use.
fn identifier_facts<'f>(
    writer: &mut Writer<'_>,
    config: &Config,
    id: NodeId,
    identifiers: &'f mut FxHashMap<NodeId, IdentifierFacts>,
) -> Result<&'f IdentifierFacts> {
    match identifiers.entry(id) {
        std::collections::hash_map::Entry::Occupied(found) => Ok(found.into_mut()),
        std::collections::hash_map::Entry::Vacant(slot) => {
            let Node::Identifier(identifier) = writer.node_ref(id)? else {
                return Err(crate::error::Error::corrupt(
                    "edge",
                    format!("identifier edge to node {id}, which is a record"),
                ));
            };
            let degree = identifier.records.len();
            let kind = identifier.kind.clone();
            let value = identifier.value.clone();
            let entity = identifier.entity;
            let compared = degree > u64::from(config.typical_degree(kind.as_str()))
                && degree <= NAMES_MAX_RECORDS;
            let names_agree = if compared {
                let holders: Vec<NodeId> = identifier.records.iter().collect();
                let mut names = NameTally::new(config, degree);
                for holder in holders {
                    if names.ruled_out() {
                        break;
                    }
                    if let Node::Record(record) = writer.node_ref(holder)? {
                        names.add(record);
                    }
                }
                names.agree()
            } else {
                false
            };
            let hub = degree >= u64::from(config.hub_degree(kind.as_str())) && !names_agree;
            let weight = config.identifier_weight(kind.as_str(), &value);
            let shared_role = degree >= 2 && weight < config.kind_weight(kind.as_str());
            let linkable = !hub && weight >= config.link_threshold;
            Ok(slot.insert(IdentifierFacts {
                kind,
                value,
                degree,
                hub,
                names_agree,
                shared_role,
                linkable,
                entity,
            }))
        }
    }
}

/// Pushes the members of `entity` on the stack and adds the record pairs of the links held
/// back from it to `held`, once per entity.
fn expand_entity(
    writer: &mut Writer<'_>,
    entity: EntityId,
    seen: &mut FxHashSet<EntityId>,
    stack: &mut Vec<NodeId>,
    held: &mut FxHashSet<(NodeId, NodeId)>,
) -> Result<()> {
    if !seen.insert(entity) {
        return Ok(());
    }
    if let Some(found) = writer.entity_ref(entity)? {
        stack.extend(found.members.iter());
        for conflict in &found.conflicts {
            if let Conflict::HeldBack { record, other, .. } = conflict {
                held.insert(((*record).min(*other), (*record).max(*other)));
            }
        }
    }
    Ok(())
}

/// Share of an identifier's records that must carry a name, and agree on each name attribute
/// they carry, for the identifier to count as naming one party.
const NAMES_AGREE_SHARE: f64 = 0.9;

/// Names that describe no one in particular, which never count as a shared name. Values
/// with fewer than two letters (`-`, `0`, `x`) do not count either.
const GENERIC_NAMES: &[&str] = &[
    "customer",
    "guest",
    "client",
    "user",
    "member",
    "admin",
    "anonymous",
    "test",
    "john doe",
    "jane doe",
    "company",
];

/// Most records an identifier may have for its names to be compared. Comparing reads every
/// record, so an identifier on more records than this is a hub whatever their names.
pub(crate) const NAMES_MAX_RECORDS: u64 = 10_000;

/// Counts the names that the records of one identifier carry, per attribute of
/// [`Config::name_attributes`], to tell one party's shared value from a hub.
pub(crate) struct NameTally<'c> {
    attributes: &'c [String],
    /// Records that carry the identifier.
    total: usize,
    /// Records counted so far.
    records: usize,
    named: usize,
    /// Per name attribute, the names counted so far.
    names: Vec<AttributeNames>,
}

/// The names counted under one attribute.
#[derive(Clone, Default)]
struct AttributeNames {
    /// Lowercase names and how many records carry each.
    counts: FxHashMap<String, usize>,
    /// Records that carry the attribute.
    carried: usize,
    /// The count of the most common name.
    top: usize,
}

/// Returns whether `count` is at least nine in ten of `total`.
fn reaches_share(count: usize, total: usize) -> bool {
    count as f64 >= NAMES_AGREE_SHARE * total as f64
}

impl<'c> NameTally<'c> {
    /// Starts a tally of the `total` records of one identifier.
    pub(crate) fn new(config: &'c Config, total: u64) -> NameTally<'c> {
        NameTally {
            attributes: &config.name_attributes,
            total: total as usize,
            records: 0,
            named: 0,
            names: vec![AttributeNames::default(); config.name_attributes.len()],
        }
    }

    /// Counts the names of one record that carries the identifier.
    pub(crate) fn add(&mut self, record: &RecordNode) {
        self.records += 1;
        let mut named = false;
        for (attribute, names) in self.attributes.iter().zip(&mut self.names) {
            let Some(value) = record.attribute(attribute) else {
                continue;
            };
            let value = value.trim().to_lowercase();
            let letters = value.chars().filter(|c| c.is_alphabetic()).count();
            if letters >= 2 && !GENERIC_NAMES.contains(&value.as_str()) {
                named = true;
                let count = names.counts.entry(value).or_default();
                *count += 1;
                names.carried += 1;
                names.top = names.top.max(*count);
            }
        }
        if named {
            self.named += 1;
        }
    }

    /// Returns whether the records counted so far already rule agreement out, whatever the
    /// names of the records still to count: the caller can stop reading them.
    pub(crate) fn ruled_out(&self) -> bool {
        let remaining = self.total.saturating_sub(self.records);
        if !reaches_share(self.named + remaining, self.total) {
            return true;
        }
        let common_possible = self
            .names
            .iter()
            .any(|names| reaches_share(names.carried + remaining, self.total));
        // Agreement under an attribute is likeliest when every remaining record carries its
        // most common name.
        let split = self
            .names
            .iter()
            .any(|names| !reaches_share(names.top + remaining, names.carried + remaining));
        !common_possible || split
    }

    /// Returns whether the records name one party: nine in ten carry a name, nine in ten carry
    /// one same name attribute, and for each name attribute, nine in ten of the records that
    /// carry it share one value.
    pub(crate) fn agree(&self) -> bool {
        // A tally stopped early was ruled out.
        if self.records == 0
            || self.records < self.total
            || !reaches_share(self.named, self.records)
        {
            return false;
        }
        // Names under different attributes are never compared, so one attribute must be common.
        let common = self
            .names
            .iter()
            .any(|names| reaches_share(names.carried, self.records));
        common
            && self
                .names
                .iter()
                .all(|names| reaches_share(names.top, names.carried))
    }
}

/// Returns the factor by which an identifier shared by `degree` records discounts its edges:
/// 1 up to the kind's typical degree, then the square root of typical over actual.
pub(crate) fn degree_factor(config: &Config, kind: &str, degree: u64) -> f32 {
    let typical = u64::from(config.typical_degree(kind));
    if degree <= typical {
        1.0
    } else {
        (typical as f32 / degree as f32).sqrt()
    }
}

/// Returns the factor for evidence `age` seconds older than the record's newest evidence:
/// halved per `age_half_life_days`, never below one half. Age counts in whole days, so that
/// evidence loaded seconds apart weighs the same and ties stay ties.
pub(crate) fn age_factor(config: &Config, age: i64) -> f32 {
    let days = (age as f64 / DAY).floor();
    if days <= 0.0 {
        return 1.0;
    }
    let half_lives = days / f64::from(config.age_half_life_days);
    (0.5f64.powf(half_lives) as f32).max(0.5)
}

/// A link held back by a rule: the rule's name, its identifier kind, and the reason in words.
#[derive(Debug, PartialEq)]
struct Hold {
    rule: &'static str,
    kind: Option<String>,
    reason: String,
}

/// Shortest values of a unique kind that may count as a typo of one another: in short codes
/// one character is often the whole difference between two people.
const MIN_TYPO_LENGTH: usize = 6;

/// Returns why joining two groups with these constrained values would break a rule, if it
/// would: a unique kind with two values, or more values of a kind than its limit. A group
/// that already breaks a rule (through an operator's link) may still grow, as long as the
/// join adds no value beyond the larger side.
fn rule_broken(config: &Config, a: &Values, b: &Values) -> Option<Hold> {
    for (key, values_a) in a {
        let Some(values_b) = b.get(key) else {
            continue;
        };
        let union: BTreeSet<&String> = values_a.iter().chain(values_b).collect();
        if union.len() <= values_a.len().max(values_b.len()) {
            continue;
        }
        let (kind, source) = key;
        let unique = match source {
            Some(_) => true,
            None => config.is_unique_kind(kind),
        };
        let listed = union
            .iter()
            .map(|value| value.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        if unique && union.len() == 2 && config.unique_typo_distance > 0 {
            let mut values = union.iter();
            let (first, second) = (values.next(), values.next());
            let long_enough = |value: &str| value.chars().count() >= MIN_TYPO_LENGTH;
            if let (Some(first), Some(second)) = (first, second)
                && long_enough(first)
                && long_enough(second)
            {
                let args = rapidfuzz::distance::osa::Args::default()
                    .score_cutoff(config.unique_typo_distance);
                let near = rapidfuzz::distance::osa::distance_with_args(
                    first.chars(),
                    second.chars(),
                    &args,
                );
                if near.is_some() {
                    // Probably a typo: link, and let the unique conflict send it to review.
                    continue;
                }
            }
        }
        if unique && union.len() > 1 {
            let scope = match source {
                Some(source) => format!(" from source {source}"),
                None => String::new(),
            };
            return Some(Hold {
                rule: "unique",
                kind: Some(kind.clone()),
                reason: format!(
                    "would give the entity {} {kind} values{scope} ({listed}), and {kind} is \
                     unique",
                    union.len()
                ),
            });
        }
        if source.is_none() {
            if let Some(&limit) = config.max_per_entity.get(kind) {
                if union.len() > limit {
                    return Some(Hold {
                        rule: "over_limit",
                        kind: Some(kind.clone()),
                        reason: format!(
                            "would give the entity {} {kind} values, more than \
                             max_per_entity.{kind} = {limit}",
                            union.len()
                        ),
                    });
                }
            }
        }
    }
    None
}

/// A way to cut a group apart at a weak point: the links to hold back, the confidence of
/// the strongest of them, and why.
#[derive(Debug, PartialEq)]
struct Cut {
    confidence: f32,
    links: Vec<usize>,
    reason: &'static str,
}

/// Returns, per connected group of `links` that contains one of `starts`, its weak points
/// as cuts:
/// - a link whose removal leaves two parts of at least two records each, weaker than every
///   link inside either part;
/// - a record whose removal leaves several parts of at least two records, with its links into
///   each weaker than the links inside it. The cut keeps the record with the part it links to
///   most strongly and holds its links to the others; when two parts tie, it holds all.
fn weak_points(count: usize, links: &[Link], starts: &[usize]) -> Vec<Vec<Cut>> {
    let mut adjacency: Vec<Vec<(usize, usize)>> = vec![Vec::new(); count];
    for (n, link) in links.iter().enumerate() {
        adjacency[link.a].push((link.b, n));
        adjacency[link.b].push((link.a, n));
    }
    // Iterative depth-first search computing discovery order, low links and subtree sizes.
    let mut order = vec![usize::MAX; count];
    let mut low = vec![0usize; count];
    let mut size = vec![1usize; count];
    let mut parent = vec![usize::MAX; count];
    let mut found: Vec<Vec<Cut>> = Vec::new();
    let mut counter = 0;
    for &start in starts {
        if order[start] != usize::MAX || adjacency[start].is_empty() {
            continue;
        }
        let mut bridges: Vec<(usize, usize)> = Vec::new();
        // Per node, the children whose subtree only reaches the rest through it.
        let mut separated: FxHashMap<usize, Vec<usize>> = FxHashMap::default();
        let mut component_size = 0;
        // Frames: node, the link it was reached by, next neighbour position.
        let mut frames: Vec<(usize, usize, usize)> = vec![(start, usize::MAX, 0)];
        order[start] = counter;
        low[start] = counter;
        counter += 1;
        while let Some(frame) = frames.last_mut() {
            let (node, via, position) = *frame;
            if position < adjacency[node].len() {
                frame.2 += 1;
                let (next, link) = adjacency[node][position];
                if link == via {
                    continue;
                }
                if order[next] == usize::MAX {
                    order[next] = counter;
                    low[next] = counter;
                    counter += 1;
                    parent[next] = node;
                    frames.push((next, link, 0));
                } else {
                    low[node] = low[node].min(order[next]);
                }
            } else {
                frames.pop();
                component_size += 1;
                if let Some(up) = frames.last() {
                    let up = up.0;
                    low[up] = low[up].min(low[node]);
                    size[up] += size[node];
                    if low[node] > order[up] {
                        bridges.push((via, node));
                    }
                    if low[node] >= order[up] {
                        separated.entry(up).or_default().push(node);
                    }
                }
            }
        }

        let mut cuts: Vec<Cut> = bridges
            .into_iter()
            .filter(|&(link, child)| {
                let below = size[child];
                below >= 2
                    && component_size - below >= 2
                    && weaker_than_both_sides(&adjacency, links, link, child)
            })
            .map(|(link, _)| Cut {
                confidence: links[link].confidence,
                links: vec![link],
                reason: "the only link between two groups of records, weaker than the links \
                         inside both",
            })
            .collect();
        let mut points: Vec<(usize, Vec<usize>)> = separated.into_iter().collect();
        points.sort_unstable();
        for (node, children) in points {
            // The root separates its children only when it has several.
            let is_root = parent[node] == usize::MAX;
            if is_root && children.len() < 2 {
                continue;
            }
            let mut starts = children;
            if !is_root {
                starts.push(parent[node]);
            }
            if let Some(cut) = record_cut(&adjacency, links, node, &starts) {
                cuts.push(cut);
            }
        }
        if !cuts.is_empty() {
            found.push(cuts);
        }
    }
    found
}

/// Returns the cut at record `node`, whose removal leaves the parts that `starts` reach, when
/// at least two parts hold two records or more and its links into each are weaker than the
/// links inside it.
fn record_cut(
    adjacency: &[Vec<(usize, usize)>],
    links: &[Link],
    node: usize,
    starts: &[usize],
) -> Option<Cut> {
    // Per part of two records or more: the node's links into it, their best confidence.
    let mut parts: Vec<(f32, Vec<usize>)> = Vec::new();
    let mut seen: FxHashSet<usize> = FxHashSet::default();
    seen.insert(node);
    for &start in starts {
        if !seen.insert(start) {
            continue;
        }
        let mut stack = vec![start];
        let mut records = 1;
        let mut weakest_inside = f32::INFINITY;
        let mut to_node: Vec<usize> = Vec::new();
        while let Some(current) = stack.pop() {
            for &(next, link) in &adjacency[current] {
                if next == node {
                    to_node.push(link);
                    continue;
                }
                weakest_inside = weakest_inside.min(links[link].confidence);
                if seen.insert(next) {
                    records += 1;
                    stack.push(next);
                }
            }
        }
        if records < 2 {
            continue;
        }
        let best = to_node
            .iter()
            .map(|&link| links[link].confidence)
            .fold(0.0, f32::max);
        if best >= weakest_inside {
            return None;
        }
        parts.push((best, to_node));
    }
    if parts.len() < 2 {
        return None;
    }

    let strongest = parts.iter().map(|(best, _)| *best).fold(0.0, f32::max);
    let tied = parts.iter().filter(|(best, _)| *best >= strongest).count() > 1;
    let mut held: Vec<usize> = Vec::new();
    let mut confidence: f32 = 0.0;
    for (best, part_links) in parts {
        if tied || best < strongest {
            confidence = confidence.max(best);
            held.extend(part_links);
        }
    }
    held.sort_unstable();
    held.dedup();

    let reason = if tied {
        "the record matches two groups of records equally well; held for review"
    } else {
        "the record matches another group of records better"
    };
    Some(Cut {
        confidence,
        links: held,
        reason,
    })
}

/// Returns whether bridge `bridge`, whose far side contains `child`, is weaker than every
/// other link on both of its sides.
fn weaker_than_both_sides(
    adjacency: &[Vec<(usize, usize)>],
    links: &[Link],
    bridge: usize,
    child: usize,
) -> bool {
    let confidence = links[bridge].confidence;
    let near = if links[bridge].a == child {
        links[bridge].b
    } else {
        links[bridge].a
    };
    [child, near].into_iter().all(|start| {
        let mut seen: FxHashSet<usize> = FxHashSet::default();
        let mut stack = vec![start];
        seen.insert(start);
        let mut weakest = f32::INFINITY;
        while let Some(node) = stack.pop() {
            for &(next, link) in &adjacency[node] {
                if link == bridge {
                    continue;
                }
                weakest = weakest.min(links[link].confidence);
                if seen.insert(next) {
                    stack.push(next);
                }
            }
        }
        confidence < weakest
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(attributes: &[(&str, &str)]) -> RecordNode {
        RecordNode {
            source: "crm".into(),
            key: "k".into(),
            attributes: attributes
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            timestamp: None,
            entity: EntityId::MAX,
            first_entity: EntityId::MAX,
            edges: Vec::new(),
            past_identifiers: Vec::new(),
        }
    }

    #[test]
    fn name_tally_stops_only_when_ruled_out() {
        use rand::{RngExt, SeedableRng};
        let config = Config::default();
        let mut random = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let pools = [
            vec!["acme corp"],
            vec![
                "acme corp",
                "acme corp",
                "acme corp",
                "acme corp",
                "zed ltd",
            ],
            vec!["ann lee", "bob roe", "cy fox", "-", "customer"],
        ];
        let (mut stopped, mut agreed) = (0, 0);
        for round in 0..300 {
            let pool = &pools[round % pools.len()];
            let records: Vec<RecordNode> = (0..random.random_range(4..60))
                .map(|_| {
                    let name = pool[random.random_range(0..pool.len())];
                    match random.random_range(0..40) {
                        0 => named(&[]),
                        1 => named(&[("full_name", name)]),
                        _ => named(&[("name", name)]),
                    }
                })
                .collect();
            let mut full = NameTally::new(&config, records.len() as u64);
            for record in &records {
                full.add(record);
            }
            let mut early = NameTally::new(&config, records.len() as u64);
            for record in &records {
                if early.ruled_out() {
                    stopped += 1;
                    assert!(!full.agree(), "round {round}");
                    break;
                }
                early.add(record);
            }
            assert_eq!(early.agree(), full.agree(), "round {round}");
            agreed += usize::from(full.agree());
        }
        assert!(stopped > 50, "{stopped} tallies stopped early");
        assert!(agreed > 10, "{agreed} tallies agreed");
    }

    fn link(a: usize, b: usize, confidence: f32) -> Link {
        Link {
            a,
            b,
            confidence,
            kinds: vec![MATCH_KIND],
            rank: 0,
            manual: false,
        }
    }

    fn held_links(count: usize, links: &[Link]) -> Vec<Vec<usize>> {
        let starts: Vec<usize> = (0..count).collect();
        weak_points(count, links, &starts)
            .into_iter()
            .map(|cuts| {
                let mut held: Vec<usize> = cuts.into_iter().flat_map(|cut| cut.links).collect();
                held.sort_unstable();
                held.dedup();
                held
            })
            .collect()
    }

    #[test]
    fn weak_link_between_pairs_is_bridge() {
        // 0-1 and 2-3 are tight pairs; 1-2 is a weak link between them.
        let links = [link(0, 1, 0.9), link(2, 3, 0.9), link(1, 2, 0.6)];
        assert_eq!(held_links(4, &links), vec![vec![2]]);
    }

    #[test]
    fn strong_link_between_pairs_is_no_bridge() {
        let links = [link(0, 1, 0.9), link(2, 3, 0.9), link(1, 2, 0.95)];
        assert!(held_links(4, &links).is_empty());
    }

    #[test]
    fn link_to_single_record_is_no_bridge() {
        let links = [link(0, 1, 0.9), link(1, 2, 0.6)];
        assert!(held_links(3, &links).is_empty());
    }

    #[test]
    fn record_matching_two_groups_equally_is_held() {
        // Groups 0-1 and 3-4; record 2 matches 1 and 3 equally.
        let links = [
            link(0, 1, 0.9),
            link(3, 4, 0.9),
            link(1, 2, 0.7),
            link(2, 3, 0.7),
        ];
        assert_eq!(held_links(5, &links), vec![vec![2, 3]]);
    }

    #[test]
    fn record_stays_with_better_group() {
        let links = [
            link(0, 1, 0.9),
            link(3, 4, 0.9),
            link(1, 2, 0.8),
            link(2, 3, 0.7),
        ];
        assert_eq!(held_links(5, &links), vec![vec![3]]);
    }

    #[test]
    fn cycle_has_no_bridge() {
        let links = [
            link(0, 1, 0.6),
            link(1, 2, 0.6),
            link(2, 3, 0.6),
            link(3, 0, 0.6),
        ];
        assert!(held_links(4, &links).is_empty());
    }

    #[test]
    fn degree_discount_starts_after_typical() {
        let config = Config::default();
        assert_eq!(degree_factor(&config, "email", 3), 1.0);
        assert!((degree_factor(&config, "email", 12) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn age_discount_halves_and_stops_at_half() {
        let config = Config::default();
        assert_eq!(age_factor(&config, 0), 1.0);
        let one_year = (365.0 * DAY) as i64;
        let factor = age_factor(&config, one_year);
        assert!((factor - 0.5f32.powf(0.5)).abs() < 1e-3, "{factor}");
        assert_eq!(age_factor(&config, 100 * one_year), 0.5);
    }

    #[test]
    fn unique_kind_blocks_second_value() {
        let config = Config::default();
        let mut a = Values::new();
        a.entry(("national_id".to_owned(), None))
            .or_default()
            .insert("111".to_owned());
        let mut b = Values::new();
        b.entry(("national_id".to_owned(), None))
            .or_default()
            .insert("222".to_owned());
        let hold = rule_broken(&config, &a, &b).unwrap();
        assert_eq!(hold.rule, "unique");
        assert!(
            hold.reason.contains("2 national_id values"),
            "{}",
            hold.reason
        );
        assert_eq!(rule_broken(&config, &a, &a.clone()), None);
    }

    #[test]
    fn unique_kind_tolerates_typo() {
        let values = |value: &str| {
            let mut values = Values::new();
            values.insert(
                ("national_id".to_owned(), None),
                [value.to_owned()].into_iter().collect(),
            );
            values
        };
        let mut config = Config::default();
        // One transposition apart: probably a typo.
        assert_eq!(
            rule_broken(&config, &values("1804974"), &values("1804794")),
            None
        );
        assert!(rule_broken(&config, &values("1804974"), &values("1809477")).is_some());
        config.unique_typo_distance = 0;
        assert!(rule_broken(&config, &values("1804974"), &values("1804794")).is_some());
    }

    #[test]
    fn limit_blocks_sixth_email() {
        let config = Config::default();
        let values = |range: std::ops::Range<u32>| {
            let mut values = Values::new();
            values.insert(
                ("email".to_owned(), None),
                range.map(|n| format!("{n}@example.com")).collect(),
            );
            values
        };
        assert_eq!(rule_broken(&config, &values(0..3), &values(3..5)), None);
        let hold = rule_broken(&config, &values(0..3), &values(3..6)).unwrap();
        assert_eq!(hold.rule, "over_limit");
        assert!(
            hold.reason.contains("max_per_entity.email = 5"),
            "{}",
            hold.reason
        );
    }
}
