//! The record and identifier indexes, kept as sorted pages of entries.
//!
//! An index entry maps an index key (`R` + source + 0x00 + record key, or `I` + kind + 0x00 +
//! normalized value) to a node id. sled 0.34 spends about 7 µs on each key it inserts, which
//! was two thirds of a bulk load when every entry was a key of its own. So the entries are
//! grouped: each page contains a sorted run of up to [`PAGE_ENTRIES`] entries and is stored under
//! the index key of its first entry. The pages of one table never overlap, so the page that
//! may hold a key is the last page whose first key is at or before it.
//!
//! A page's value is laid out so that a lookup searches it without decoding it:
//! `count` (u32), then `count` end offsets of the keys (u32), then `count` node ids (u32), all
//! little-endian, then the keys one after the other.

use std::ops::Bound;

use crate::error::{Error, Result};
use crate::model::NodeId;

/// Maximum entries in one page. A commit that would pass it, or [`PAGE_BYTES`], splits the page
/// into pages about half as full, so that the next entries fit without another split.
pub const PAGE_ENTRIES: usize = 512;

/// Maximum key bytes in one page, so that long keys (a 10 KB record key) do not make every commit
/// rewrite megabytes. A single longer key gets a page of its own.
pub const PAGE_BYTES: usize = 32 * 1024;

/// Returns the node id that `key` maps to, or `None`.
///
/// # Errors
///
/// Fails on I/O errors and on a malformed page.
pub fn lookup(tree: &sled::Tree, key: &[u8]) -> Result<Option<NodeId>> {
    let Some((_, page)) = page_for(tree, key)? else {
        return Ok(None);
    };
    let page = Page::parse(&page)?;
    Ok(page.search(key)?.ok().map(|at| page.id(at)))
}

/// Adds `entries` (new index keys and their node ids) to the pages in `tree`, writing the
/// changed pages to `batch`. Reads see the tree as of the last commit, so each commit must
/// add its entries in one call.
///
/// # Errors
///
/// Fails on I/O errors and on a malformed page.
pub fn add(
    tree: &sled::Tree,
    batch: &mut sled::Batch,
    entries: &mut [(Vec<u8>, NodeId)],
) -> Result<()> {
    entries.sort_unstable();
    let mut rest = &entries[..];
    while let Some((first, _)) = rest.first() {
        let table = first[0];
        let table_end = [table + 1];
        // The page the first entry belongs to: the last page at or before it, else the first
        // page of the table, whose first key the entry then becomes.
        let found = match page_for(tree, first)? {
            Some(found) => Some(found),
            None => tree
                .range(first.as_slice()..table_end.as_slice())
                .next()
                .transpose()?,
        };
        let (old_key, mut merged) = match &found {
            Some((key, value)) => (Some(key.clone()), Page::parse(value)?.entries()?),
            None => (None, Vec::new()),
        };
        // Entries up to the next page's first key belong to this page as well.
        let next_page = match &old_key {
            Some(key) => tree
                .range::<&[u8], _>((
                    Bound::Excluded(key.as_ref()),
                    Bound::Excluded(&table_end[..]),
                ))
                .next()
                .transpose()?
                .map(|(key, _)| key),
            None => None,
        };
        let in_page = rest
            .iter()
            .take_while(|(key, _)| {
                key[0] == table
                    && next_page
                        .as_ref()
                        .is_none_or(|next| key.as_slice() < next.as_ref())
            })
            .count();
        merged.extend(rest[..in_page].iter().cloned());
        rest = &rest[in_page..];
        merged.sort_unstable_by(|x, y| x.0.cmp(&y.0));
        merged.dedup_by(|later, earlier| later.0 == earlier.0);

        if let Some(old_key) = old_key {
            batch.remove(old_key);
        }
        for piece in pieces(&merged) {
            batch.insert(piece[0].0.as_slice(), encode(piece));
        }
    }
    Ok(())
}

/// Cuts sorted entries into pages: one page when they fit in [`PAGE_ENTRIES`] and
/// [`PAGE_BYTES`], else pages about half as full.
fn pieces(entries: &[(Vec<u8>, NodeId)]) -> Vec<&[(Vec<u8>, NodeId)]> {
    let bytes: usize = entries.iter().map(|(key, _)| key.len()).sum();
    if entries.len() <= PAGE_ENTRIES && bytes <= PAGE_BYTES {
        return vec![entries];
    }
    let mut pieces = Vec::new();
    let (mut start, mut piece_bytes) = (0, 0);
    for (at, (key, _)) in entries.iter().enumerate() {
        let full = at - start >= PAGE_ENTRIES / 2 || piece_bytes + key.len() > PAGE_BYTES / 2;
        if at > start && full {
            pieces.push(&entries[start..at]);
            (start, piece_bytes) = (at, 0);
        }
        piece_bytes += key.len();
    }
    pieces.push(&entries[start..]);
    pieces
}

/// Returns the page whose first key is the last one at or before `key`, within the table of
/// `key` (its first byte).
fn page_for(tree: &sled::Tree, key: &[u8]) -> Result<Option<(sled::IVec, sled::IVec)>> {
    let table_start = [key[0]];
    Ok(tree
        .range(table_start.as_slice()..=key)
        .next_back()
        .transpose()?)
}

/// Encodes sorted entries as a page.
fn encode(entries: &[(Vec<u8>, NodeId)]) -> Vec<u8> {
    let keys: usize = entries.iter().map(|(key, _)| key.len()).sum();
    let mut bytes = Vec::with_capacity(4 + entries.len() * 8 + keys);
    bytes.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    let mut end = 0u32;
    for (key, _) in entries {
        end += key.len() as u32;
        bytes.extend_from_slice(&end.to_le_bytes());
    }
    for (_, id) in entries {
        bytes.extend_from_slice(&id.to_le_bytes());
    }
    for (key, _) in entries {
        bytes.extend_from_slice(key);
    }
    bytes
}

/// A page's value, checked for size and read in place.
struct Page<'a> {
    count: usize,
    bytes: &'a [u8],
    keys: &'a [u8],
}

impl<'a> Page<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Page<'a>> {
        let malformed = |detail: String| Error::corrupt("index page", detail);
        let count = bytes
            .get(..4)
            .map(|head| u32::from_le_bytes(head.try_into().expect("four bytes")) as usize)
            .ok_or_else(|| malformed(format!("{} bytes, too short for a count", bytes.len())))?;
        let keys_start = 4 + count * 8;
        let keys = bytes.get(keys_start..).ok_or_else(|| {
            malformed(format!(
                "{} bytes, too short for {count} entries",
                bytes.len()
            ))
        })?;
        let page = Page { count, bytes, keys };
        if count > 0 && page.end(count - 1) != keys.len() {
            return Err(malformed(format!(
                "keys end at {}, but {} key bytes follow",
                page.end(count - 1),
                keys.len()
            )));
        }
        Ok(page)
    }

    fn u32_at(&self, offset: usize) -> u32 {
        u32::from_le_bytes(
            self.bytes[offset..offset + 4]
                .try_into()
                .expect("four bytes"),
        )
    }

    fn end(&self, at: usize) -> usize {
        self.u32_at(4 + at * 4) as usize
    }

    fn id(&self, at: usize) -> NodeId {
        self.u32_at(4 + self.count * 4 + at * 4)
    }

    fn key(&self, at: usize) -> Result<&'a [u8]> {
        let start = if at == 0 { 0 } else { self.end(at - 1) };
        self.keys
            .get(start..self.end(at))
            .ok_or_else(|| Error::corrupt("index page", format!("entry {at} out of bounds")))
    }

    /// Returns the position of `key`, or where it would go.
    fn search(&self, key: &[u8]) -> Result<std::result::Result<usize, usize>> {
        let (mut low, mut high) = (0, self.count);
        while low < high {
            let middle = (low + high) / 2;
            match self.key(middle)?.cmp(key) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Ok(Ok(middle)),
            }
        }
        Ok(Err(low))
    }

    fn entries(&self) -> Result<Vec<(Vec<u8>, NodeId)>> {
        (0..self.count)
            .map(|at| Ok((self.key(at)?.to_vec(), self.id(at))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_key(n: u32) -> Vec<u8> {
        let mut key = b"Rcrm\0".to_vec();
        key.extend_from_slice(format!("customer-{n}").as_bytes());
        key
    }

    fn commit(tree: &sled::Tree, mut entries: Vec<(Vec<u8>, NodeId)>) {
        let mut batch = sled::Batch::default();
        add(tree, &mut batch, &mut entries).unwrap();
        tree.apply_batch(batch).unwrap();
    }

    #[test]
    fn entries_added_in_any_order_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let tree = sled::open(dir.path()).unwrap().open_tree("graph").unwrap();
        // Five commits of keys spread over the whole range, so that every commit adds keys
        // before, between and after the existing pages.
        let total = 5_000u32;
        for part in 0..5u32 {
            let entries = (0..total)
                .filter(|n| (n * 7919) % 5 == part)
                .map(|n| (record_key(n), n))
                .collect();
            commit(&tree, entries);
        }
        // An identifier table next to the record table stays apart from it.
        commit(&tree, vec![(b"Iemail\0ann@example.com".to_vec(), 99_999)]);

        for n in 0..total {
            assert_eq!(lookup(&tree, &record_key(n)).unwrap(), Some(n), "key {n}");
        }
        assert_eq!(lookup(&tree, &record_key(total)).unwrap(), None);
        assert_eq!(lookup(&tree, b"Rcrm\0").unwrap(), None);
        assert_eq!(lookup(&tree, b"Rcrm\0zzz").unwrap(), None);
        assert_eq!(
            lookup(&tree, b"Iemail\0ann@example.com").unwrap(),
            Some(99_999)
        );
        assert_eq!(lookup(&tree, b"Iemail\0bob@example.com").unwrap(), None);

        let pages = tree.scan_prefix(b"R").count();
        assert!(pages >= total as usize / PAGE_ENTRIES, "{pages} pages");
        assert!(
            pages <= 2 * total as usize / (PAGE_ENTRIES / 2),
            "{pages} pages"
        );
    }

    #[test]
    fn random_commits_keep_pages_sorted_and_apart() {
        use rand::{RngExt, SeedableRng};
        let dir = tempfile::tempdir().unwrap();
        let tree = sled::open(dir.path()).unwrap().open_tree("graph").unwrap();
        let mut random = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut expected = std::collections::BTreeMap::new();
        let mut next_id = 0u32;
        for _ in 0..20 {
            let mut entries = Vec::new();
            for _ in 0..random.random_range(1..2_000) {
                // Keys of 1 to 40 characters, some of them multi-byte, in two tables.
                let length = random.random_range(1..40);
                let text: String = (0..length)
                    .map(|_| ['a', 'z', '0', 'é', '日', ' '][random.random_range(0..6)])
                    .collect();
                let table = if random.random_bool(0.8) { 'R' } else { 'I' };
                let key = format!("{table}src\0{text}").into_bytes();
                if expected.contains_key(&key) {
                    continue;
                }
                expected.insert(key.clone(), next_id);
                entries.push((key, next_id));
                next_id += 1;
            }
            commit(&tree, entries);
        }

        for (key, id) in &expected {
            assert_eq!(lookup(&tree, key).unwrap(), Some(*id));
        }
        // Each page is stored under its first key, is sorted, and ends before the next page.
        let mut previous_last: Option<Vec<u8>> = None;
        for item in tree.iter() {
            let (key, value) = item.unwrap();
            let entries = Page::parse(&value).unwrap().entries().unwrap();
            assert!(!entries.is_empty());
            assert!(entries.len() <= PAGE_ENTRIES);
            assert_eq!(entries[0].0, key.to_vec());
            assert!(entries.windows(2).all(|pair| pair[0].0 < pair[1].0));
            if let Some(last) = &previous_last {
                assert!(last < &entries[0].0);
            }
            previous_last = Some(entries.last().unwrap().0.clone());
        }
        let stored: usize = tree
            .iter()
            .map(|item| Page::parse(&item.unwrap().1).unwrap().count)
            .sum();
        assert_eq!(stored, expected.len());
    }

    #[test]
    fn long_keys_get_small_pages() {
        let dir = tempfile::tempdir().unwrap();
        let tree = sled::open(dir.path()).unwrap().open_tree("graph").unwrap();
        let long_key = |n: u32| {
            let mut key = b"Rcrm\0".to_vec();
            key.extend(std::iter::repeat_n(b'L', 10_240));
            key.extend_from_slice(format!("{n:05}").as_bytes());
            key
        };
        for n in 0..200 {
            commit(&tree, vec![(long_key(n), n)]);
        }

        for item in tree.iter() {
            let (_, value) = item.unwrap();
            assert!(value.len() <= PAGE_BYTES + 10_240 + 4 + 8 * PAGE_ENTRIES);
        }
        for n in 0..200 {
            assert_eq!(lookup(&tree, &long_key(n)).unwrap(), Some(n));
        }
    }

    #[test]
    fn key_before_first_page_renames_it() {
        let dir = tempfile::tempdir().unwrap();
        let tree = sled::open(dir.path()).unwrap().open_tree("graph").unwrap();
        commit(&tree, vec![(record_key(5), 5), (record_key(6), 6)]);
        commit(&tree, vec![(b"Rcrm\0a".to_vec(), 1)]);

        let pages: Vec<Vec<u8>> = tree
            .scan_prefix(b"R")
            .map(|item| item.unwrap().0.to_vec())
            .collect();
        assert_eq!(pages, vec![b"Rcrm\0a".to_vec()]);
        assert_eq!(lookup(&tree, b"Rcrm\0a").unwrap(), Some(1));
        assert_eq!(lookup(&tree, &record_key(6)).unwrap(), Some(6));
    }

    #[test]
    fn malformed_page_is_corrupt_error() {
        let dir = tempfile::tempdir().unwrap();
        let tree = sled::open(dir.path()).unwrap().open_tree("graph").unwrap();
        tree.insert(b"Rcrm\0a", &[9, 0, 0, 0, 1][..]).unwrap();

        let error = lookup(&tree, b"Rcrm\0b").unwrap_err();
        assert!(error.to_string().contains("index page"), "{error}");
    }
}
