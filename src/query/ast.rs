//! The syntax tree of the query language: a [`Statement`] and the [`NodeRef`] and
//! [`EntityRef`] it names.
//!
//! Each type's `Display` prints the canonical form of the text it was parsed from: keywords
//! in lowercase, one space between tokens, and every value double-quoted with escapes. For
//! every tree that the parser returns, parsing the printed form gives the same tree back.
//! A tree built by hand can break that: a kind name that is `record`, empty, or not made of
//! ASCII letters, digits and `_` prints as text that parses differently or not at all, and
//! so does a reason that is empty or only white space.

use std::fmt;

use serde::Serialize;

use crate::model::Tier;

/// A graph node named in a statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum NodeRef {
    /// A record, named by its source and its key within that source.
    Record {
        /// Name of the source the record comes from, such as `crm`.
        source: String,
        /// The record's key within its source.
        key: String,
    },
    /// An identifier, named by its kind and its value as written in the query.
    Identifier {
        /// Lowercase kind name, such as `email` or `national_id`.
        kind: String,
        /// The value before normalization.
        value: String,
    },
}

/// The entity a statement is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum EntityRef {
    /// An entity by its id.
    Id(u32),
    /// The entity that a node belongs to.
    Of(NodeRef),
}

/// One statement of the query language.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Statement {
    /// `find NODE`: look up a node and show its entity.
    Find(NodeRef),
    /// `entity ID` or `entity of NODE`: list an entity's records and identifiers with its
    /// score, tier and conflicts.
    Entity(EntityRef),
    /// `path NODE to NODE`: the strongest evidence path between two nodes.
    Path {
        /// Node the path starts at.
        from: NodeRef,
        /// Node the path ends at.
        to: NodeRef,
    },
    /// `explain record S K and record S K`: why two records match or not, comparison by
    /// comparison, under the stored match model.
    Explain {
        /// First record.
        left: NodeRef,
        /// Second record.
        right: NodeRef,
    },
    /// `conflicts [kind NAME] [limit N]`: list conflicts.
    Conflicts {
        /// Identifier kind that the conflicts must involve, or `None` for all kinds.
        kind: Option<String>,
        /// Maximum number of conflicts to list, or `None` for the evaluator's default.
        limit: Option<usize>,
    },
    /// `stats`: store statistics.
    Stats,
    /// `link record S K and record S K because REASON`: state that two records are the same
    /// person, so that resolution puts them in one entity.
    Link {
        /// First record.
        left: NodeRef,
        /// Second record.
        right: NodeRef,
        /// The operator's reason, kept in the audit log. The parser rejects an empty one.
        reason: String,
    },
    /// `unlink record S K and record S K because REASON`: state that two records are never
    /// the same person, so that resolution keeps them in different entities.
    Unlink {
        /// First record.
        left: NodeRef,
        /// Second record.
        right: NodeRef,
        /// The operator's reason, kept in the audit log. The parser rejects an empty one.
        reason: String,
    },
    /// `audit [entity ID] [limit N]`: list audit events, newest first.
    Audit {
        /// Entity whose events to list, or `None` for all events.
        entity: Option<u32>,
        /// Maximum number of events to list, or `None` for the evaluator's default.
        limit: Option<usize>,
    },
    /// `hubs [kind NAME] [limit N]`: list the identifiers shared by so many records that
    /// they link none of them.
    Hubs {
        /// Identifier kind of the hubs to list, or `None` for all kinds.
        kind: Option<String>,
        /// Maximum number of hubs to list, or `None` for the evaluator's default.
        limit: Option<usize>,
    },
    /// `bridges [limit N]`: list the links that resolution held back between two entities.
    Bridges {
        /// Maximum number of links to list, or `None` for the evaluator's default.
        limit: Option<usize>,
    },
    /// `entities [tier TIER] [conflict NAME] [size at least N] [by ORDER] [limit N]`: list
    /// entities, lowest score first unless `by size` is given.
    Entities {
        /// Tier the entities must be in, or `None` for all tiers.
        tier: Option<Tier>,
        /// Conflict kind (such as `hub`) or identifier kind that one of the entity's
        /// conflicts must have, or `None` for any entity.
        conflict: Option<String>,
        /// Minimum number of records, or `None` for no minimum.
        min_records: Option<usize>,
        /// Order of the list, or `None` for [`EntityOrder::Score`].
        order: Option<EntityOrder>,
        /// Maximum number of entities to list, or `None` for the evaluator's default.
        limit: Option<usize>,
    },
    /// `why entity ID` or `why entity of NODE`: the parts of an entity's score and the rule
    /// that set its tier.
    Why(EntityRef),
    /// `split entity ID [apply because REASON]`: how an entity would split at its weakest
    /// link, and with `apply`, the split itself.
    Split {
        /// The entity to split.
        entity: EntityRef,
        /// The reason for applying the split, or `None` for a preview that stores nothing.
        apply: Option<String>,
    },
}

impl Statement {
    /// Returns whether running the statement needs write access to the store: `link`,
    /// `unlink` and `split`, whose preview also resolves a trial unlink before discarding it.
    pub fn needs_write(&self) -> bool {
        matches!(
            self,
            Statement::Link { .. } | Statement::Unlink { .. } | Statement::Split { .. }
        )
    }
}

/// Order of the `entities` listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EntityOrder {
    /// By score ascending, so the least trusted entities come first, then by id.
    Score,
    /// By number of records descending, then by id.
    Size,
}

impl fmt::Display for EntityOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntityOrder::Score => "score",
            EntityOrder::Size => "size",
        })
    }
}

/// Text printed in double quotes, with `\`, `"`, line feeds and tabs escaped.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                '\t' => f.write_str("\\t")?,
                other => write!(f, "{other}")?,
            }
        }
        f.write_str("\"")
    }
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeRef::Record { source, key } => {
                write!(f, "record {} {}", Quoted(source), Quoted(key))
            }
            NodeRef::Identifier { kind, value } => write!(f, "{kind} {}", Quoted(value)),
        }
    }
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntityRef::Id(id) => write!(f, "{id}"),
            EntityRef::Of(node) => write!(f, "of {node}"),
        }
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Find(node) => write!(f, "find {node}"),
            Statement::Entity(entity) => write!(f, "entity {entity}"),
            Statement::Path { from, to } => write!(f, "path {from} to {to}"),
            Statement::Explain { left, right } => write!(f, "explain {left} and {right}"),
            Statement::Conflicts { kind, limit } => {
                f.write_str("conflicts")?;
                if let Some(kind) = kind {
                    write!(f, " kind {kind}")?;
                }
                if let Some(limit) = limit {
                    write!(f, " limit {limit}")?;
                }
                Ok(())
            }
            Statement::Stats => f.write_str("stats"),
            Statement::Link {
                left,
                right,
                reason,
            } => write!(f, "link {left} and {right} because {}", Quoted(reason)),
            Statement::Unlink {
                left,
                right,
                reason,
            } => write!(f, "unlink {left} and {right} because {}", Quoted(reason)),
            Statement::Audit { entity, limit } => {
                f.write_str("audit")?;
                if let Some(entity) = entity {
                    write!(f, " entity {entity}")?;
                }
                write_limit(f, *limit)
            }
            Statement::Hubs { kind, limit } => {
                f.write_str("hubs")?;
                if let Some(kind) = kind {
                    write!(f, " kind {kind}")?;
                }
                write_limit(f, *limit)
            }
            Statement::Bridges { limit } => {
                f.write_str("bridges")?;
                write_limit(f, *limit)
            }
            Statement::Entities {
                tier,
                conflict,
                min_records,
                order,
                limit,
            } => {
                f.write_str("entities")?;
                if let Some(tier) = tier {
                    write!(f, " tier {tier}")?;
                }
                if let Some(conflict) = conflict {
                    write!(f, " conflict {conflict}")?;
                }
                if let Some(min_records) = min_records {
                    write!(f, " size at least {min_records}")?;
                }
                if let Some(order) = order {
                    write!(f, " by {order}")?;
                }
                write_limit(f, *limit)
            }
            Statement::Why(entity) => write!(f, "why entity {entity}"),
            Statement::Split { entity, apply } => {
                write!(f, "split entity {entity}")?;
                if let Some(reason) = apply {
                    write!(f, " apply because {}", Quoted(reason))?;
                }
                Ok(())
            }
        }
    }
}

/// Writes ` limit N` when `limit` is set.
fn write_limit(f: &mut fmt::Formatter<'_>, limit: Option<usize>) -> fmt::Result {
    match limit {
        Some(limit) => write!(f, " limit {limit}"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(value: &str) -> NodeRef {
        NodeRef::Identifier {
            kind: "email".to_owned(),
            value: value.to_owned(),
        }
    }

    fn record(source: &str, key: &str) -> NodeRef {
        NodeRef::Record {
            source: source.to_owned(),
            key: key.to_owned(),
        }
    }

    #[test]
    fn needs_write_only_for_changing_statements() {
        let writing = [
            Statement::Link {
                left: record("a", "1"),
                right: record("a", "2"),
                reason: "r".to_owned(),
            },
            Statement::Unlink {
                left: record("a", "1"),
                right: record("a", "2"),
                reason: "r".to_owned(),
            },
            Statement::Split {
                entity: EntityRef::Id(1),
                apply: None,
            },
        ];
        for statement in &writing {
            assert!(statement.needs_write(), "{statement}");
        }
        let reading = [
            Statement::Stats,
            Statement::Why(EntityRef::Id(1)),
            Statement::Bridges { limit: None },
            Statement::Audit {
                entity: None,
                limit: None,
            },
        ];
        for statement in &reading {
            assert!(!statement.needs_write(), "{statement}");
        }
    }

    #[test]
    fn display_quotes_and_escapes_values() {
        let node = NodeRef::Record {
            source: "crm".to_owned(),
            key: "a\\b\"c\nd\te'f".to_owned(),
        };
        assert_eq!(node.to_string(), r#"record "crm" "a\\b\"c\nd\te'f""#);
    }

    #[test]
    fn display_prints_each_statement() {
        let cases = [
            (Statement::Find(email("a@x.com")), r#"find email "a@x.com""#),
            (Statement::Entity(EntityRef::Id(42)), "entity 42"),
            (
                Statement::Entity(EntityRef::Of(email("a@x.com"))),
                r#"entity of email "a@x.com""#,
            ),
            (
                Statement::Path {
                    from: email("a"),
                    to: email("b"),
                },
                r#"path email "a" to email "b""#,
            ),
            (
                Statement::Conflicts {
                    kind: None,
                    limit: None,
                },
                "conflicts",
            ),
            (
                Statement::Conflicts {
                    kind: Some("phone".to_owned()),
                    limit: Some(5),
                },
                "conflicts kind phone limit 5",
            ),
            (
                Statement::Conflicts {
                    kind: None,
                    limit: Some(0),
                },
                "conflicts limit 0",
            ),
            (Statement::Stats, "stats"),
            (
                Statement::Link {
                    left: record("crm", "1"),
                    right: record("web", "s 9"),
                    reason: "same \"passport\"".to_owned(),
                },
                r#"link record "crm" "1" and record "web" "s 9" because "same \"passport\"""#,
            ),
            (
                Statement::Unlink {
                    left: record("crm", "1"),
                    right: record("crm", "2"),
                    reason: "twins".to_owned(),
                },
                r#"unlink record "crm" "1" and record "crm" "2" because "twins""#,
            ),
            (
                Statement::Audit {
                    entity: None,
                    limit: None,
                },
                "audit",
            ),
            (
                Statement::Audit {
                    entity: Some(3),
                    limit: Some(10),
                },
                "audit entity 3 limit 10",
            ),
            (
                Statement::Hubs {
                    kind: Some("device_id".to_owned()),
                    limit: Some(2),
                },
                "hubs kind device_id limit 2",
            ),
            (Statement::Bridges { limit: None }, "bridges"),
            (Statement::Bridges { limit: Some(1) }, "bridges limit 1"),
            (
                Statement::Entities {
                    tier: None,
                    conflict: None,
                    min_records: None,
                    order: None,
                    limit: None,
                },
                "entities",
            ),
            (
                Statement::Entities {
                    tier: Some(Tier::Low),
                    conflict: Some("hub".to_owned()),
                    min_records: Some(2),
                    order: Some(EntityOrder::Size),
                    limit: Some(5),
                },
                "entities tier low conflict hub size at least 2 by size limit 5",
            ),
            (Statement::Why(EntityRef::Id(7)), "why entity 7"),
            (
                Statement::Why(EntityRef::Of(email("a@x.com"))),
                r#"why entity of email "a@x.com""#,
            ),
            (
                Statement::Split {
                    entity: EntityRef::Id(7),
                    apply: None,
                },
                "split entity 7",
            ),
            (
                Statement::Split {
                    entity: EntityRef::Id(7),
                    apply: Some("two people".to_owned()),
                },
                r#"split entity 7 apply because "two people""#,
            ),
        ];
        for (statement, expected) in cases {
            assert_eq!(statement.to_string(), expected);
        }
    }
}
