//! Qualification: each entity's score, tier and conflicts, computed by resolution for every
//! group of records it forms. docs/qualification.md gives the formulas with an example.
//!
//! score = weakest link × support × product of the severity factors of the conflict kinds
//!
//! - weakest link: the confidence of the weakest link that a maximum spanning tree over the
//!   entity's records needs, so one weak link drags the whole entity down; 1 for one record.
//! - support: 0.9 when all links rest on one kind of evidence, 1 with two kinds or more.
//! - severity factors: 0.8 for a low, 0.5 for a medium and 0.25 for a high severity, once per
//!   kind of conflict, at the kind's most severe.
//!
//! The tier follows the cut-offs, except that a high-severity conflict makes it low and a
//! medium one caps it at medium.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::unionfind::UnionFind;

use crate::config::Config;
use crate::model::{Conflict, IdentifierKind, NodeId, ScoreFactors, Severity, Tier};
use crate::resolve::partition::Link;

/// The facts resolution gathered about one group of records it formed.
pub(crate) struct GroupFacts {
    /// Region indices of the records.
    pub records: Vec<usize>,
    /// Node ids of the records, in the same order.
    pub record_ids: Vec<NodeId>,
    /// Links kept inside the group, by region index.
    pub links: Vec<Link>,
    /// Values of constrained kinds, per kind and, for kinds unique per source, source.
    pub values: BTreeMap<(String, Option<String>), BTreeSet<String>>,
    /// Per record, the agreeing attributes it has, normalized.
    pub attributes: Vec<Vec<(String, String)>>,
    /// Hub identifiers the records carry: kind, value and degree.
    pub hubs: Vec<(IdentifierKind, String, u64)>,
    /// Links held back from the group.
    pub held: Vec<Conflict>,
    /// Lowest age factor of the records' evidence.
    pub freshness: f32,
}

/// Returns the score, tier, conflicts and score factors of a group.
pub(crate) fn qualify_group(
    config: &Config,
    kind_names: &[String],
    facts: GroupFacts,
) -> (f32, Tier, Vec<Conflict>, ScoreFactors) {
    let mut conflicts = Vec::new();
    for ((kind, source), values) in &facts.values {
        let Some(kind) = IdentifierKind::new(kind) else {
            continue;
        };
        let unique = source.is_some() || config.is_unique_kind(kind.as_str());
        if unique && values.len() > 1 {
            conflicts.push(Conflict::UniqueKindViolated {
                kind,
                values: values.iter().cloned().collect(),
            });
        } else if source.is_none() {
            if let Some(&limit) = config.max_per_entity.get(kind.as_str()) {
                if values.len() > limit {
                    conflicts.push(Conflict::OverLimit {
                        kind,
                        count: values.len(),
                        limit,
                    });
                }
            }
        }
    }
    let mut by_attribute: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for attributes in &facts.attributes {
        for (name, value) in attributes {
            by_attribute.entry(name).or_default().insert(value);
        }
    }
    for (attribute, values) in by_attribute {
        if values.len() > 1 {
            conflicts.push(Conflict::AttributeDisagreement {
                attribute: attribute.to_owned(),
                values: values.into_iter().map(str::to_owned).collect(),
            });
        }
    }
    for (kind, value, degree) in facts.hubs {
        conflicts.push(Conflict::Hub {
            kind,
            value,
            degree,
        });
    }
    conflicts.extend(facts.held);

    let position: BTreeMap<usize, usize> = facts
        .records
        .iter()
        .enumerate()
        .map(|(n, &i)| (i, n))
        .collect();
    let edges: Vec<(usize, usize, f32)> = facts
        .links
        .iter()
        .map(|link| (position[&link.a], position[&link.b], link.confidence))
        .collect();
    let (weakest_link, weakest) = bottleneck(facts.records.len(), edges);
    let kinds: BTreeSet<String> = facts
        .links
        .iter()
        .flat_map(|link| link.kinds.iter())
        .map(|&kind| kind_names[usize::from(kind)].clone())
        .collect();
    let support = if facts.records.len() < 2 || kinds.len() >= 2 {
        1.0
    } else {
        0.9
    };
    // Each kind of conflict counts once, at its most severe: ten held links are one doubt.
    let mut worst: BTreeMap<&str, Severity> = BTreeMap::new();
    for conflict in &conflicts {
        let severity = worst.entry(conflict.kind_name()).or_insert(Severity::Low);
        *severity = (*severity).max(conflict.severity());
    }
    let conflict_factor: f32 = worst
        .values()
        .map(|severity| severity.score_factor())
        .product();
    let score = weakest_link * support * conflict_factor;
    let factors = ScoreFactors {
        weakest_link,
        weakest_pair: weakest.map(|(a, b)| (facts.record_ids[a], facts.record_ids[b])),
        kinds: kinds.into_iter().collect(),
        support,
        freshness: facts.freshness,
        conflicts: conflict_factor,
    };
    let tier = tier_of(config, score, &conflicts);
    (score, tier, conflicts, factors)
}

/// Returns the confidence of the weakest link that a maximum spanning tree needs to connect
/// all `count` records, with that link's two records. Fewer than two records give 1.0 and no
/// pair; records the links do not connect give 0.0.
fn bottleneck(count: usize, mut edges: Vec<(usize, usize, f32)>) -> (f32, Option<(usize, usize)>) {
    if count < 2 {
        return (1.0, None);
    }
    // Kruskal in descending confidence until every record is in one set.
    edges.sort_by(|a, b| b.2.total_cmp(&a.2));
    let mut sets = UnionFind::<usize>::new(count);
    let mut parts = count;
    for (a, b, confidence) in edges {
        if sets.union(a, b) {
            parts -= 1;
            if parts == 1 {
                return (confidence, Some((a, b)));
            }
        }
    }
    (0.0, None)
}

/// Returns the tier of a score: by the cut-offs, then low with a high-severity conflict and
/// at most medium with a medium-severity one.
pub fn tier_of(config: &Config, score: f32, conflicts: &[Conflict]) -> Tier {
    let by_score = if score < config.tiers.medium {
        Tier::Low
    } else if score < config.tiers.high {
        Tier::Medium
    } else {
        Tier::High
    };
    let cap = match conflicts.iter().map(Conflict::severity).max() {
        Some(Severity::High) => Tier::Low,
        Some(Severity::Medium) => Tier::Medium,
        Some(Severity::Low) | None => Tier::High,
    };
    by_score.min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bottleneck_of_single_record_is_one() {
        assert_eq!(bottleneck(1, Vec::new()), (1.0, None));
    }

    #[test]
    fn bottleneck_is_weakest_needed_link() {
        // Records 0 and 1 are linked at 0.9; record 2 joins at 0.6.
        let edges = vec![(0, 1, 0.9), (1, 2, 0.6), (0, 2, 0.55)];
        assert_eq!(bottleneck(3, edges), (0.6, Some((1, 2))));
    }

    #[test]
    fn bottleneck_prefers_strong_parallel_path() {
        let edges = vec![(0, 1, 0.6), (0, 1, 0.99)];
        assert_eq!(bottleneck(2, edges).0, 0.99);
    }

    #[test]
    fn disconnected_records_score_zero() {
        assert_eq!(bottleneck(3, vec![(0, 1, 0.9)]), (0.0, None));
    }

    #[test]
    fn severity_caps_tier() {
        let config = Config::default();
        let unique = Conflict::UniqueKindViolated {
            kind: IdentifierKind::new("national_id").unwrap(),
            values: vec!["1".into(), "2".into()],
        };
        let limit = Conflict::OverLimit {
            kind: IdentifierKind::new("email").unwrap(),
            count: 6,
            limit: 5,
        };
        let attribute = Conflict::AttributeDisagreement {
            attribute: "dob".into(),
            values: vec!["1980-01-01".into(), "1981-01-01".into()],
        };
        assert_eq!(tier_of(&config, 0.95, &[]), Tier::High);
        assert_eq!(tier_of(&config, 0.6, &[]), Tier::Medium);
        assert_eq!(tier_of(&config, 0.95, &[unique]), Tier::Low);
        assert_eq!(tier_of(&config, 0.95, &[limit]), Tier::Medium);
        assert_eq!(tier_of(&config, 0.95, &[attribute]), Tier::High);
    }
}
