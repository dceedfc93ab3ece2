//! The `idgraph` command: ingest records, resolve them into entities and explore them.

fn main() {}
