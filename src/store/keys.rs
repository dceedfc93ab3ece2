//! Key encoding of the store's single sled tree.
//!
//! Every logical table is a key prefix of one sled tree, so that one `apply_batch` updates all
//! of them atomically. docs/storage-format.md describes each prefix and its value encoding.

/// Meta values: format version, id counters, statistics, configuration.
pub const META: u8 = b'M';
/// Node page: `N` + page number (u32 big-endian) to the bincode nodes of that page.
pub const NODE: u8 = b'N';
/// Identifier index: `I` + kind + 0x00 + normalized value to the node id.
pub const IDENTIFIER: u8 = b'I';
/// Record index: `R` + source + 0x00 + key to the node id.
pub const RECORD: u8 = b'R';
/// Entity page: `E` + page number (u32 big-endian) to the bincode entities of that page.
pub const ENTITY: u8 = b'E';
/// Source descriptions: `S` + source name to a bincode [`crate::store::SourceInfo`].
pub const SOURCE: u8 = b'S';
/// Audit log: `A` + commit sequence number (u64 big-endian) to the bincode events of that
/// commit.
pub const AUDIT: u8 = b'A';

pub fn meta(name: &str) -> Vec<u8> {
    prefixed(META, name.as_bytes())
}

/// Number of consecutive node or entity ids stored under one page key.
///
/// Ids are allocated in sequence, so the nodes of one ingest batch fill whole pages and cost
/// one sled write per page instead of one per node.
pub const PAGE_SLOTS: u32 = 64;

/// Returns the page that contains `id`, and the slot of `id` in it.
pub fn page_of(id: u32) -> (u32, usize) {
    (id / PAGE_SLOTS, (id % PAGE_SLOTS) as usize)
}

pub fn node_page(page: u32) -> [u8; 5] {
    numbered(NODE, page)
}

pub fn entity_page(page: u32) -> [u8; 5] {
    numbered(ENTITY, page)
}

pub fn audit_page(sequence: u64) -> [u8; 9] {
    let mut key = [AUDIT, 0, 0, 0, 0, 0, 0, 0, 0];
    key[1..].copy_from_slice(&sequence.to_be_bytes());
    key
}

pub fn identifier(kind: &str, value: &str) -> Vec<u8> {
    pair(IDENTIFIER, kind, value)
}

pub fn record(source: &str, key: &str) -> Vec<u8> {
    pair(RECORD, source, key)
}

pub fn source(name: &str) -> Vec<u8> {
    prefixed(SOURCE, name.as_bytes())
}

/// Decodes the u32 that follows the one-byte prefix of a node or entity key.
pub fn number_of(key: &[u8]) -> Option<u32> {
    let bytes: [u8; 4] = key.get(1..5)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

fn numbered(prefix: u8, id: u32) -> [u8; 5] {
    let mut key = [prefix, 0, 0, 0, 0];
    key[1..].copy_from_slice(&id.to_be_bytes());
    key
}

fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + rest.len());
    key.push(prefix);
    key.extend_from_slice(rest);
    key
}

// Kinds and source names never contain 0x00 (kinds are ASCII words, and ingest rejects a
// source name with a NUL), so the first NUL ends the first part.
fn pair(prefix: u8, first: &str, second: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + first.len() + second.len());
    key.push(prefix);
    key.extend_from_slice(first.as_bytes());
    key.push(0);
    key.extend_from_slice(second.as_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_keys_sort_by_number() {
        assert!(node_page(255) < node_page(256));
        assert!(node_page(0) < node_page(u32::MAX));
        assert_eq!(number_of(&node_page(70_000)), Some(70_000));
        assert_eq!(page_of(130), (2, 2));
    }

    #[test]
    fn pair_keys_do_not_collide() {
        assert_ne!(identifier("ab", "c"), identifier("a", "bc"));
        assert_ne!(record("crm", "1"), identifier("crm", "1"));
    }
}
