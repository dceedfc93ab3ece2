//! Evaluation of parsed statements against a [`Store`], producing a [`QueryOutput`].

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::model::{Entity, EntityId, IdentifierKind, Node, NodeId, Tier};
use crate::query::ast::{EntityRef, NodeRef, Statement};
use crate::store::Store;

/// Maximum number of nodes a path search visits before it gives up.
pub const MAX_PATH_NODES: usize = 1_000_000;

/// Maximum number of rows a listing prints when the statement sets no limit.
pub const DEFAULT_LIMIT: usize = 100;

/// A titled table of text cells.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Table {
    /// Title naming what the table lists.
    pub title: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each with one cell per column.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    fn new(title: &str, columns: &[&str]) -> Table {
        Table {
            title: title.to_owned(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }
}

/// The result of one statement: tables for people and a JSON document for programs.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryOutput {
    /// Tables in display order.
    pub tables: Vec<Table>,
    /// The same result as one JSON value.
    pub json: Value,
}

/// Runs one statement.
///
/// # Errors
///
/// Returns [`Error::NotFound`] when a named node or entity does not exist, and store errors.
pub fn execute(store: &Store, statement: &Statement) -> Result<QueryOutput> {
    match statement {
        Statement::Find(node) => find(store, node),
        Statement::Entity(EntityRef::Id(id)) => show_entity(store, *id),
        Statement::Entity(EntityRef::Of(node)) => {
            let id = resolve_node(store, node)?;
            let entity = entity_of(store, id)?;
            show_entity(store, entity)
        }
        Statement::Path { from, to } => path(store, from, to),
        Statement::Explain { left, right } => explain(store, left, right),
        Statement::Conflicts { kind, limit } => conflicts(store, kind.as_deref(), *limit),
        Statement::Stats => stats(store),
    }
}

/// Returns the node id a reference names.
fn resolve_node(store: &Store, node: &NodeRef) -> Result<NodeId> {
    match node {
        NodeRef::Record { source, key } => store
            .find_record(source, key)?
            .ok_or_else(|| Error::NotFound(format!("record {source}/{key}"))),
        NodeRef::Identifier { kind, value } => {
            let parsed = IdentifierKind::new(kind)
                .ok_or_else(|| Error::NotFound(format!("identifier kind {kind:?}")))?;
            store.find_identifier(&parsed, value)?.ok_or_else(|| {
                Error::NotFound(format!(
                    "identifier {kind} {value:?} (values are matched after normalization)"
                ))
            })
        }
    }
}

fn load(store: &Store, id: NodeId) -> Result<Node> {
    store
        .node(id)?
        .ok_or_else(|| Error::corrupt("node", format!("node {id} is indexed but missing")))
}

fn entity_of(store: &Store, id: NodeId) -> Result<EntityId> {
    match load(store, id)? {
        Node::Record(record) => Ok(record.entity),
        Node::Identifier(identifier) => identifier.entity.ok_or_else(|| {
            Error::Query(format!(
                "identifier {} {:?} belongs to no entity: none of its edges is confident enough \
                 to link it; use `find` to see it or `path` to see its records",
                identifier.kind, identifier.value
            ))
        }),
    }
}

fn load_entity(store: &Store, id: EntityId) -> Result<Entity> {
    store
        .entity(id)?
        .ok_or_else(|| Error::NotFound(format!("entity {id}")))
}

/// Describes a node in one line: `record crm/C-1` or `email ann@example.com`.
pub fn describe(node: &Node) -> String {
    match node {
        Node::Record(record) => format!("record {}/{}", record.source, record.key),
        Node::Identifier(identifier) => format!("{} {}", identifier.kind, identifier.value),
    }
}

fn node_json(id: NodeId, node: &Node) -> Value {
    match node {
        Node::Record(record) => json!({
            "node": id,
            "type": "record",
            "source": record.source,
            "key": record.key,
            "entity": record.entity,
            "attributes": record.attributes.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect::<serde_json::Map<_, _>>(),
        }),
        Node::Identifier(identifier) => json!({
            "node": id,
            "type": "identifier",
            "kind": identifier.kind.as_str(),
            "value": identifier.value,
            "raw": identifier.raw,
            "entity": identifier.entity,
            "records": identifier.records.len(),
        }),
    }
}

fn find(store: &Store, node: &NodeRef) -> Result<QueryOutput> {
    let id = resolve_node(store, node)?;
    let found = load(store, id)?;
    let entity = match found.entity() {
        Some(entity) => Some(load_entity(store, entity)?),
        None => None,
    };
    let mut table = Table::new(
        "node",
        &["node", "entity", "score", "tier", "records", "conflicts"],
    );
    table.push(vec![
        describe(&found),
        entity.as_ref().map_or("none".into(), |e| e.id.to_string()),
        entity
            .as_ref()
            .map_or("-".into(), |e| format!("{:.3}", e.score)),
        entity.as_ref().map_or("-".into(), |e| e.tier.to_string()),
        entity
            .as_ref()
            .map_or("-".into(), |e| count_records(store, e).to_string()),
        entity
            .as_ref()
            .map_or("-".into(), |e| e.conflicts.len().to_string()),
    ]);
    let json = json!({
        "node": node_json(id, &found),
        "entity": entity.as_ref().map(|e| entity_summary_json(store, e)),
    });
    Ok(QueryOutput {
        tables: vec![table],
        json,
    })
}

fn count_records(store: &Store, entity: &Entity) -> usize {
    entity
        .members
        .iter()
        .filter(|&id| matches!(store.node(id), Ok(Some(Node::Record(_)))))
        .count()
}

fn entity_summary_json(store: &Store, entity: &Entity) -> Value {
    json!({
        "id": entity.id,
        "score": entity.score,
        "tier": entity.tier.to_string(),
        "records": count_records(store, entity),
        "conflicts": entity.conflicts.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

fn show_entity(store: &Store, id: EntityId) -> Result<QueryOutput> {
    let entity = load_entity(store, id)?;
    let mut records = Table::new("records", &["node", "source", "key", "attributes"]);
    let mut identifiers = Table::new("identifiers", &["node", "kind", "value", "records"]);
    let mut record_json = Vec::new();
    let mut identifier_json = Vec::new();
    for member in &entity.members {
        let node = load(store, member)?;
        match &node {
            Node::Record(record) => {
                let attributes: Vec<String> = record
                    .attributes
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                records.push(vec![
                    member.to_string(),
                    record.source.clone(),
                    record.key.clone(),
                    attributes.join(", "),
                ]);
                record_json.push(node_json(member, &node));
            }
            Node::Identifier(identifier) => {
                identifiers.push(vec![
                    member.to_string(),
                    identifier.kind.to_string(),
                    identifier.value.clone(),
                    identifier.records.len().to_string(),
                ]);
                identifier_json.push(node_json(member, &node));
            }
        }
    }
    let mut summary = Table::new(
        "entity",
        &["entity", "score", "tier", "records", "identifiers"],
    );
    summary.push(vec![
        entity.id.to_string(),
        format!("{:.3}", entity.score),
        entity.tier.to_string(),
        records.rows.len().to_string(),
        identifiers.rows.len().to_string(),
    ]);
    let mut conflicts = Table::new("conflicts", &["conflict"]);
    for conflict in &entity.conflicts {
        conflicts.push(vec![conflict.to_string()]);
    }
    let json = json!({
        "entity": entity_summary_json(store, &entity),
        "records": record_json,
        "identifiers": identifier_json,
    });
    let mut tables = vec![summary, records, identifiers];
    if !conflicts.rows.is_empty() {
        tables.push(conflicts);
    }
    Ok(QueryOutput { tables, json })
}

/// A search state: the best path product found so far to `node`.
#[derive(PartialEq)]
struct Candidate {
    strength: f64,
    hops: usize,
    node: NodeId,
}

impl Eq for Candidate {}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.strength
            .total_cmp(&other.strength)
            .then_with(|| other.hops.cmp(&self.hops))
            .then_with(|| other.node.cmp(&self.node))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Returns the neighbours of a node with the weight and evidence of each edge.
fn neighbours(store: &Store, node: &Node, id: NodeId) -> Result<Vec<(NodeId, f32, String)>> {
    match node {
        Node::Record(record) => Ok(record
            .edges
            .iter()
            .map(|edge| (edge.to, edge.weight, edge.evidence.to_string()))
            .collect()),
        Node::Identifier(identifier) => {
            let mut found = Vec::new();
            for record_id in &identifier.records {
                if let Node::Record(record) = load(store, record_id)? {
                    if let Some(edge) = record.edges.iter().find(|edge| edge.to == id) {
                        found.push((record_id, edge.weight, edge.evidence.to_string()));
                    }
                }
            }
            Ok(found)
        }
    }
}

/// The edge a path search reached a node through: previous node, weight, evidence.
type Step = (NodeId, f32, String);

/// Finds the path whose product of edge weights is highest, fewest hops on ties.
fn path(store: &Store, from: &NodeRef, to: &NodeRef) -> Result<QueryOutput> {
    let start = resolve_node(store, from)?;
    let goal = resolve_node(store, to)?;
    let mut best: HashMap<NodeId, (f64, Option<Step>)> = HashMap::new();
    let mut heap = BinaryHeap::new();
    best.insert(start, (1.0, None));
    heap.push(Candidate {
        strength: 1.0,
        hops: 0,
        node: start,
    });
    let mut found = start == goal;
    while let Some(Candidate {
        strength,
        hops,
        node,
    }) = heap.pop()
    {
        if node == goal {
            found = true;
            break;
        }
        if strength < best.get(&node).map_or(0.0, |b| b.0) {
            continue;
        }
        if best.len() > MAX_PATH_NODES {
            return Err(Error::Query(format!(
                "no path found within {MAX_PATH_NODES} visited nodes; the nodes are too far apart"
            )));
        }
        let current = load(store, node)?;
        for (next, weight, evidence) in neighbours(store, &current, node)? {
            let through = strength * f64::from(weight);
            if through > best.get(&next).map_or(0.0, |b| b.0) {
                best.insert(next, (through, Some((node, weight, evidence))));
                heap.push(Candidate {
                    strength: through,
                    hops: hops + 1,
                    node: next,
                });
            }
        }
    }
    if !found {
        return Err(Error::Query(format!(
            "no path between {from} and {to}: no chain of edges connects them"
        )));
    }

    let mut steps = Vec::new();
    let mut at = goal;
    while let Some((_, Some((previous, weight, evidence)))) = best.get(&at) {
        steps.push((*previous, at, *weight, evidence.clone()));
        at = *previous;
    }
    steps.reverse();
    let mut table = Table::new("path", &["from", "evidence", "weight", "to"]);
    let mut steps_json = Vec::new();
    for (a, b, weight, evidence) in &steps {
        let (a_text, b_text) = (describe(&load(store, *a)?), describe(&load(store, *b)?));
        table.push(vec![
            a_text.clone(),
            evidence.clone(),
            format!("{weight:.3}"),
            b_text.clone(),
        ]);
        steps_json
            .push(json!({"from": a_text, "evidence": evidence, "weight": weight, "to": b_text}));
    }
    let strength = best.get(&goal).map_or(1.0, |b| b.0);
    Ok(QueryOutput {
        tables: vec![table],
        json: json!({ "strength": strength, "steps": steps_json }),
    })
}

/// Explains the match weight of two records under the stored match model.
fn explain(store: &Store, left: &NodeRef, right: &NodeRef) -> Result<QueryOutput> {
    let model = store.match_model()?.ok_or_else(|| {
        Error::Query(
            "no match model in this store: run `idgraph match STORE` before `explain`".to_owned(),
        )
    })?;
    let mut records = Vec::new();
    for node in [left, right] {
        let id = resolve_node(store, node)?;
        match load(store, id)? {
            Node::Record(record) => records.push((id, record)),
            Node::Identifier(_) => {
                return Err(Error::NotFound(format!("a record named {node}")));
            }
        }
    }
    let ((left_id, a), (right_id, b)) = (&records[0], &records[1]);

    let value = |record: &crate::model::RecordNode, column: Option<&String>| {
        column
            .and_then(|column| record.attribute(column))
            .map(str::to_lowercase)
    };
    let comparisons = &model.config.comparisons;
    let left_values: Vec<Option<String>> = comparisons
        .iter()
        .map(|c| value(a, Some(&c.column)))
        .collect();
    let right_values: Vec<Option<String>> = comparisons
        .iter()
        .map(|c| value(b, Some(&c.column)))
        .collect();
    let pattern: Vec<Option<u8>> = comparisons
        .iter()
        .enumerate()
        .map(|(c, comparison)| {
            let (left_swap, right_swap) = (
                value(a, comparison.swap_with.as_ref()),
                value(b, comparison.swap_with.as_ref()),
            );
            comparison.level(
                left_values[c].as_deref(),
                right_values[c].as_deref(),
                left_swap.as_deref(),
                right_swap.as_deref(),
            )
        })
        .collect();
    let (weight, outcomes) = model.explain(&pattern, |c| {
        left_values[c].as_deref().or(right_values[c].as_deref())
    });
    let probability = crate::matching::fellegi_sunter::probability(weight);

    let mut table = Table::new(
        "comparisons",
        &["comparison", "left", "right", "level", "weight"],
    );
    let shown = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_owned());
    for (c, outcome) in outcomes.iter().enumerate() {
        table.push(vec![
            outcome.name.clone(),
            shown(&left_values[c]),
            shown(&right_values[c]),
            outcome.level.clone(),
            format!("{:+.2}", outcome.weight),
        ]);
    }
    let prior = model.parameters.prior_weight();
    let mut summary = Table::new(
        "match",
        &["prior weight", "total weight", "probability", "linked"],
    );
    let linked = a
        .edges
        .iter()
        .any(|edge| edge.to == *right_id && edge.weight >= store.config().link_threshold);
    summary.push(vec![
        format!("{prior:+.2}"),
        format!("{weight:+.2}"),
        format!("{probability:.4}"),
        if a.entity == b.entity {
            format!("same entity {}", a.entity)
        } else {
            "different entities".to_owned()
        },
    ]);
    let json = json!({
        "left": left_id,
        "right": right_id,
        "prior_weight": prior,
        "weight": weight,
        "probability": probability,
        "threshold": model.config.threshold,
        "edge": linked,
        "same_entity": a.entity == b.entity,
        "comparisons": outcomes,
    });
    Ok(QueryOutput {
        tables: vec![table, summary],
        json,
    })
}

fn conflicts(store: &Store, kind: Option<&str>, limit: Option<usize>) -> Result<QueryOutput> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    let mut table = Table::new(
        "conflicts",
        &["entity", "score", "tier", "kind", "severity", "conflict"],
    );
    let mut rows_json = Vec::new();
    for item in store.entities() {
        let entity = item?;
        for conflict in &entity.conflicts {
            // `kind` names a conflict kind (such as `hub`) or an identifier kind.
            let matches = kind.is_none_or(|kind| {
                kind == conflict.kind_name()
                    || conflict
                        .identifier_kind()
                        .is_some_and(|found| found.as_str() == kind)
            });
            if !matches {
                continue;
            }
            if table.rows.len() < limit {
                table.push(vec![
                    entity.id.to_string(),
                    format!("{:.3}", entity.score),
                    entity.tier.to_string(),
                    conflict.kind_name().to_owned(),
                    conflict.severity().to_string(),
                    conflict.to_string(),
                ]);
                rows_json.push(json!({
                    "entity": entity.id,
                    "score": entity.score,
                    "tier": entity.tier.to_string(),
                    "kind": conflict.kind_name(),
                    "severity": conflict.severity().to_string(),
                    "conflict": conflict,
                }));
            }
        }
    }
    Ok(QueryOutput {
        tables: vec![table],
        json: Value::Array(rows_json),
    })
}

fn stats(store: &Store) -> Result<QueryOutput> {
    let counters = store.counters();
    let mut tiers: HashMap<Tier, u64> = HashMap::new();
    let mut with_conflicts = 0u64;
    let mut largest = (0u64, None);
    for item in store.entities() {
        let entity = item?;
        *tiers.entry(entity.tier).or_default() += 1;
        with_conflicts += u64::from(!entity.conflicts.is_empty());
        let size = entity.members.len();
        if size > largest.0 {
            largest = (size, Some(entity.id));
        }
    }
    let tier = |t| tiers.get(&t).copied().unwrap_or(0);
    let mut table = Table::new("stats", &["statistic", "value"]);
    let rows = [
        ("records", counters.records.to_string()),
        ("identifiers", counters.identifiers.to_string()),
        ("edges", counters.edges.to_string()),
        ("entities", counters.entities.to_string()),
        ("entities in tier high", tier(Tier::High).to_string()),
        ("entities in tier medium", tier(Tier::Medium).to_string()),
        ("entities in tier low", tier(Tier::Low).to_string()),
        ("entities with conflicts", with_conflicts.to_string()),
        (
            "largest entity (nodes)",
            largest
                .1
                .map_or("-".into(), |id| format!("{} (entity {id})", largest.0)),
        ),
    ];
    for (name, value) in rows {
        table.push(vec![name.to_owned(), value]);
    }
    let sources: Vec<String> = store.sources()?.into_iter().map(|s| s.name).collect();
    table.push(vec!["sources".to_owned(), sources.join(", ")]);
    let json = json!({
        "records": counters.records,
        "identifiers": counters.identifiers,
        "edges": counters.edges,
        "entities": counters.entities,
        "tiers": {"high": tier(Tier::High), "medium": tier(Tier::Medium), "low": tier(Tier::Low)},
        "entities_with_conflicts": with_conflicts,
        "largest_entity": {"entity": largest.1, "nodes": largest.0},
        "sources": sources,
    });
    Ok(QueryOutput {
        tables: vec![table],
        json,
    })
}
