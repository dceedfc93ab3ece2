//! Qualification cases: over-merge protection, hubs, bridges, overrides and arrival order,
//! on real sled stores in temporary directories. The people and values are made up.

use std::collections::{BTreeMap, BTreeSet};

mod common;

use common::{entity_of, record};
use idgraph::ingest::RecordInput;
use idgraph::{Conflict, Node, Store};

/// Returns the partition of the records as sets of `source/key`.
fn partition(store: &Store) -> BTreeSet<BTreeSet<String>> {
    let mut groups: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    for item in store.records() {
        let (_, record) = item.unwrap();
        groups
            .entry(record.entity)
            .or_default()
            .insert(format!("{}/{}", record.source, record.key));
    }
    groups.into_values().collect()
}

/// Returns the conflicts of the entity of record `key` of `source`.
fn conflicts_of(store: &Store, source: &str, key: &str) -> Vec<Conflict> {
    let entity = entity_of(store, source, key);
    store.entity(entity).unwrap().unwrap().conflicts
}

fn node_id(store: &Store, source: &str, key: &str) -> u32 {
    store.find_record(source, key).unwrap().unwrap()
}

#[test]
fn colleagues_sharing_support_mailbox_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store
        .upsert([
            record(
                "crm",
                "ann",
                &[
                    ("email", "ann.lee@acme.example"),
                    ("email", "support@acme.example"),
                ],
            ),
            record(
                "crm",
                "bob",
                &[
                    ("email", "bob.ray@acme.example"),
                    ("email", "Support@Acme.example"),
                ],
            ),
        ])
        .unwrap();
    assert_ne!(
        entity_of(&store, "crm", "ann"),
        entity_of(&store, "crm", "bob")
    );
    for key in ["ann", "bob"] {
        let flagged = conflicts_of(&store, "crm", key)
            .into_iter()
            .any(|conflict| {
                matches!(conflict, Conflict::Hub { value, degree: 2, .. }
                if value == "support@acme.example")
            });
        assert!(flagged, "the support mailbox is flagged on {key}'s entity");
    }
    let hubs = store.hubs().unwrap();
    assert!(hubs.is_empty(), "two records make no hub: {hubs:?}");
}

#[test]
fn shared_tablet_links_no_super_profile() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store
        .upsert([
            record(
                "shop",
                "login-1",
                &[("customer_id", "C-100"), ("device_id", "tablet-7")],
            ),
            record(
                "shop",
                "login-2",
                &[("customer_id", "C-200"), ("device_id", "tablet-7")],
            ),
        ])
        .unwrap();
    let first = entity_of(&store, "shop", "login-1");
    let second = entity_of(&store, "shop", "login-2");
    assert_ne!(first, second, "two customer ids of one shop must not merge");

    // The device stays linked to both records.
    let device = store
        .find_identifier(
            &idgraph::IdentifierKind::new("device_id").unwrap(),
            "tablet-7",
        )
        .unwrap()
        .unwrap();
    let Some(Node::Identifier(device)) = store.node(device).unwrap() else {
        panic!("device node missing");
    };
    assert_eq!(device.records.len(), 2);
    for key in ["login-1", "login-2"] {
        let conflicts = conflicts_of(&store, "shop", key);
        let shared = conflicts.iter().any(|conflict| {
            matches!(conflict, Conflict::SharedIdentifier { value, entities: 2, .. }
                if value == "tablet-7")
        });
        assert!(shared, "device flagged on {key}: {conflicts:?}");
        let held = conflicts.iter().any(|conflict| {
            matches!(conflict, Conflict::HeldBack { reason, .. } if reason.contains("customer_id"))
        });
        assert!(held, "held link recorded on {key}: {conflicts:?}");
    }
    let log = store.audit_log().unwrap();
    let held_events = log
        .iter()
        .filter(|event| matches!(event.action, idgraph::AuditAction::HeldBack { .. }))
        .count();
    assert_eq!(held_events, 1, "{log:?}");
}

#[test]
fn placeholders_link_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let shared = [
        ("customer_id", "unknown"),
        ("device_id", "?"),
        ("full_name", "John Doe"),
        ("phone", "+1"),
        ("phone", "0000000000"),
        ("email", "none@none.example"),
    ];
    let records: Vec<RecordInput> = (0..4)
        .map(|n| record("crm", &format!("p{n}"), &shared))
        .collect();
    store.upsert(records).unwrap();
    assert_eq!(partition(&store).len(), 4);
    assert_eq!(store.counters().identifiers, 0);
}

/// Two tight groups and a record that matches one member of each equally well.
fn bridge_records() -> Vec<RecordInput> {
    vec![
        record(
            "crm",
            "a1",
            &[("email", "a@x.example"), ("phone", "+14155550101")],
        ),
        record(
            "crm",
            "a2",
            &[
                ("email", "a@x.example"),
                ("phone", "+14155550101"),
                ("device_id", "d-1"),
            ],
        ),
        record(
            "crm",
            "b1",
            &[
                ("email", "b@x.example"),
                ("phone", "+14155550202"),
                ("device_id", "d-2"),
            ],
        ),
        record(
            "crm",
            "b2",
            &[("email", "b@x.example"), ("phone", "+14155550202")],
        ),
        record("web", "new", &[("device_id", "d-1"), ("device_id", "d-2")]),
    ]
}

#[test]
fn record_between_groups_is_held_in_any_order() {
    let expected: BTreeSet<BTreeSet<String>> = [
        vec!["crm/a1", "crm/a2"],
        vec!["crm/b1", "crm/b2"],
        vec!["web/new"],
    ]
    .into_iter()
    .map(|group| group.into_iter().map(str::to_owned).collect())
    .collect();
    // Every rotation of the arrival order, one record per batch, and all in one batch.
    let records = bridge_records();
    for rotation in 0..=records.len() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        if rotation == records.len() {
            store.upsert(records.clone()).unwrap();
        } else {
            let mut order = records.clone();
            order.rotate_left(rotation);
            for one in order {
                store.upsert([one]).unwrap();
            }
        }
        assert_eq!(partition(&store), expected, "arrival rotation {rotation}");
        let held = conflicts_of(&store, "web", "new")
            .into_iter()
            .filter(|conflict| {
                matches!(conflict, Conflict::HeldBack { reason, .. }
                    if reason.contains("equally well"))
            })
            .count();
        assert_eq!(
            held, 2,
            "both links of the new record held, rotation {rotation}"
        );
    }
}

#[test]
fn operator_merges_then_unmerges() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let people = [
        record(
            "crm",
            "r1",
            &[("email", "one@x.example"), ("phone", "+14155550111")],
        ),
        record(
            "crm",
            "r2",
            &[("email", "two@x.example"), ("phone", "+14155550111")],
        ),
        record("crm", "r3", &[("email", "three@x.example")]),
    ];
    store.upsert(people.clone()).unwrap();
    let (r1, r2, r3) = (
        node_id(&store, "crm", "r1"),
        node_id(&store, "crm", "r2"),
        node_id(&store, "crm", "r3"),
    );
    assert_eq!(
        entity_of(&store, "crm", "r1"),
        entity_of(&store, "crm", "r2")
    );

    store
        .link(r1, r3, "same customer, confirmed by phone")
        .unwrap();
    store.link(r2, r3, "same customer").unwrap();
    assert_eq!(partition(&store).len(), 1);

    store.unlink(r1, r3, "r3 is the customer's son").unwrap();
    store.unlink(r2, r3, "r3 is the customer's son").unwrap();
    assert_eq!(partition(&store).len(), 2);
    assert_ne!(
        entity_of(&store, "crm", "r3"),
        entity_of(&store, "crm", "r1")
    );
    assert_eq!(
        entity_of(&store, "crm", "r1"),
        entity_of(&store, "crm", "r2")
    );

    store.unlink(r1, r2, "two people share the phone").unwrap();
    assert_eq!(partition(&store).len(), 3);

    // Ingesting the same records again does not undo the operator's split.
    store.upsert(people).unwrap();
    assert_eq!(partition(&store).len(), 3);

    // Every record keeps its own email and attributes.
    for (key, email) in [
        ("r1", "one@x.example"),
        ("r2", "two@x.example"),
        ("r3", "three@x.example"),
    ] {
        let entity = entity_of(&store, "crm", key);
        let email_id = store
            .find_identifier(&idgraph::IdentifierKind::new("email").unwrap(), email)
            .unwrap()
            .unwrap();
        assert_eq!(
            store.node(email_id).unwrap().unwrap().entity(),
            Some(entity)
        );
        let Some(Node::Record(stored)) = store.node(node_id(&store, "crm", key)).unwrap() else {
            panic!("record {key} missing");
        };
        assert_eq!(stored.attribute("name"), Some(key));
    }

    let log = store.audit_log().unwrap();
    let count = |wanted: fn(&idgraph::AuditAction) -> bool| {
        log.iter().filter(|event| wanted(&event.action)).count()
    };
    assert_eq!(
        count(|a| matches!(a, idgraph::AuditAction::Linked { .. })),
        2
    );
    assert_eq!(
        count(|a| matches!(a, idgraph::AuditAction::Unlinked { .. })),
        3
    );
    assert!(count(|a| matches!(a, idgraph::AuditAction::Merged { .. })) >= 1);
    assert!(count(|a| matches!(a, idgraph::AuditAction::Split { .. })) >= 2);
}

#[test]
fn agent_address_is_hub_not_giant_entity() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let companies = 2_000;
    let mut records = Vec::new();
    for n in 0..companies {
        records.push(record(
            "registry",
            &format!("agent-{n}"),
            &[("address", "1 Agent Plaza, Suite 100, Dover")],
        ));
        records.push(record(
            "registry",
            &format!("own-{n}"),
            &[("address", &format!("{n} Main Street, Springfield"))],
        ));
    }
    store.upsert(records).unwrap();
    let largest = store
        .entities()
        .map(|entity| entity.unwrap().members.len())
        .max()
        .unwrap();
    assert!(largest <= 2, "largest entity has {largest} members");
    assert_eq!(store.counters().entities, 2 * companies);
    let hubs = store.hubs().unwrap();
    assert_eq!(hubs.len(), 1, "{hubs:?}");
    assert_eq!(hubs[0].degree, companies);
    assert_eq!(hubs[0].kind.as_str(), "address");

    // One more company at the agent's address costs no more than a fresh one.
    store
        .upsert([record(
            "registry",
            "agent-late",
            &[("address", "1 agent plaza, suite 100, dover")],
        )])
        .unwrap();
    assert_eq!(store.counters().entities, 2 * companies + 1);
}

#[test]
fn company_name_on_many_filings_is_no_hub() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    // Forty filings of one company under one normalized name, each naming the company in its
    // `name` attribute as well: the records name one party, so the value links them.
    let filings = (0..40).map(|n| {
        let spelling = if n % 2 == 0 {
            "ACME Widgets"
        } else {
            "Acme  widgets"
        };
        RecordInput::new("patents", format!("p{n}"))
            .identifier("company_name", "acme widgets")
            .attribute("name", spelling)
    });
    store.upsert(filings).unwrap();

    assert_eq!(store.counters().entities, 1);
    assert!(store.hubs().unwrap().is_empty());
}

#[test]
fn strangers_or_family_on_one_phone_make_hub() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    // Fifteen people of one family share a landline: the surname agrees, the first names do
    // not, so the phone is a hub and links no records.
    let family = (0..15).map(|n| {
        RecordInput::new("crm", format!("f{n}"))
            .identifier("phone", "+44 20 7946 0000")
            .attribute("first_name", format!("child{n}"))
            .attribute("surname", "Okafor")
    });
    store.upsert(family).unwrap();

    assert_eq!(store.counters().entities, 15);
    let hubs = store.hubs().unwrap();
    assert_eq!(hubs.len(), 1, "{hubs:?}");
    assert_eq!(hubs[0].degree, 15);

    // Records without any name never confirm a shared value either.
    let nameless = (0..15)
        .map(|n| RecordInput::new("web", format!("w{n}")).identifier("device_id", "tablet-7"));
    store.upsert(nameless).unwrap();
    assert_eq!(store.counters().entities, 30);
    assert_eq!(store.hubs().unwrap().len(), 2);
}

#[test]
fn hub_formed_later_frees_what_it_glued() {
    // Ten filings of one company share its mailbox, then ten strangers write from it too.
    let company = (0..10).map(|n| {
        RecordInput::new("crm", format!("a{n}"))
            .identifier("email", "ap@acme.example")
            .identifier("phone", format!("+1 415 555 {}", 1000 + n))
            .attribute("name", "Acme Corp")
    });
    let strangers = (0..10).map(|n| {
        RecordInput::new("crm", format!("b{n}"))
            .identifier("email", "ap@acme.example")
            .attribute("name", format!("Person {n}"))
    });
    let build = |batches: Vec<Vec<RecordInput>>| {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        for batch in batches {
            store.upsert(batch).unwrap();
        }
        (dir, partition(&store))
    };
    let (_one, together) = build(vec![company.clone().chain(strangers.clone()).collect()]);
    let (_two, apart) = build(vec![company.collect(), strangers.collect()]);

    assert_eq!(together.len(), 20);
    assert_eq!(apart, together);
}

#[test]
fn names_under_different_attributes_never_agree() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    // Nine strangers on one phone, each with a name under another attribute: no name is
    // compared with another, so nothing confirms the phone.
    let attributes = idgraph::Config::default().name_attributes;
    // With nine records or more, the phone's degree discount alone keeps it below the threshold.
    assert!(attributes.len() >= 9);
    let strangers = attributes.iter().enumerate().map(|(n, attribute)| {
        RecordInput::new("crm", format!("s{n}"))
            .identifier("phone", "+1 415 555 2671")
            .attribute(attribute.as_str(), format!("Stranger{n} Unique{n}"))
    });
    store.upsert(strangers).unwrap();

    assert_eq!(store.counters().entities, attributes.len() as u64);
}

#[test]
fn filler_names_never_agree() {
    for filler in ["-", "0", "x", "Customer", "guest"] {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let records = (0..40).map(|n| {
            RecordInput::new("crm", format!("r{n}"))
                .identifier("email", "shared.box@acme.example")
                .attribute("name", filler)
        });
        store.upsert(records).unwrap();

        assert_eq!(store.counters().entities, 40, "name {filler:?}");
        assert_eq!(store.hubs().unwrap().len(), 1, "name {filler:?}");
    }
}

/// A record as the event test compares it: key, entity, attributes, identifier edges and
/// past identifiers.
type RecordView = (String, u32, Vec<(String, String)>, Vec<String>, Vec<String>);

/// Returns each record's entity, attributes, identifier edges with their weights and
/// sightings, and past identifiers with their sightings. Identifiers are named by value,
/// because node ids follow arrival order.
fn record_view(store: &Store) -> Vec<RecordView> {
    let mut view = Vec::new();
    for item in store.records() {
        let (_, record) = item.unwrap();
        let edges = record
            .edges
            .iter()
            .map(|edge| {
                let Some(Node::Identifier(identifier)) = store.node(edge.to).unwrap() else {
                    panic!("edge to node {} is not an identifier edge", edge.to);
                };
                format!(
                    "{} {} {}, first {}, last {}, count {}",
                    edge.evidence,
                    identifier.value,
                    edge.weight,
                    edge.first_seen,
                    edge.last_seen,
                    edge.count
                )
            })
            .collect();
        let past = record
            .past_identifiers
            .iter()
            .map(|past| {
                format!(
                    "{} {}, first {}, last {}, count {}",
                    past.kind, past.value, past.first_seen, past.last_seen, past.count
                )
            })
            .collect();
        view.push((record.key, record.entity, record.attributes, edges, past));
    }
    view
}

#[test]
fn late_events_give_same_graph() {
    let event = |key: &str, at: i64, email: Option<&str>, city: &str| {
        let mut event = RecordInput::new("web", key)
            .attribute("city", city)
            .timestamp(at);
        if let Some(email) = email {
            event = event.identifier("email", email);
        }
        event
    };
    let base = [
        event("s1", 100, Some("ann@x.example"), "Leeds"),
        event("s2", 100, Some("bob@x.example"), "York"),
    ];
    // s1 drops its email at 200 and carries it again from 300. s2 carries carl's email only
    // at 250, a version that is stale in some orders and current in others.
    let updates = [
        event("s1", 200, None, "Hull"),
        event("s2", 300, Some("ann@x.example"), "Hull"),
        event("s1", 400, Some("ann@x.example"), "Bath"),
        event("s2", 500, Some("bob@x.example"), "York"),
        event("s1", 300, Some("ann@x.example"), "Hull"),
        event("s2", 250, Some("carl@x.example"), "York"),
    ];
    let build = |order: &[usize]| {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.upsert(base.clone()).unwrap();
        for &n in order {
            store.upsert([updates[n].clone()]).unwrap();
        }
        let view = record_view(&store);
        let identifiers = store.counters().identifiers;
        (dir, view, identifiers)
    };
    let (_in_order, expected, identifiers) = build(&[0, 1, 2, 3, 4, 5]);
    // carl's email, current in some orders and only stale in others, is carried by no record.
    assert_eq!(identifiers, 2);
    let orders = [
        [5, 4, 3, 2, 1, 0],
        [1, 3, 0, 2, 5, 4],
        [2, 0, 3, 1, 4, 5],
        [0, 4, 2, 5, 1, 3],
        [5, 1, 0, 4, 3, 2],
    ];
    for order in orders {
        let (_dir, view, count) = build(&order);
        assert_eq!(view, expected, "events in order {order:?}");
        assert_eq!(count, identifiers, "identifiers in order {order:?}");
    }
    // The newest event wins: s1 is in Bath, s2 back on its own email.
    assert_eq!(expected[0].2, vec![("city".to_owned(), "Bath".to_owned())]);
    assert_ne!(expected[0].1, expected[1].1);
    // s1 carried ann's email at 100, 300 and 400, but not at 200.
    assert_eq!(
        expected[0].3,
        vec!["has email ann@x.example 0.9, first 100, last 400, count 3"]
    );
    assert!(expected[0].4.is_empty());
    assert_eq!(
        expected[1].3,
        vec!["has email bob@x.example 0.9, first 100, last 500, count 2"]
    );
    assert_eq!(
        expected[1].4,
        vec![
            "email ann@x.example, first 300, last 300, count 1",
            "email carl@x.example, first 250, last 250, count 1",
        ]
    );
}
