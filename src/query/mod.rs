//! The query language: statements that look up identifiers and records, show entities, find
//! evidence paths, list conflicts, explain scores, and link, unlink and split records by hand.
//!
//! The grammar is in grammar/idgraph.ebnf and in the [`parser`] module docs. [`parse_script`]
//! turns text into [`Statement`]s, [`execute`] runs one that only reads a store, [`execute_mut`]
//! runs any, and [`render()`] prints the result as tables or JSON.

pub mod ast;
pub mod eval;
pub mod parser;
pub mod render;

pub use ast::*;
pub use eval::{QueryOutput, Table, execute, execute_mut};
pub use parser::{ParseError, parse_script, parse_statement};
pub use render::{OutputMode, render};
