//! idgraph: an embedded identity-graph store.
//!
//! Records from many sources and the identifiers they carry (emails, phones, national ids,
//! devices) become nodes of a graph stored in sled. Evidence edges link them, resolution turns
//! connected components over confident edges into entities, and qualification scores each
//! entity and lists its conflicts.

#![warn(missing_docs)]

pub mod config;
pub mod demo;
pub mod error;
pub mod eval;
pub mod ingest;
pub mod matching;
pub mod model;
pub mod normalize;
pub mod qualify;
pub mod query;
pub mod repl;
pub mod resolve;
pub mod store;

pub use config::Config;
pub use error::{Error, Result};
pub use model::{
    AuditAction, AuditEvent, Conflict, Edge, Entity, EntityId, IdentifierKind, Node, NodeId,
    ScoreFactors, Severity, Tier,
};
pub use resolve::{Hub, MovedRecord, SplitPlan};
pub use store::Store;

/// The README's code examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
