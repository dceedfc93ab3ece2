//! The syntax tree of the query language: a [`Statement`] and the [`NodeRef`] and
//! [`EntityRef`] it names.
//!
//! Each type's `Display` prints the canonical form of the text it was parsed from: keywords
//! in lowercase, one space between tokens, and every value double-quoted with escapes. For
//! every tree that the parser returns, parsing the printed form gives the same tree back.
//! A tree built by hand can break that: a kind name that is `record`, empty, or not made of
//! ASCII letters, digits and `_` prints as text that parses differently or not at all.

use std::fmt;

use serde::Serialize;

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
        }
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
        ];
        for (statement, expected) in cases {
            assert_eq!(statement.to_string(), expected);
        }
    }
}
