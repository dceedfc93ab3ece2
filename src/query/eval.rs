//! Evaluation of parsed statements against a [`Store`], producing a [`QueryOutput`].

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};

use roaring::RoaringBitmap;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::model::{AuditAction, Conflict, Entity, EntityId, IdentifierKind, Node, NodeId, Tier};
use crate::query::ast::{EntityOrder, EntityRef, NodeRef, Statement};
use crate::resolve::SplitPlan;
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

/// Runs one statement that only reads the store.
///
/// # Errors
///
/// Returns [`Error::Query`] for a statement that needs write access (see
/// [`Statement::needs_write`]), which [`execute_mut`] runs. Otherwise returns
/// [`Error::NotFound`] when a named node or entity does not exist, and store errors.
pub fn execute(store: &Store, statement: &Statement) -> Result<QueryOutput> {
    match statement {
        Statement::Find(node) => find(store, node),
        Statement::Entity(entity) => show_entity(store, entity_id_of(store, entity)?),
        Statement::Path { from, to } => path(store, from, to),
        Statement::Explain { left, right } => explain(store, left, right),
        Statement::Conflicts { kind, limit } => conflicts(store, kind.as_deref(), *limit),
        Statement::Stats => stats(store),
        Statement::Entities {
            tier,
            conflict,
            min_records,
            order,
            limit,
        } => {
            let filter = EntityFilter {
                tier: *tier,
                conflict: conflict.as_deref(),
                min_records: min_records.unwrap_or(0),
            };
            let order = order.unwrap_or(EntityOrder::Score);
            list_entities(store, &filter, order, limit.unwrap_or(DEFAULT_LIMIT))
        }
        Statement::Why(entity) => why(store, entity_id_of(store, entity)?),
        Statement::Bridges { limit } => bridges(store, limit.unwrap_or(DEFAULT_LIMIT)),
        Statement::Hubs { kind, limit } => {
            hubs(store, kind.as_deref(), limit.unwrap_or(DEFAULT_LIMIT))
        }
        Statement::Audit { entity, limit } => audit(store, *entity, limit.unwrap_or(DEFAULT_LIMIT)),
        Statement::Link { .. } | Statement::Unlink { .. } | Statement::Split { .. } => {
            Err(Error::Query(format!(
                "`{statement}` needs write access to the store, which this caller opened for \
                 reading only, so run it with `idgraph query` or `idgraph run`"
            )))
        }
    }
}

/// Runs any statement, including those that change the store: `link`, `unlink` and
/// `split ... apply` commit their change before returning.
///
/// # Errors
///
/// As [`execute`], and [`Error::Query`] when a reason is empty or the store rejects a
/// change, such as a link of a record with itself.
pub fn execute_mut(store: &mut Store, statement: &Statement) -> Result<QueryOutput> {
    match statement {
        Statement::Link {
            left,
            right,
            reason,
        } => set_override(store, left, right, true, reason),
        Statement::Unlink {
            left,
            right,
            reason,
        } => set_override(store, left, right, false, reason),
        Statement::Split { entity, apply } => {
            let id = entity_id_of(store, entity)?;
            split(store, id, apply.as_deref())
        }
        _ => execute(store, statement),
    }
}

/// Returns the id of the entity a reference names. An entity given by id is not checked.
fn entity_id_of(store: &Store, entity: &EntityRef) -> Result<EntityId> {
    match entity {
        EntityRef::Id(id) => Ok(*id),
        EntityRef::Of(node) => {
            let id = resolve_node(store, node)?;
            entity_of(store, id)
        }
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
    let mut tables = vec![table];
    let mut edges_json = Vec::new();
    if let Node::Record(record) = &found {
        // A record's evidence, with when it was first and last seen and how often.
        let mut edges = Table::new(
            "evidence",
            &[
                "evidence",
                "to",
                "weight",
                "first seen",
                "last seen",
                "count",
            ],
        );
        for edge in &record.edges {
            let to = describe(&load(store, edge.to)?);
            edges.push(vec![
                edge.evidence.to_string(),
                to.clone(),
                format!("{:.3}", edge.weight),
                format_time(edge.first_seen),
                format_time(edge.last_seen),
                edge.count.to_string(),
            ]);
            edges_json.push(json!({
                "evidence": edge.evidence.to_string(),
                "to": edge.to,
                "to_description": to,
                "weight": edge.weight,
                "source": edge.source,
                "first_seen": edge.first_seen,
                "last_seen": edge.last_seen,
                "count": edge.count,
            }));
        }
        tables.push(edges);
    }
    let json = json!({
        "node": node_json(id, &found),
        "entity": entity.as_ref().map(|e| entity_summary_json(store, e)),
        "evidence": edges_json,
    });
    Ok(QueryOutput { tables, json })
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
        "conflicts": entity
            .conflicts
            .iter()
            // A failed read only costs the record names, so the summary still prints.
            .map(|conflict| {
                conflict_text(store, conflict).unwrap_or_else(|_| conflict.to_string())
            })
            .collect::<Vec<_>>(),
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
        conflicts.push(vec![conflict_text(store, conflict)?]);
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
            if !kind.is_none_or(|kind| conflict_matches(conflict, kind)) {
                continue;
            }
            if table.rows.len() < limit {
                table.push(vec![
                    entity.id.to_string(),
                    format!("{:.3}", entity.score),
                    entity.tier.to_string(),
                    conflict.kind_name().to_owned(),
                    conflict.severity().to_string(),
                    conflict_text(store, conflict)?,
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

/// Rejects a reason that is empty or only white space, which the parser also rejects, for
/// statements built without it.
fn check_reason(reason: &str) -> Result<()> {
    if reason.trim().is_empty() {
        return Err(Error::Query(
            "link, unlink and split need a reason after `because` that is not empty, such \
             as `because \"same passport number\"`"
                .to_owned(),
        ));
    }
    Ok(())
}

/// Links or unlinks two records by hand and shows the entity of each afterwards.
fn set_override(
    store: &mut Store,
    left: &NodeRef,
    right: &NodeRef,
    link: bool,
    reason: &str,
) -> Result<QueryOutput> {
    check_reason(reason)?;
    let a = resolve_node(store, left)?;
    let b = resolve_node(store, right)?;
    if link {
        store.link(a, b, reason)?;
    } else {
        store.unlink(a, b, reason)?;
    }

    let (title, action) = if link {
        ("linked", "link")
    } else {
        ("unlinked", "unlink")
    };
    let mut table = Table::new(title, &["record", "entity"]);
    let mut records_json = Vec::new();
    for id in [a, b] {
        let node = load(store, id)?;
        let entity = node.entity();
        table.push(vec![
            describe(&node),
            entity.map_or("none".into(), |e| e.to_string()),
        ]);
        records_json.push(json!({"node": id, "record": describe(&node), "entity": entity}));
    }
    let json = json!({"action": action, "reason": reason, "records": records_json});
    Ok(QueryOutput {
        tables: vec![table],
        json,
    })
}

/// Formats a Unix time in seconds as RFC 3339 in UTC, or as the plain number of seconds
/// when it is outside the range that jiff supports (years -9999 to 9999).
fn format_time(seconds: i64) -> String {
    match jiff::Timestamp::from_second(seconds) {
        Ok(time) => time.to_string(),
        Err(_) => seconds.to_string(),
    }
}

/// Returns whether an audit event is about entity `id`: it names the id, or one of its
/// records is in `members`, the entity's members now.
fn names_entity(action: &AuditAction, id: EntityId, members: &RoaringBitmap) -> bool {
    match action {
        AuditAction::Merged { into, from } => *into == id || from.contains(&id),
        AuditAction::Split { from, into } => *from == id || into.contains(&id),
        AuditAction::HeldBack {
            records: (a, b), ..
        }
        | AuditAction::Linked {
            records: (a, b), ..
        }
        | AuditAction::Unlinked {
            records: (a, b), ..
        } => members.contains(*a) || members.contains(*b),
    }
}

fn audit(store: &Store, entity: Option<EntityId>, limit: usize) -> Result<QueryOutput> {
    // An entity that no longer exists, such as one merged into another, still has the
    // events that name its id.
    let members = match entity {
        Some(id) => store.entity(id)?.map(|e| e.members).unwrap_or_default(),
        None => RoaringBitmap::new(),
    };
    let mut table = Table::new("audit", &["time", "event"]);
    let mut rows_json = Vec::new();
    for event in store.audit_log()?.into_iter().rev() {
        if table.rows.len() >= limit {
            break;
        }
        if entity.is_some_and(|id| !names_entity(&event.action, id, &members)) {
            continue;
        }
        let time = format_time(event.at);
        let text = action_text(store, &event.action)?;
        table.push(vec![time.clone(), text.clone()]);
        rows_json.push(json!({
            "at": event.at,
            "time": time,
            "event": text,
            "action": event.action,
        }));
    }
    Ok(QueryOutput {
        tables: vec![table],
        json: Value::Array(rows_json),
    })
}

/// Returns the text of a conflict, naming records by source and key rather than node id.
fn conflict_text(store: &Store, conflict: &Conflict) -> Result<String> {
    let Conflict::HeldBack {
        record,
        other,
        confidence,
        reason,
        ..
    } = conflict
    else {
        return Ok(conflict.to_string());
    };
    Ok(format!(
        "link from {} to {} (confidence {confidence:.2}) held back: {reason}",
        describe_id(store, *record)?,
        describe_id(store, *other)?
    ))
}

/// Returns the text of an audit event, naming records by source and key rather than node id.
fn action_text(store: &Store, action: &AuditAction) -> Result<String> {
    let (verb, records, reason) = match action {
        AuditAction::HeldBack { records, reason } => ("held back the link of", records, reason),
        AuditAction::Linked { records, reason } => ("operator linked", records, reason),
        AuditAction::Unlinked { records, reason } => ("operator unlinked", records, reason),
        AuditAction::Merged { .. } | AuditAction::Split { .. } => return Ok(action.to_string()),
    };
    Ok(format!(
        "{verb} {} and {}: {reason}",
        describe_id(store, records.0)?,
        describe_id(store, records.1)?
    ))
}

/// Describes node `id` as [`describe`] does, or as `node ID` when it no longer exists.
fn describe_id(store: &Store, id: NodeId) -> Result<String> {
    Ok(match store.node(id)? {
        Some(node) => describe(&node),
        None => format!("node {id}"),
    })
}

fn hubs(store: &Store, kind: Option<&str>, limit: usize) -> Result<QueryOutput> {
    let mut table = Table::new("hubs", &["kind", "value", "degree", "hub degree"]);
    let mut rows_json = Vec::new();
    for hub in store.hubs()? {
        if table.rows.len() >= limit {
            break;
        }
        if kind.is_some_and(|kind| kind != hub.kind.as_str()) {
            continue;
        }
        table.push(vec![
            hub.kind.to_string(),
            hub.value.clone(),
            hub.degree.to_string(),
            hub.hub_degree.to_string(),
        ]);
        rows_json.push(json!({
            "node": hub.id,
            "kind": hub.kind.as_str(),
            "value": hub.value,
            "degree": hub.degree,
            "hub_degree": hub.hub_degree,
        }));
    }
    Ok(QueryOutput {
        tables: vec![table],
        json: Value::Array(rows_json),
    })
}

/// Lists the held-back links of all entities. A held link is a conflict of the entities on
/// both of its sides, so each pair of records is listed once, under the lower entity id.
fn bridges(store: &Store, limit: usize) -> Result<QueryOutput> {
    let mut table = Table::new(
        "bridges",
        &[
            "entity",
            "record",
            "other record",
            "other entity",
            "confidence",
            "rule",
            "reason",
        ],
    );
    let mut rows_json = Vec::new();
    let mut listed: HashSet<(NodeId, NodeId)> = HashSet::new();
    'entities: for item in store.entities() {
        let entity = item?;
        for conflict in &entity.conflicts {
            let Conflict::HeldBack {
                record,
                other,
                confidence,
                rule,
                reason,
                ..
            } = conflict
            else {
                continue;
            };
            if !listed.insert(((*record).min(*other), (*record).max(*other))) {
                continue;
            }
            if table.rows.len() >= limit {
                break 'entities;
            }
            let record_text = describe(&load(store, *record)?);
            let other_node = load(store, *other)?;
            let other_text = describe(&other_node);
            let other_entity = other_node.entity();
            table.push(vec![
                entity.id.to_string(),
                record_text.clone(),
                other_text.clone(),
                other_entity.map_or("none".into(), |e| e.to_string()),
                format!("{confidence:.3}"),
                rule.clone(),
                reason.clone(),
            ]);
            rows_json.push(json!({
                "entity": entity.id,
                "record": {"node": record, "record": record_text},
                "other": {"node": other, "record": other_text, "entity": other_entity},
                "confidence": confidence,
                "rule": rule,
                "reason": reason,
            }));
        }
    }
    Ok(QueryOutput {
        tables: vec![table],
        json: Value::Array(rows_json),
    })
}

/// The conditions of the `entities` listing.
struct EntityFilter<'a> {
    tier: Option<Tier>,
    /// A conflict kind or identifier kind, as [`conflict_matches`] takes it.
    conflict: Option<&'a str>,
    min_records: usize,
}

impl EntityFilter<'_> {
    fn matches(&self, entity: &Entity, records: usize) -> bool {
        self.tier.is_none_or(|tier| tier == entity.tier)
            && self.conflict.is_none_or(|kind| {
                entity
                    .conflicts
                    .iter()
                    .any(|conflict| conflict_matches(conflict, kind))
            })
            && records >= self.min_records
    }
}

/// Returns whether `conflict` is of `kind`: a conflict kind (such as `hub`) or an
/// identifier kind that the conflict is about.
fn conflict_matches(conflict: &Conflict, kind: &str) -> bool {
    kind == conflict.kind_name()
        || conflict
            .identifier_kind()
            .is_some_and(|found| found.as_str() == kind)
}

/// Returns the number of records of each entity, from one pass over the records.
fn record_counts(store: &Store) -> Result<HashMap<EntityId, usize>> {
    let mut counts = HashMap::new();
    for item in store.records() {
        let (_, record) = item?;
        *counts.entry(record.entity).or_default() += 1;
    }
    Ok(counts)
}

/// One row of the `entities` listing.
struct EntityRow {
    id: EntityId,
    records: usize,
    score: f32,
    tier: Tier,
    conflicts: usize,
}

fn list_entities(
    store: &Store,
    filter: &EntityFilter<'_>,
    order: EntityOrder,
    limit: usize,
) -> Result<QueryOutput> {
    let counts = record_counts(store)?;
    let mut rows = Vec::new();
    for item in store.entities() {
        let entity = item?;
        let records = counts.get(&entity.id).copied().unwrap_or(0);
        if filter.matches(&entity, records) {
            rows.push(EntityRow {
                id: entity.id,
                records,
                score: entity.score,
                tier: entity.tier,
                conflicts: entity.conflicts.len(),
            });
        }
    }
    match order {
        EntityOrder::Score => {
            rows.sort_by(|a, b| a.score.total_cmp(&b.score).then(a.id.cmp(&b.id)));
        }
        EntityOrder::Size => rows.sort_by(|a, b| b.records.cmp(&a.records).then(a.id.cmp(&b.id))),
    }
    rows.truncate(limit);

    let mut table = Table::new(
        "entities",
        &["entity", "records", "score", "tier", "conflicts"],
    );
    let mut rows_json = Vec::new();
    for row in &rows {
        table.push(vec![
            row.id.to_string(),
            row.records.to_string(),
            format!("{:.3}", row.score),
            row.tier.to_string(),
            row.conflicts.to_string(),
        ]);
        rows_json.push(json!({
            "id": row.id,
            "records": row.records,
            "score": row.score,
            "tier": row.tier.to_string(),
            "conflicts": row.conflicts,
        }));
    }
    Ok(QueryOutput {
        tables: vec![table],
        json: Value::Array(rows_json),
    })
}

/// Shows the parts of an entity's score and the rule that set its tier.
fn why(store: &Store, id: EntityId) -> Result<QueryOutput> {
    let entity = load_entity(store, id)?;
    let factors = &entity.factors;
    let records = count_records(store, &entity);

    let weakest_records = match factors.weakest_pair {
        Some((a, b)) => Some((describe(&load(store, a)?), describe(&load(store, b)?))),
        None => None,
    };
    let weakest_detail = match (&weakest_records, records) {
        (Some((a, b)), _) => format!("{a} and {b}"),
        (None, 0 | 1) => "one record, so no link is needed".to_owned(),
        (None, _) => "the links do not connect all records".to_owned(),
    };
    let kinds = if factors.kinds.is_empty() {
        "none".to_owned()
    } else {
        factors.kinds.join(", ")
    };
    let support_detail = if records < 2 {
        "one record"
    } else if factors.kinds.len() >= 2 {
        "two kinds of evidence or more"
    } else {
        "one kind of evidence"
    };
    let conflicts_detail = match entity.conflicts.len() {
        0 => "no conflicts".to_owned(),
        1 => "the severity factor of the one conflict".to_owned(),
        count => format!("product of the severity factors of {count} conflicts"),
    };
    let mut parts = Table::new("score", &["factor", "value", "detail"]);
    let rows = [
        (
            "weakest link",
            format!("{:.3}", factors.weakest_link),
            weakest_detail,
        ),
        (
            "evidence kinds",
            kinds,
            "kinds of evidence among the links".to_owned(),
        ),
        (
            "support",
            format!("{:.3}", factors.support),
            support_detail.to_owned(),
        ),
        (
            "freshness",
            format!("{:.3}", factors.freshness),
            "lowest age factor of the evidence, already in the link confidences".to_owned(),
        ),
        (
            "conflicts",
            format!("{:.3}", factors.conflicts),
            conflicts_detail,
        ),
        (
            "score",
            format!("{:.3}", entity.score),
            "weakest link × support × conflicts".to_owned(),
        ),
    ];
    for (name, value, detail) in rows {
        parts.push(vec![name.to_owned(), value, detail]);
    }

    let mut conflicts = Table::new("conflicts", &["severity", "kind", "factor", "conflict"]);
    let mut conflicts_json = Vec::new();
    for conflict in &entity.conflicts {
        let severity = conflict.severity();
        conflicts.push(vec![
            severity.to_string(),
            conflict.kind_name().to_owned(),
            format!("{:.2}", severity.score_factor()),
            conflict_text(store, conflict)?,
        ]);
        conflicts_json.push(json!({
            "severity": severity.to_string(),
            "kind": conflict.kind_name(),
            "factor": severity.score_factor(),
            "conflict": conflict_text(store, conflict)?,
        }));
    }

    let (set_by, explanation) = tier_explanation(store, &entity);
    let cutoffs = store.config().tiers;
    let mut tier = Table::new("tier", &["tier", "high from", "medium from", "set by"]);
    tier.push(vec![
        entity.tier.to_string(),
        cutoffs.high.to_string(),
        cutoffs.medium.to_string(),
        explanation.clone(),
    ]);

    let json = json!({
        "entity": entity.id,
        "score": entity.score,
        "tier": entity.tier.to_string(),
        "records": records,
        "factors": factors,
        "weakest_records": weakest_records.map(|(a, b)| vec![a, b]),
        "conflicts": conflicts_json,
        "cutoffs": {"high": cutoffs.high, "medium": cutoffs.medium},
        "set_by": set_by,
        "explanation": explanation,
    });
    Ok(QueryOutput {
        tables: vec![parts, conflicts, tier],
        json,
    })
}

/// Returns what set an entity's tier, `cutoff` or `conflict`, and a sentence that explains it.
fn tier_explanation(store: &Store, entity: &Entity) -> (&'static str, String) {
    let cutoffs = store.config().tiers;
    let score = entity.score;
    let by_score = crate::qualify::tier_of(store.config(), score, &[]);
    let most_severe = entity.conflicts.iter().max_by_key(|c| c.severity());
    if let Some(conflict) = most_severe.filter(|_| entity.tier < by_score) {
        let sentence = format!(
            "the most severe conflict has {} severity and lowers the tier from {by_score}, \
             which the score {score:.3} alone gives, to {}: {conflict}",
            conflict.severity(),
            entity.tier
        );
        return ("conflict", sentence);
    }
    let sentence = match by_score {
        Tier::High => format!(
            "the score {score:.3} is at or above the high cut-off {}, so the tier is high",
            cutoffs.high
        ),
        Tier::Medium => format!(
            "the score {score:.3} is at or above the medium cut-off {} and below the high \
             cut-off {}, so the tier is medium",
            cutoffs.medium, cutoffs.high
        ),
        Tier::Low => format!(
            "the score {score:.3} is below the medium cut-off {}, so the tier is low",
            cutoffs.medium
        ),
    };
    ("cutoff", sentence)
}

/// Previews a split of entity `id` at its weakest link, or applies it when `apply` has a
/// reason.
fn split(store: &mut Store, id: EntityId, apply: Option<&str>) -> Result<QueryOutput> {
    let plan = match apply {
        Some(reason) => {
            check_reason(reason)?;
            store.split(id, reason)?
        }
        None => store.split_preview(id)?,
    };
    split_output(store, &plan, apply)
}

fn split_output(store: &Store, plan: &SplitPlan, apply: Option<&str>) -> Result<QueryOutput> {
    let (a, b) = plan.unlink;
    let unlink = format!(
        "{} and {}",
        describe(&load(store, a)?),
        describe(&load(store, b)?)
    );
    let mut status = if apply.is_some() {
        "applied".to_owned()
    } else {
        "preview, nothing stored".to_owned()
    };
    if plan.parts.len() == 1 {
        status.push_str(", and the entity holds together without this link");
    }
    let mut summary = Table::new(
        "split",
        &["entity", "unlink", "confidence", "parts", "status"],
    );
    summary.push(vec![
        plan.entity.to_string(),
        unlink.clone(),
        format!("{:.3}", plan.confidence),
        plan.parts.len().to_string(),
        status.clone(),
    ]);

    // After a split is applied, each record's entity shows where its part went.
    let columns: &[&str] = if apply.is_some() {
        &["part", "record", "entity"]
    } else {
        &["part", "record"]
    };
    let mut parts = Table::new("parts", columns);
    let mut parts_json = Vec::new();
    for (index, part) in plan.parts.iter().enumerate() {
        let mut part_json = Vec::new();
        for &record in part {
            let node = load(store, record)?;
            let mut row = vec![(index + 1).to_string(), describe(&node)];
            if apply.is_some() {
                row.push(node.entity().map_or("none".into(), |e| e.to_string()));
            }
            parts.push(row);
            part_json.push(json!({
                "node": record,
                "record": describe(&node),
                "entity": apply.and(node.entity()),
            }));
        }
        parts_json.push(Value::Array(part_json));
    }

    // Records that go into an entity together with records of other entities.
    let mut moved = Table::new("moved", &["record", "entity", "joins records of"]);
    let mut moved_json = Vec::new();
    for record in &plan.moved {
        let described = describe(&load(store, record.record)?);
        let joined: Vec<String> = record.joined.iter().map(ToString::to_string).collect();
        let noun = if joined.len() == 1 {
            "entity"
        } else {
            "entities"
        };
        moved.push(vec![
            described.clone(),
            record.entity.to_string(),
            format!("{noun} {}", joined.join(", ")),
        ]);
        moved_json.push(json!({
            "node": record.record,
            "record": described,
            "entity": record.entity,
            "joined": record.joined,
        }));
    }

    let json = json!({
        "entity": plan.entity,
        "unlink": {"records": [a, b], "described": unlink, "confidence": plan.confidence},
        "parts": parts_json,
        "moved": moved_json,
        "applied": apply.is_some(),
        "reason": apply,
        "status": status,
    });
    let mut tables = vec![summary, parts];
    if !moved.rows.is_empty() {
        tables.push(moved);
    }
    Ok(QueryOutput { tables, json })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::RecordInput;

    fn record(key: &str) -> NodeRef {
        NodeRef::Record {
            source: "crm".to_owned(),
            key: key.to_owned(),
        }
    }

    /// Opens a store with two records that share nothing.
    fn two_records(dir: &std::path::Path) -> Store {
        let mut store = Store::open(dir).unwrap();
        store
            .upsert([
                RecordInput::new("crm", "1").identifier("email", "ann@example.com"),
                RecordInput::new("crm", "2").identifier("email", "bob@example.com"),
            ])
            .unwrap();
        store
    }

    #[test]
    fn blank_reason_is_rejected_before_linking() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = two_records(dir.path());
        let statement = Statement::Link {
            left: record("1"),
            right: record("2"),
            reason: " \t".to_owned(),
        };
        let error = execute_mut(&mut store, &statement).unwrap_err();
        assert!(error.to_string().contains("need a reason"), "{error}");
        assert!(store.audit_log().unwrap().is_empty());

        let split = Statement::Split {
            entity: EntityRef::Of(record("1")),
            apply: Some(String::new()),
        };
        let error = execute_mut(&mut store, &split).unwrap_err();
        assert!(error.to_string().contains("need a reason"), "{error}");
    }

    #[test]
    fn execute_rejects_changing_statements() {
        let dir = tempfile::tempdir().unwrap();
        let store = two_records(dir.path());
        let statement = Statement::Unlink {
            left: record("1"),
            right: record("2"),
            reason: "twins".to_owned(),
        };
        let error = execute(&store, &statement).unwrap_err();
        assert!(error.to_string().contains("write access"), "{error}");
        assert!(store.audit_log().unwrap().is_empty());
    }

    #[test]
    fn execute_mut_links_two_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = two_records(dir.path());
        let statement = Statement::Link {
            left: record("1"),
            right: record("2"),
            reason: "same person".to_owned(),
        };
        let output = execute_mut(&mut store, &statement).unwrap();
        let rows = &output.tables[0].rows;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][1], rows[1][1], "both records in one entity");
        assert_eq!(output.json["reason"], "same person");
    }

    #[test]
    fn format_time_is_rfc3339_utc() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(i64::MAX), i64::MAX.to_string());
    }
}
