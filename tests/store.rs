//! Store and resolution on a real sled store in a temporary directory.

use std::collections::{BTreeMap, BTreeSet};

mod common;

use common::{entity_of, record};
use idgraph::ingest::RecordInput;
use idgraph::{Conflict, Node, Store, Tier};

/// Returns every node with its entity, and every entity with its qualification.
fn snapshot(store: &Store) -> (Vec<(u32, Node)>, Vec<idgraph::Entity>) {
    let nodes = store.nodes().collect::<Result<Vec<_>, _>>().unwrap();
    let entities = store.entities().collect::<Result<Vec<_>, _>>().unwrap();
    (nodes, entities)
}

#[test]
fn shared_email_links_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store
        .upsert([
            record("crm", "1", &[("email", "ann@example.com")]),
            record(
                "web",
                "s1",
                &[("email", "ann@example.com"), ("cookie", "c-1")],
            ),
            record("crm", "2", &[("email", "bob@example.com")]),
        ])
        .unwrap();
    assert_eq!(
        entity_of(&store, "crm", "1"),
        entity_of(&store, "web", "s1")
    );
    assert_ne!(entity_of(&store, "crm", "1"), entity_of(&store, "crm", "2"));
    assert_eq!(store.counters().records, 3);
    assert_eq!(store.counters().entities, 2);
}

#[test]
fn reopen_gives_same_graph() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let mut store = Store::open(dir.path()).unwrap();
        store
            .upsert([
                record(
                    "crm",
                    "1",
                    &[("email", "a@x.com"), ("national_id", "111-22-333")],
                ),
                record(
                    "crm",
                    "2",
                    &[("email", "a@x.com"), ("national_id", "999-88-777")],
                ),
                record("web", "s", &[("cookie", "k1")]),
            ])
            .unwrap();
        store.flush().unwrap();
        (snapshot(&store), store.counters().clone())
    };
    let store = common::reopen(dir.path(), None);
    assert_eq!(snapshot(&store), before.0);
    assert_eq!(store.counters(), &before.1);
}

#[test]
fn same_key_updates_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store
        .upsert([record("crm", "1", &[("email", "a@x.com")])])
        .unwrap();
    let report = store
        .upsert([record("crm", "1", &[("email", "a@x.com")]).attribute("city", "Oslo")])
        .unwrap();
    assert_eq!(report.updated, 1);
    assert_eq!(report.inserted, 0);
    assert_eq!(store.counters().records, 1);
    assert_eq!(store.counters().identifiers, 1);
    assert_eq!(store.counters().edges, 1);
    let id = store.find_record("crm", "1").unwrap().unwrap();
    let Some(Node::Record(stored)) = store.node(id).unwrap() else {
        panic!("node {id} is not a record");
    };
    assert_eq!(stored.attribute("city"), Some("Oslo"));
    assert_eq!(stored.edges[0].count, 2);
}

#[test]
fn merge_keeps_older_entity_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store
        .upsert([record("crm", "old", &[("email", "a@x.com")])])
        .unwrap();
    store
        .upsert([record("crm", "other", &[("email", "z@x.com")])])
        .unwrap();
    store
        .upsert([record("crm", "new", &[("phone_hash", "p1")])])
        .unwrap();
    let old = entity_of(&store, "crm", "old");
    let other = entity_of(&store, "crm", "other");
    let new = entity_of(&store, "crm", "new");
    assert!(old < new);

    // A record carrying both identifiers merges the two entities into the older one.
    store
        .upsert([record(
            "web",
            "bridge",
            &[("email", "a@x.com"), ("phone_hash", "p1")],
        )])
        .unwrap();
    assert_eq!(entity_of(&store, "crm", "new"), old);
    assert_eq!(entity_of(&store, "web", "bridge"), old);
    assert_eq!(store.entity(new).unwrap(), None);
    // The unrelated entity keeps its id.
    assert_eq!(entity_of(&store, "crm", "other"), other);
}

#[test]
fn removed_identifier_splits_entity() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store
        .upsert([
            record("crm", "a", &[("email", "a@x.com")]),
            record("crm", "b", &[("email", "a@x.com"), ("email", "b@x.com")]),
            record("crm", "c", &[("email", "b@x.com")]),
        ])
        .unwrap();
    let first = entity_of(&store, "crm", "a");
    assert_eq!(entity_of(&store, "crm", "c"), first);

    // b drops a@x.com: a is alone, b and c stay together; a is the oldest, so it keeps the id.
    store
        .upsert([record("crm", "b", &[("email", "b@x.com")])])
        .unwrap();
    assert_eq!(entity_of(&store, "crm", "a"), first);
    assert_ne!(entity_of(&store, "crm", "b"), first);
    assert_eq!(entity_of(&store, "crm", "b"), entity_of(&store, "crm", "c"));
    assert_eq!(store.counters().entities, 2);
}

#[test]
fn unique_kind_holds_back_link() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store
        .upsert([
            record(
                "crm",
                "1",
                &[("email", "a@x.com"), ("national_id", "123456789")],
            ),
            record(
                "crm",
                "2",
                &[("email", "a@x.com"), ("national_id", "987654321")],
            ),
        ])
        .unwrap();
    let first = entity_of(&store, "crm", "1");
    let second = entity_of(&store, "crm", "2");
    assert_ne!(first, second, "two national ids must not merge");
    for id in [first, second] {
        let entity = store.entity(id).unwrap().unwrap();
        // The held link and the email shared across entities, both low (0.8 each).
        assert_eq!(entity.tier, Tier::Medium);
        assert!((entity.score - 0.64).abs() < 1e-6, "score {}", entity.score);
        let reason = entity
            .conflicts
            .iter()
            .find_map(|conflict| match conflict {
                Conflict::HeldBack { reason, .. } => Some(reason),
                _ => None,
            })
            .expect("a held-back link");
        assert!(reason.contains("2 national_id values"), "{reason}");
        assert!(reason.contains("123456789, 987654321"), "{reason}");
        let shared = entity.conflicts.iter().any(|conflict| {
            matches!(conflict, Conflict::SharedIdentifier { value, .. } if value == "a@x.com")
        });
        assert!(shared, "{:?}", entity.conflicts);
    }
}

#[test]
fn manual_link_keeps_unique_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store
        .upsert([
            record("crm", "1", &[("national_id", "123456789")]),
            record("crm", "2", &[("national_id", "987654321")]),
        ])
        .unwrap();
    let one = store.find_record("crm", "1").unwrap().unwrap();
    let two = store.find_record("crm", "2").unwrap().unwrap();
    store.link(one, two, "same person, id typo").unwrap();
    let entity = store
        .entity(entity_of(&store, "crm", "1"))
        .unwrap()
        .unwrap();
    assert_eq!(entity_of(&store, "crm", "2"), entity.id);
    assert_eq!(entity.tier, Tier::Low);
    let Conflict::UniqueKindViolated { kind, values } = &entity.conflicts[0] else {
        panic!(
            "expected a unique-kind conflict, got {:?}",
            entity.conflicts
        );
    };
    assert_eq!(kind.as_str(), "national_id");
    assert_eq!(
        values,
        &vec!["123456789".to_owned(), "987654321".to_owned()]
    );
}

#[test]
fn weak_kind_does_not_link() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store
        .upsert([
            record("web", "1", &[("ip", "10.0.0.1")]),
            record("web", "2", &[("ip", "10.0.0.1")]),
        ])
        .unwrap();
    assert_ne!(entity_of(&store, "web", "1"), entity_of(&store, "web", "2"));
    let ip = store
        .find_identifier(&idgraph::IdentifierKind::new("ip").unwrap(), "10.0.0.1")
        .unwrap()
        .unwrap();
    assert_eq!(store.node(ip).unwrap().unwrap().entity(), None);
}

#[test]
fn unrelated_ingest_keeps_entity_ids() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store
        .upsert([record("crm", "1", &[("email", "a@x.com")])])
        .unwrap();
    let before = entity_of(&store, "crm", "1");
    store
        .upsert((0..50).map(|i| {
            record(
                "crm",
                &format!("u{i}"),
                &[("email", &format!("u{i}@x.com"))],
            )
        }))
        .unwrap();
    assert_eq!(entity_of(&store, "crm", "1"), before);
}

/// Returns the partition of the records `keys` of source `crm` as sets of keys.
fn partition<'k>(store: &Store, keys: &[&'k String]) -> BTreeSet<BTreeSet<&'k str>> {
    let mut groups: BTreeMap<u32, BTreeSet<&str>> = BTreeMap::new();
    for key in keys {
        groups
            .entry(entity_of(store, "crm", key))
            .or_default()
            .insert(key.as_str());
    }
    groups.into_values().collect()
}

/// Resolution batch by batch, with updates, gives the same entities as one batch of the final
/// records in reverse order.
#[test]
fn incremental_equals_from_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("incremental")).unwrap();
    // A deterministic pseudo-random sequence of records over a small identifier space, with
    // updates that move records between identifiers.
    let mut state: u64 = 42;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let mut latest: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut merged_some = false;
    for round in 0..20 {
        let mut batch = Vec::new();
        for _ in 0..15 {
            let key = format!("r{}", next() % 60);
            let emails: Vec<String> = (0..next() % 3)
                .map(|_| format!("e{}@x.com", next() % 40))
                .collect();
            let pairs: Vec<(&str, &str)> = emails.iter().map(|e| ("email", e.as_str())).collect();
            batch.push(record("crm", &key, &pairs));
            latest.insert(key, emails);
        }
        store.upsert(batch).unwrap();

        let scratch_dir = dir.path().join(format!("scratch-{round}"));
        let mut scratch = Store::open(&scratch_dir).unwrap();
        let reversed: Vec<RecordInput> = latest
            .iter()
            .rev()
            .map(|(key, emails)| {
                let pairs: Vec<(&str, &str)> =
                    emails.iter().map(|e| ("email", e.as_str())).collect();
                record("crm", key, &pairs)
            })
            .collect();
        scratch.upsert(reversed).unwrap();

        let keys: Vec<&String> = latest.keys().collect();
        let expected = partition(&scratch, &keys);
        assert_eq!(
            partition(&store, &keys),
            expected,
            "partition differs after round {round}"
        );
        assert_eq!(
            store.counters().entities as usize,
            expected.len(),
            "entity count after round {round}"
        );
        merged_some |= expected.iter().any(|group| group.len() > 1);
    }
    assert!(merged_some, "the sequence never linked two records");
}

#[test]
fn shared_support_mailbox_does_not_link() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store
        .upsert([
            record(
                "crm",
                "ann",
                &[
                    ("email", "ann@team.example"),
                    ("email", "support@team.example"),
                ],
            ),
            record(
                "crm",
                "bob",
                &[
                    ("email", "bob@team.example"),
                    ("email", "Support@Team.example"),
                ],
            ),
        ])
        .unwrap();
    assert_ne!(
        entity_of(&store, "crm", "ann"),
        entity_of(&store, "crm", "bob")
    );
    let email = idgraph::IdentifierKind::new("email").unwrap();
    let support = store
        .find_identifier(&email, "support@team.example")
        .unwrap()
        .unwrap();
    let Some(Node::Identifier(mailbox)) = store.node(support).unwrap() else {
        panic!("node {support} is not an identifier");
    };
    assert_eq!(
        mailbox.records.len(),
        2,
        "both records still carry the mailbox"
    );
    assert_eq!(mailbox.entity, None, "a role mailbox links no one");
}

/// A record without edges gets its entity without the full partition; resolving again from
/// scratch, which runs the partition, must give the same entity.
#[test]
fn lone_record_entity_matches_full_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let mut store = Store::open(dir.path()).unwrap();
        store
            .upsert([
                record("crm", "alone", &[]),
                record("crm", "1", &[("email", "a@x.com")]),
            ])
            .unwrap();
        store.flush().unwrap();
        snapshot(&store).1
    };
    // A new link threshold makes the store resolve every entity again.
    let config = idgraph::Config {
        link_threshold: 0.55,
        ..idgraph::Config::default()
    };
    let store = common::reopen(dir.path(), Some(config));
    let after = snapshot(&store).1;
    assert_eq!(after, before);
    assert_eq!(after.len(), 2);
}
