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
    /// Evidence edges the record takes part in, sorted by the other node's id.
    pub edges: Vec<Edge>,
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
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Evidence::HasIdentifier(kind) => write!(f, "has {kind}"),
            Evidence::Match { weight, .. } => write!(f, "match (weight {weight:.2})"),
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
    /// When the edge was first observed.
    pub first_seen: Timestamp,
    /// When the edge was last observed.
    pub last_seen: Timestamp,
    /// How many times the edge was observed.
    pub count: u32,
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

/// A problem found inside an entity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Conflict {
    /// The entity contains more than one value of a kind declared unique per person.
    UniqueKindViolated {
        /// The unique kind.
        kind: IdentifierKind,
        /// The distinct normalized values found, sorted.
        values: Vec<String>,
    },
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
        }
    }
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
}
