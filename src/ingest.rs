//! TODO: ingest
