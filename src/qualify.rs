//! Qualification: each entity's score, tier and conflicts.
//!
//! The score of an entity with several records is its bottleneck: the weight of the weakest
//! edge that a maximum spanning tree over its confident edges needs to connect all its
//! records. One weak link therefore drags the whole entity down. Each conflict halves the
//! score, and an entity with a conflict is never above the low tier, so it goes to review.
//! A single-record entity scores 1.0 unless it has a conflict.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use petgraph::unionfind::UnionFind;

use crate::config::Config;
use crate::error::Result;
use crate::model::{Conflict, EntityId, Node, NodeId, Tier};
use crate::store::Writer;

/// Computes and stores the score, tier and conflicts of entity `id`.
pub(crate) fn qualify_entity(writer: &mut Writer<'_>, id: EntityId) -> Result<()> {
    let Some(entity) = writer.entity(id)? else {
        return Ok(());
    };
    let threshold = writer.store().config().link_threshold;
    let unique_kinds = writer.store().config().unique_kinds.clone();

    let mut records = Vec::new();
    let mut edges = Vec::new();
    let mut unique_values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for member in &entity.members {
        match writer.node_ref(member)? {
            Node::Record(record) => {
                records.push(member);
                for edge in &record.edges {
                    if edge.weight >= threshold && entity.members.contains(edge.to) {
                        edges.push((member, edge.to, edge.weight));
                    }
                }
            }
            Node::Identifier(identifier) => {
                if unique_kinds
                    .iter()
                    .any(|kind| kind == identifier.kind.as_str())
                {
                    unique_values
                        .entry(identifier.kind.as_str().to_owned())
                        .or_default()
                        .insert(identifier.value.clone());
                }
            }
        }
    }

    let conflicts: Vec<Conflict> = unique_values
        .into_iter()
        .filter(|(_, values)| values.len() > 1)
        .map(|(kind, values)| Conflict::UniqueKindViolated {
            kind: crate::model::IdentifierKind::new(&kind).expect("configured kinds are valid"),
            values: values.into_iter().collect(),
        })
        .collect();
    let score = bottleneck(&records, &mut edges) * 0.5f32.powi(conflicts.len() as i32);
    let tier = tier_of(writer.store().config(), score, &conflicts);

    let entity = writer.entity_mut(id)?;
    entity.score = score;
    entity.tier = tier;
    entity.conflicts = conflicts;
    Ok(())
}

/// Returns the weight of the weakest edge that a maximum spanning tree needs to connect all
/// `records`, or 1.0 for fewer than two records.
fn bottleneck(records: &[NodeId], edges: &mut [(NodeId, NodeId, f32)]) -> f32 {
    if records.len() < 2 {
        return 1.0;
    }
    let mut index: HashMap<NodeId, usize> = HashMap::new();
    for &(from, to, _) in edges.iter() {
        let next = index.len();
        index.entry(from).or_insert(next);
        let next = index.len();
        index.entry(to).or_insert(next);
    }
    let record_indices: Vec<usize> = records
        .iter()
        .filter_map(|r| index.get(r).copied())
        .collect();
    if record_indices.len() < records.len() {
        // A record without confident edges cannot be connected: the entity is not one piece.
        return 0.0;
    }

    // Kruskal in descending weight order until every record is in one set.
    edges.sort_by(|a, b| b.2.total_cmp(&a.2));
    let mut sets = UnionFind::<usize>::new(index.len());
    let mut record_sets = records.len();
    let is_record: Vec<bool> = {
        let mut flags = vec![false; index.len()];
        for &i in &record_indices {
            flags[i] = true;
        }
        flags
    };
    let mut holds_record = is_record.clone();
    for &(from, to, weight) in edges.iter() {
        let (a, b) = (sets.find(index[&from]), sets.find(index[&to]));
        if a == b {
            continue;
        }
        let both = holds_record[a] && holds_record[b];
        let either = holds_record[a] || holds_record[b];
        sets.union(a, b);
        let root = sets.find(a);
        holds_record[root] = either;
        if both {
            record_sets -= 1;
            if record_sets == 1 {
                return weight;
            }
        }
    }
    0.0
}

/// Returns the tier of a score: low whenever there is a conflict, else by the cut-offs.
pub fn tier_of(config: &Config, score: f32, conflicts: &[Conflict]) -> Tier {
    if !conflicts.is_empty() || score < config.tiers.medium {
        Tier::Low
    } else if score < config.tiers.high {
        Tier::Medium
    } else {
        Tier::High
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bottleneck_of_single_record_is_one() {
        assert_eq!(bottleneck(&[1], &mut []), 1.0);
    }

    #[test]
    fn bottleneck_is_weakest_needed_link() {
        // Records 1 and 2 share identifier 10 (0.9 each); record 3 joins through 11 (0.6).
        let mut edges = vec![
            (1, 10, 0.9),
            (2, 10, 0.9),
            (2, 11, 0.6),
            (3, 11, 0.6),
            (3, 12, 0.99),
        ];
        assert_eq!(bottleneck(&[1, 2, 3], &mut edges), 0.6);
    }

    #[test]
    fn bottleneck_prefers_strong_parallel_path() {
        let mut edges = vec![(1, 10, 0.6), (2, 10, 0.6), (1, 11, 0.99), (2, 11, 0.99)];
        assert_eq!(bottleneck(&[1, 2], &mut edges), 0.99);
    }

    #[test]
    fn disconnected_records_score_zero() {
        let mut edges = vec![(1, 10, 0.9)];
        assert_eq!(bottleneck(&[1, 2], &mut edges), 0.0);
    }

    #[test]
    fn conflict_caps_tier_at_low() {
        let config = Config::default();
        let conflict = Conflict::UniqueKindViolated {
            kind: crate::model::IdentifierKind::new("national_id").unwrap(),
            values: vec!["1".into(), "2".into()],
        };
        assert_eq!(tier_of(&config, 0.95, &[]), Tier::High);
        assert_eq!(tier_of(&config, 0.6, &[]), Tier::Medium);
        assert_eq!(tier_of(&config, 0.95, &[conflict]), Tier::Low);
    }
}
