//! The graph's data model: [`Node`], [`Edge`], [`Entity`] and their ids.
//!
//! Records (the profiles that sources hold) and identifiers (an email, a phone, a national id)
//! are both nodes. An evidence edge links two nodes with a weight in (0, 1]. Node and entity
//! ids are `u32` so that sets of them fit in roaring bitmaps.

use std::fmt;

use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};

/// Id of a node (record or identifier), allocated in arrival order and never reused.
pub type NodeId = u32;

/// Id of a resolved entity. Lower ids are older: a merge keeps the lower id.
pub type EntityId = u32;

/// Seconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// The kind of an identifier, such as `email` or `national_id`.
///
/// Kinds are lowercase names made of ASCII letters, digits and `_`. The well-known kinds get
/// their own normalization rules; any other name is a user-defined kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IdentifierKind(String);

impl IdentifierKind {
    /// Email address.
    pub const EMAIL: &'static str = "email";
    /// Telephone number, stored in E.164.
    pub const PHONE: &'static str = "phone";
    /// National identity number (social security number and the like).
    pub const NATIONAL_ID: &'static str = "national_id";
    /// A source system's own customer number.
    pub const CUSTOMER_ID: &'static str = "customer_id";
    /// Device id (advertising id, hardware fingerprint).
    pub const DEVICE_ID: &'static str = "device_id";
    /// Web cookie id.
    pub const COOKIE: &'static str = "cookie";
    /// IP address.
    pub const IP: &'static str = "ip";

    /// Creates a kind from its name, or returns `None` when the name is empty or contains
    /// anything but ASCII letters, digits and `_`. The name is lowercased.
    pub fn new(name: &str) -> Option<Self> {
        let name = name.trim();
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        valid.then(|| IdentifierKind(name.to_ascii_lowercase()))
    }

    /// Returns the kind's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdentifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A node of the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Node {
    /// A profile held by a source.
    Record(RecordNode),
    /// An identifier value shared by records.
    Identifier(IdentifierNode),
}

impl Node {
    /// Returns the entity the node belongs to, if any.
    pub fn entity(&self) -> Option<EntityId> {
        match self {
            Node::Record(record) => Some(record.entity),
            Node::Identifier(identifier) => identifier.entity,
        }
    }
}

/// A record: one profile of one source, such as a CRM row or a web session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordNode {
    /// Name of the source that contains the record (`crm`, `web`).
    pub source: String,
    /// The record's key within its source.
    pub key: String,
    /// Attributes by name, in the order of the input columns.
    pub attributes: Vec<(String, String)>,
    /// When the record was observed, if the input gives a time.
    pub timestamp: Option<Timestamp>,
    /// The entity the record belongs to. Every record belongs to exactly one entity.
    pub entity: EntityId,
    /// The first entity the record belonged to. A record split off an entity takes this id
    /// back when no other entity has it, so a merge undone gives the ids from before it.
    pub first_entity: EntityId,
    /// Evidence edges the record takes part in, sorted by the other node's id.
    pub edges: Vec<Edge>,
    /// Sightings of identifiers that some version of the record carried and the current
    /// version does not, sorted by kind and value. They link nothing. An identifier that
    /// comes back starts its edge from them.
    pub past_identifiers: Vec<PastIdentifier>,
}

impl RecordNode {
    /// Returns the value of the attribute `name`, if the record has it.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(attribute, _)| attribute == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The sightings of an identifier that a record's current version does not carry.
///
/// The fields mean what they mean on an identifier [`Edge`]: the versions of the record that
/// carried the identifier, counted and bounded in time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PastIdentifier {
    /// The identifier's kind.
    pub kind: IdentifierKind,
    /// The normalized value. There may be no identifier node for it, when only an older
    /// version that arrived late carried it.
    pub value: String,
    /// Timestamp of the earliest version that carried it.
    pub first_seen: Timestamp,
    /// Timestamp of the latest version that carried it.
    pub last_seen: Timestamp,
    /// Number of versions that carried it.
    pub count: u32,
}

/// Maximum number of raw spellings kept per identifier.
pub const MAX_RAW_SPELLINGS: usize = 8;

/// An identifier: a normalized value of one kind, linked to the records that carry it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdentifierNode {
    /// The identifier's kind.
    pub kind: IdentifierKind,
    /// The normalized value, the identity of the node within its kind.
    pub value: String,
    /// Distinct raw spellings seen in the input, at most [`MAX_RAW_SPELLINGS`].
    pub raw: Vec<String>,
    /// The entity the identifier belongs to, or `None` when none of its edges is confident
    /// enough to link it.
    pub entity: Option<EntityId>,
    /// Record nodes that carry this identifier. The edge details live on the record side.
    pub records: RoaringBitmap,
}

/// Kind of evidence an edge carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Evidence {
    /// The record carries the identifier of this kind.
    HasIdentifier(IdentifierKind),
    /// The probabilistic matcher scored the two records as likely the same person.
    Match {
        /// Total match weight (log2 Bayes factor, prior included).
        weight: f32,
        /// Agreement level per comparison of the stored match model, `None` where a value
        /// was missing. The model's configuration names each comparison and level.
        levels: Vec<Option<u8>>,
        /// Weight contribution per comparison (log2 of m over u), 0 where a value was missing.
        contributions: Vec<f32>,
    },
    /// An operator stated that the two records are the same person (`link`) or never are
    /// (`unlink`). Resolution respects it over any automatic evidence.
    Manual {
        /// `true` for a link, `false` for an unlink.
        link: bool,
        /// The operator's reason.
        reason: String,
    },
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Evidence::HasIdentifier(kind) => write!(f, "has {kind}"),
            Evidence::Match { weight, .. } => write!(f, "match (weight {weight:.2})"),
            Evidence::Manual { link: true, reason } => write!(f, "manual link ({reason})"),
            Evidence::Manual {
                link: false,
                reason,
            } => write!(f, "manual unlink ({reason})"),
        }
    }
}

/// One attribute comparison of a probabilistic match, as an explanation shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparisonOutcome {
    /// Name of the comparison, usually the attribute it compares.
    pub name: String,
    /// Agreement level label, such as `exact` or `jaro-winkler >= 0.92`; `missing` when a side
    /// has no value.
    pub level: String,
    /// Contribution to the match weight, log2 of m over u; 0 when a value is missing.
    pub weight: f32,
}

/// A weighted evidence edge, stored on the record at one end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// The node at the other end.
    pub to: NodeId,
    /// Kind of evidence the edge carries.
    pub evidence: Evidence,
    /// Weight (confidence) in (0, 1].
    pub weight: f32,
    /// The source that asserted the edge.
    pub source: String,
    /// When the edge was first observed. For an identifier edge, the timestamp of the
    /// earliest version of the record that carried the identifier.
    pub first_seen: Timestamp,
    /// When the edge was last observed. For an identifier edge, the timestamp of the latest
    /// version of the record that carried the identifier.
    pub last_seen: Timestamp,
    /// How many times the edge was observed. For an identifier edge, the number of versions
    /// of the record that carried the identifier, including those before a version dropped it.
    pub count: u32,
}

impl Edge {
    /// Returns whether the edge can link its two nodes: every edge but a manual unlink.
    pub fn can_link(&self) -> bool {
        !matches!(self.evidence, Evidence::Manual { link: false, .. })
    }
}

/// Confidence tier of an entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Tier {
    /// Manual review.
    Low,
    /// Verify before acting.
    Medium,
    /// Act automatically.
    High,
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tier::Low => "low",
            Tier::Medium => "medium",
            Tier::High => "high",
        })
    }
}

/// How much a conflict lowers the trust in an entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity {
    /// Worth a look; the score drops to 80%.
    Low,
    /// Verify before acting; the score drops to half and the tier is at most medium.
    Medium,
    /// Review by hand; the score drops to a quarter and the tier is low.
    High,
}

impl Severity {
    /// Returns the factor this severity multiplies an entity's score by.
    pub fn score_factor(self) -> f32 {
        match self {
            Severity::Low => 0.8,
            Severity::Medium => 0.5,
            Severity::High => 0.25,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        })
    }
}

/// A problem found inside an entity, or a link that resolution held back from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Conflict {
    /// The entity contains more than one value of a kind declared unique per person (or per
    /// person and source).
    UniqueKindViolated {
        /// The unique kind.
        kind: IdentifierKind,
        /// The distinct normalized values found, sorted.
        values: Vec<String>,
    },
    /// The entity has more distinct values of a kind than `max_per_entity` allows.
    OverLimit {
        /// The limited kind.
        kind: IdentifierKind,
        /// Number of distinct values.
        count: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Records of the entity disagree on an attribute that should agree.
    AttributeDisagreement {
        /// The attribute.
        attribute: String,
        /// The distinct values, sorted.
        values: Vec<String>,
    },
    /// A record of the entity carries a hub identifier, which links nothing, or a role
    /// mailbox that other records carry too.
    Hub {
        /// The hub's kind.
        kind: IdentifierKind,
        /// The hub's value.
        value: String,
        /// Number of records that carry it.
        degree: u64,
    },
    /// An identifier that records of this entity carry is also carried by records of other
    /// entities, which rules, bridges or its degree kept apart: a shared device or family
    /// phone.
    SharedIdentifier {
        /// The identifier's kind.
        kind: IdentifierKind,
        /// Its value.
        value: String,
        /// Number of entities its records are in.
        entities: usize,
    },
    /// A link from a record of this entity to a record of another entity was held back,
    /// because it would have broken a rule or was the only weak link between two groups.
    HeldBack {
        /// The record in this entity.
        record: NodeId,
        /// The record on the other side.
        other: NodeId,
        /// The link's confidence.
        confidence: f32,
        /// The rule that held it: `unique`, `over_limit` or `bridge`.
        rule: String,
        /// The identifier kind of a `unique` or `over_limit` rule.
        kind: Option<IdentifierKind>,
        /// The reason it was held back.
        reason: String,
    },
}

impl Conflict {
    /// Returns the conflict's severity.
    pub fn severity(&self) -> Severity {
        match self {
            Conflict::UniqueKindViolated { .. } => Severity::High,
            Conflict::OverLimit { .. } => Severity::Medium,
            // A rule that held a link did its job; a weak bridge leaves a real doubt.
            Conflict::HeldBack { rule, .. } if rule == "bridge" => Severity::Medium,
            Conflict::HeldBack { .. } => Severity::Low,
            Conflict::AttributeDisagreement { .. }
            | Conflict::Hub { .. }
            | Conflict::SharedIdentifier { .. } => Severity::Low,
        }
    }

    /// Returns the conflict kind's name, as queries filter by it: `unique`, `over_limit`,
    /// `attribute`, `hub`, `shared` or `held` (a held link, whose rule is `unique`,
    /// `over_limit` or `bridge`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Conflict::UniqueKindViolated { .. } => "unique",
            Conflict::OverLimit { .. } => "over_limit",
            Conflict::AttributeDisagreement { .. } => "attribute",
            Conflict::Hub { .. } => "hub",
            Conflict::SharedIdentifier { .. } => "shared",
            Conflict::HeldBack { .. } => "held",
        }
    }

    /// Returns the identifier kind the conflict is about, if any.
    pub fn identifier_kind(&self) -> Option<&IdentifierKind> {
        match self {
            Conflict::UniqueKindViolated { kind, .. }
            | Conflict::OverLimit { kind, .. }
            | Conflict::Hub { kind, .. }
            | Conflict::SharedIdentifier { kind, .. } => Some(kind),
            Conflict::HeldBack { kind, .. } => kind.as_ref(),
            Conflict::AttributeDisagreement { .. } => None,
        }
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::UniqueKindViolated { kind, values } => {
                write!(
                    f,
                    "{} values of unique kind {kind}: {}",
                    values.len(),
                    values.join(", ")
                )
            }
            Conflict::OverLimit { kind, count, limit } => {
                write!(
                    f,
                    "{count} values of {kind}, more than the limit of {limit}"
                )
            }
            Conflict::AttributeDisagreement { attribute, values } => {
                write!(f, "records disagree on {attribute}: {}", values.join(", "))
            }
            Conflict::Hub {
                kind,
                value,
                degree,
            } => write!(
                f,
                "{kind} {value} is shared by {degree} records and links none of them on its own"
            ),
            Conflict::SharedIdentifier {
                kind,
                value,
                entities,
            } => write!(
                f,
                "{kind} {value} is also carried by records of {} other {}",
                entities - 1,
                if *entities == 2 { "entity" } else { "entities" }
            ),
            Conflict::HeldBack {
                record,
                other,
                confidence,
                reason,
                ..
            } => write!(
                f,
                "link from node {record} to node {other} (confidence {confidence:.2}) held back: \
                 {reason}"
            ),
        }
    }
}

/// The parts of an entity's score, kept so that a query can show why it got its tier.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreFactors {
    /// Confidence of the weakest link a spanning tree of the records needs (1 for a single
    /// record, 0 when the records are not connected).
    pub weakest_link: f32,
    /// The two records of that weakest link, if the entity has more than one record.
    pub weakest_pair: Option<(NodeId, NodeId)>,
    /// Kinds of evidence among the entity's links (identifier kinds, `match`, `manual`).
    pub kinds: Vec<String>,
    /// Factor for the number of independent kinds: 0.9 for one, 1 for two or more.
    pub support: f32,
    /// Factor for the age of the entity's newest evidence relative to the store's.
    pub freshness: f32,
    /// Product of the conflicts' severity factors.
    pub conflicts: f32,
}

/// A resolved entity: a connected component over confident edges, with its qualification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// The entity's id.
    pub id: EntityId,
    /// Record and identifier nodes of the entity.
    pub members: RoaringBitmap,
    /// Confidence in [0, 1] that all records are the same person.
    pub score: f32,
    /// Tier derived from the score and the conflicts.
    pub tier: Tier,
    /// Conflicts found in the entity.
    pub conflicts: Vec<Conflict>,
    /// The parts of the score.
    pub factors: ScoreFactors,
}

/// One entry of the audit log: a change of entities or an operator's override.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When the change was committed.
    pub at: Timestamp,
    /// What changed.
    pub action: AuditAction,
}

/// A change recorded in the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AuditAction {
    /// Entities merged into one, which kept the lowest id.
    Merged {
        /// The id the merged entity kept.
        into: EntityId,
        /// The ids merged into it.
        from: Vec<EntityId>,
    },
    /// An entity split; the part with its oldest record kept the id.
    Split {
        /// The entity that split.
        from: EntityId,
        /// The entities the other parts are in: new ones, or existing ones they joined.
        into: Vec<EntityId>,
    },
    /// Resolution held back a link between two records.
    HeldBack {
        /// The two records.
        records: (NodeId, NodeId),
        /// Why.
        reason: String,
    },
    /// An operator linked two records.
    Linked {
        /// The two records.
        records: (NodeId, NodeId),
        /// The operator's reason.
        reason: String,
    },
    /// An operator unlinked two records.
    Unlinked {
        /// The two records.
        records: (NodeId, NodeId),
        /// The operator's reason.
        reason: String,
    },
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids = |ids: &[EntityId]| {
            ids.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            AuditAction::Merged { into, from } => {
                write!(f, "merged entities {} into {into}", ids(from))
            }
            AuditAction::Split { from, into } => {
                write!(
                    f,
                    "split entity {from}; its other parts are in entities {}",
                    ids(into)
                )
            }
            AuditAction::HeldBack {
                records: (a, b),
                reason,
            } => write!(f, "held back the link of nodes {a} and {b}: {reason}"),
            AuditAction::Linked {
                records: (a, b),
                reason,
            } => write!(f, "operator linked nodes {a} and {b}: {reason}"),
            AuditAction::Unlinked {
                records: (a, b),
                reason,
            } => write!(f, "operator unlinked nodes {a} and {b}: {reason}"),
        }
    }
}
