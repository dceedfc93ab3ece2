//! The statements that list, explain and change qualification (`hubs`, `entities`, `why`,
//! `bridges`, `audit`, `link`, `unlink`, `split`), run through the `idgraph` binary on real
//! stores in temporary directories.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn idgraph() -> Command {
    Command::cargo_bin("idgraph").unwrap()
}

/// Number of kiosk records that carry the shared device besides `dan-2`, so that the device
/// is on 15 records, above the default hub degree of 12 for device ids.
const KIOSKS: usize = 14;

/// Writes the people CSV and ingests it into a new store, with the store configuration
/// `config` (TOML) when given.
///
/// - `ann-crm` and `ann-web` share an email, so they form one entity linked at 0.9.
/// - `bob` and `cat` share only the role mailbox support@shop.example, which links nothing.
/// - `dan-1` and `dan-2` share only a cookie (0.6), and `dan-2` carries the device `dev-hub`
///   that the kiosks share too, so their entity has a hub conflict and a low tier.
fn people_store(dir: &Path, config: Option<&str>) -> PathBuf {
    let mut csv = String::from("key,name,email,device,cookie\n");
    csv.push_str("ann-crm,Ann Lee,ann@x.com,,\n");
    csv.push_str("ann-web,Ann Lee,ann@x.com,,c-ann\n");
    csv.push_str("bob,Bob Stone,support@shop.example,,\n");
    csv.push_str("cat,Cat Park,support@shop.example,,\n");
    csv.push_str("dan-1,Dan Roe,,,c-dan\n");
    csv.push_str("dan-2,Dan Roe,,dev-hub,c-dan\n");
    for kiosk in 1..=KIOSKS {
        csv.push_str(&format!("kiosk-{kiosk},Kiosk {kiosk},,dev-hub,\n"));
    }
    let input = dir.join("people.csv");
    std::fs::write(&input, csv).unwrap();

    let store = dir.join("store");
    let mut command = idgraph();
    command
        .args(["ingest", store.to_str().unwrap(), input.to_str().unwrap()])
        .args(["--source", "crm", "--key", "key", "--no-progress"])
        .args(["--id", "email=email", "--id", "device=device_id"])
        .args(["--id", "cookie=cookie"]);
    if let Some(config) = config {
        let path = dir.join("config.toml");
        std::fs::write(&path, config).unwrap();
        command.args(["--config", path.to_str().unwrap()]);
    }
    command
        .assert()
        .success()
        .stdout(predicate::str::contains("20 new records"));
    store
}

/// Adds two tight pairs of records, each sharing an email and a cookie, and a device shared
/// across the pairs: a weak bridge that resolution holds back.
fn add_bridge(dir: &Path, store: &Path) {
    let csv = "key,name,email,device,cookie\n\
               gus-1,Gus Hale,gus@x.com,,c-gus\n\
               gus-2,Gus Hale,gus@x.com,dev-shared,c-gus\n\
               hal-1,Hal Ives,hal@x.com,dev-shared,c-hal\n\
               hal-2,Hal Ives,hal@x.com,,c-hal\n";
    let input = dir.join("pairs.csv");
    std::fs::write(&input, csv).unwrap();
    idgraph()
        .args(["ingest", store.to_str().unwrap(), input.to_str().unwrap()])
        .args(["--source", "crm", "--key", "key", "--no-progress"])
        .args(["--id", "email=email", "--id", "device=device_id"])
        .args(["--id", "cookie=cookie"])
        .assert()
        .success();
}

/// Runs one statement with JSON output and returns the document.
fn query_json(store: &Path, statement: &str) -> Value {
    let output = idgraph()
        .args(["query", store.to_str().unwrap(), statement])
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "`{statement}` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("`{statement}` printed invalid JSON: {error}"))
}

/// Runs one statement with table output and returns the text.
fn query_table(store: &Path, statement: &str) -> String {
    let output = idgraph()
        .args(["query", store.to_str().unwrap(), statement])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "`{statement}` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Returns the entity id of the record `key` of source `crm`.
fn entity_of(store: &Path, key: &str) -> u64 {
    let found = query_json(store, &format!("find record crm {key}"));
    found["entity"]["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("record {key} has no entity: {found}"))
}

/// Returns the `event` texts of an audit listing, newest first.
fn audit_events(store: &Path, statement: &str) -> Vec<String> {
    let events = query_json(store, statement);
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["event"].as_str().unwrap().to_owned())
        .collect()
}

/// Returns the `id` of each row of an `entities` listing, in order.
fn listed_ids(listing: &Value) -> Vec<u64> {
    listing
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn hubs_lists_shared_device() {
    let dir = tempfile::tempdir().unwrap();
    let store = people_store(dir.path(), None);

    let hubs = query_json(&store, "hubs");
    let hubs = hubs.as_array().unwrap();
    assert_eq!(hubs.len(), 1, "{hubs:?}");
    assert_eq!(hubs[0]["kind"], "device_id");
    assert_eq!(hubs[0]["value"], "dev-hub");
    assert_eq!(hubs[0]["degree"], (KIOSKS + 1) as u64);
    assert_eq!(hubs[0]["hub_degree"], 12);

    let table = query_table(&store, "hubs kind device_id");
    assert!(table.starts_with("hubs (1 rows)"), "{table}");
    assert!(table.contains("dev-hub"), "{table}");

    let email_hubs = query_json(&store, "hubs kind email");
    assert_eq!(email_hubs, Value::Array(Vec::new()));
    let limited = query_json(&store, "hubs limit 0");
    assert_eq!(limited, Value::Array(Vec::new()));
}

#[test]
fn entities_filter_by_tier_conflict_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = people_store(dir.path(), None);
    let ann = entity_of(&store, "ann-crm");
    let dan = entity_of(&store, "dan-1");
    let bob = entity_of(&store, "bob");

    let low = query_json(&store, "entities tier low");
    assert_eq!(listed_ids(&low), vec![dan]);
    assert_eq!(low[0]["records"], 2);
    assert_eq!(low[0]["tier"], "low");
    assert_eq!(low[0]["conflicts"], 1);

    // Every entity but Ann's has a hub conflict: the device, or the role mailbox.
    let with_hub = listed_ids(&query_json(&store, "entities conflict hub"));
    assert_eq!(with_hub.len(), 17, "{with_hub:?}");
    assert!(!with_hub.contains(&ann), "{with_hub:?}");
    assert!(with_hub.contains(&bob), "{with_hub:?}");

    // An identifier kind selects the hub conflicts about that kind only.
    let with_device = listed_ids(&query_json(&store, "entities conflict device_id"));
    assert_eq!(with_device.len(), KIOSKS + 1, "{with_device:?}");
    assert!(with_device.contains(&dan), "{with_device:?}");
    assert!(!with_device.contains(&bob), "{with_device:?}");

    // The default order is by score, lowest first.
    let all = query_json(&store, "entities");
    assert_eq!(all.as_array().unwrap().len(), 18);
    assert_eq!(all[0]["id"].as_u64(), Some(dan));
    let scores: Vec<f64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["score"].as_f64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|pair| pair[0] <= pair[1]),
        "{scores:?}"
    );

    let pairs = query_json(&store, "entities size at least 2 by size");
    let mut expected = vec![ann, dan];
    expected.sort_unstable();
    assert_eq!(listed_ids(&pairs), expected);

    let limited = query_json(&store, "entities by size limit 1");
    assert_eq!(listed_ids(&limited), vec![expected[0]]);
}

#[test]
fn why_names_weakest_link_and_cutoff() {
    let dir = tempfile::tempdir().unwrap();
    let store = people_store(dir.path(), None);

    let table = query_table(&store, "why entity of record crm dan-1");
    assert!(
        table.contains("record crm/dan-1 and record crm/dan-2"),
        "{table}"
    );
    assert!(table.contains("cookie"), "{table}");
    assert!(
        table.contains("the score 0.432 is below the medium cut-off 0.5, so the tier is low"),
        "{table}"
    );

    let dan = entity_of(&store, "dan-1");
    let why = query_json(&store, &format!("why entity {dan}"));
    assert_eq!(why["set_by"], "cutoff");
    assert_eq!(why["tier"], "low");
    assert_eq!(
        why["weakest_records"],
        serde_json::json!(["record crm/dan-1", "record crm/dan-2"])
    );
    let weakest = why["factors"]["weakest_link"].as_f64().unwrap();
    assert!((weakest - 0.6).abs() < 1e-6, "{why}");
    assert_eq!(why["factors"]["kinds"], serde_json::json!(["cookie"]));
    let conflicts = why["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{why}");
    assert_eq!(conflicts[0]["kind"], "hub");
    assert_eq!(conflicts[0]["severity"], "low");
    assert_eq!(why["cutoffs"]["medium"], 0.5);
}

#[test]
fn why_names_conflict_that_set_tier() {
    let dir = tempfile::tempdir().unwrap();
    // With low cut-offs, the score alone gives the held-back records the high tier, and
    // only the medium-severity conflict keeps them at medium.
    let config = "[tiers]\nhigh = 0.3\nmedium = 0.1\n";
    let store = people_store(dir.path(), Some(config));
    add_bridge(dir.path(), &store);

    let gus = entity_of(&store, "gus-1");
    let why = query_json(&store, &format!("why entity {gus}"));
    assert_eq!(why["set_by"], "conflict", "{why}");
    assert_eq!(why["tier"], "medium");
    let explanation = why["explanation"].as_str().unwrap();
    assert!(explanation.contains("medium severity"), "{explanation}");
    assert!(explanation.contains("from high"), "{explanation}");
    assert_eq!(why["cutoffs"]["high"].as_f64().map(|x| x as f32), Some(0.3));
}

#[test]
fn link_and_unlink_change_entities() {
    let dir = tempfile::tempdir().unwrap();
    let store = people_store(dir.path(), None);
    assert_ne!(entity_of(&store, "bob"), entity_of(&store, "cat"));

    let linked = query_json(
        &store,
        "link record crm bob and record crm cat because \"same person, new name\"",
    );
    assert_eq!(linked["action"], "link");
    let records = linked["records"].as_array().unwrap();
    assert_eq!(records[0]["record"], "record crm/bob");
    assert_eq!(records[1]["record"], "record crm/cat");
    assert_eq!(records[0]["entity"], records[1]["entity"]);
    let together = entity_of(&store, "bob");
    assert_eq!(entity_of(&store, "cat"), together);

    let events = audit_events(&store, "audit");
    assert!(
        events
            .iter()
            .any(|event| event.starts_with("operator linked") && event.ends_with("new name")),
        "{events:?}"
    );
    let about_bob = audit_events(&store, &format!("audit entity {together}"));
    assert!(
        about_bob.iter().any(|e| e.starts_with("operator linked")),
        "{about_bob:?}"
    );
    let about_dan = audit_events(
        &store,
        &format!("audit entity {}", entity_of(&store, "dan-1")),
    );
    assert_eq!(about_dan, Vec::<String>::new());

    let table = query_table(
        &store,
        "unlink record crm bob and record crm cat because 'checked the passports'",
    );
    assert!(table.starts_with("unlinked (2 rows)"), "{table}");
    assert_ne!(entity_of(&store, "bob"), entity_of(&store, "cat"));

    // The newest event comes first, and a limit keeps the newest.
    let newest = audit_events(&store, "audit limit 1");
    assert_eq!(newest.len(), 1);
    let all = audit_events(&store, "audit");
    let unlinked = all
        .iter()
        .position(|e| e.starts_with("operator unlinked"))
        .expect("the unlink is logged");
    let linked = all
        .iter()
        .position(|e| e.starts_with("operator linked"))
        .expect("the link is logged");
    assert!(unlinked < linked, "{all:?}");
    assert!(all[unlinked].ends_with("checked the passports"), "{all:?}");
    assert_eq!(newest[0], all[0]);
    let time = query_json(&store, "audit limit 1")[0]["time"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(time.parse::<jiff::Timestamp>().is_ok(), "{time}");
    assert!(time.ends_with('Z'), "{time}");
}

#[test]
fn bridges_lists_held_link_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = people_store(dir.path(), None);
    assert_eq!(query_json(&store, "bridges"), Value::Array(Vec::new()));

    add_bridge(dir.path(), &store);
    let crm = entity_of(&store, "gus-2");
    let web = entity_of(&store, "hal-1");
    assert_ne!(crm, web);

    // The held link is a conflict of both entities and is listed once.
    let bridges = query_json(&store, "bridges");
    let bridges = bridges.as_array().unwrap();
    assert_eq!(bridges.len(), 1, "{bridges:?}");
    let bridge = &bridges[0];
    assert_eq!(bridge["entity"].as_u64(), Some(crm.min(web)));
    assert_eq!(bridge["other"]["entity"].as_u64(), Some(crm.max(web)));
    let mut records = [
        bridge["record"]["record"].as_str().unwrap(),
        bridge["other"]["record"].as_str().unwrap(),
    ];
    records.sort_unstable();
    assert_eq!(records, ["record crm/gus-2", "record crm/hal-1"]);
    let confidence = bridge["confidence"].as_f64().unwrap();
    assert!((confidence - 0.6).abs() < 1e-6, "{bridge}");
    assert_eq!(bridge["rule"], "bridge");

    let held = listed_ids(&query_json(&store, "entities conflict held"));
    assert_eq!(held.len(), 2, "{held:?}");
    assert_eq!(
        query_json(&store, "bridges limit 0"),
        Value::Array(Vec::new())
    );
}

#[test]
fn split_preview_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = people_store(dir.path(), None);
    let ann = entity_of(&store, "ann-crm");

    let preview = query_json(&store, &format!("split entity {ann}"));
    assert_eq!(preview["applied"], false);
    assert_eq!(preview["entity"].as_u64(), Some(ann));
    let parts = preview["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{preview}");
    assert_eq!(parts[0][0]["record"], "record crm/ann-crm");
    assert_eq!(parts[1][0]["record"], "record crm/ann-web");
    let confidence = preview["unlink"]["confidence"].as_f64().unwrap();
    assert!((confidence - 0.9).abs() < 1e-6, "{preview}");

    let table = query_table(&store, &format!("split entity {ann}"));
    assert!(table.contains("preview, nothing stored"), "{table}");
    assert!(!table.contains("applied"), "{table}");

    assert_eq!(entity_of(&store, "ann-crm"), ann);
    assert_eq!(entity_of(&store, "ann-web"), ann);
    assert_eq!(audit_events(&store, "audit"), Vec::<String>::new());
}

#[test]
fn split_apply_separates_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = people_store(dir.path(), None);
    let ann = entity_of(&store, "ann-crm");

    let table = query_table(
        &store,
        &format!("split entity {ann} apply because \"two people\""),
    );
    assert!(table.contains("applied"), "{table}");
    assert!(table.starts_with("split (1 rows)"), "{table}");
    assert!(
        !table.contains("moved"),
        "no record joins another entity: {table}"
    );
    assert_ne!(entity_of(&store, "ann-crm"), entity_of(&store, "ann-web"));

    let events = audit_events(&store, "audit");
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("operator unlinked") && e.ends_with("two people")),
        "{events:?}"
    );

    // The split left one record in each entity, so there is nothing more to split.
    idgraph()
        .args(["query", store.to_str().unwrap()])
        .arg(format!("split entity {ann} apply because again"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("single record"));
}

/// Ingests three records into a new store: `amy` and `rae` share an email, and `rae` and
/// `ben` share a phone. `amy` and `ben` have different national ids, so resolution holds the
/// phone link back and `rae` stays with `amy`, until a split separates them.
fn phone_held_store(dir: &Path) -> PathBuf {
    let csv = "key,name,email,phone,national_id\n\
               amy,Amy Cole,amy@x.com,,111-22-3333\n\
               rae,Amy Cole,amy@x.com,+14155550199,\n\
               ben,Ben Cole,,+14155550199,444-55-6666\n";
    let input = dir.join("people.csv");
    std::fs::write(&input, csv).unwrap();
    let store = dir.join("store");
    idgraph()
        .args(["ingest", store.to_str().unwrap(), input.to_str().unwrap()])
        .args(["--source", "crm", "--key", "key", "--no-progress"])
        .args(["--id", "email=email", "--id", "phone=phone"])
        .args(["--id", "national_id=national_id"])
        .assert()
        .success();
    store
}

#[test]
fn split_lists_record_joining_other_entity() {
    let dir = tempfile::tempdir().unwrap();
    let store = phone_held_store(dir.path());
    let amy = entity_of(&store, "amy");
    let ben = entity_of(&store, "ben");
    assert_eq!(entity_of(&store, "rae"), amy);
    assert_ne!(ben, amy);

    let preview = query_json(&store, &format!("split entity {amy}"));
    let moved = preview["moved"].as_array().unwrap();
    assert_eq!(moved.len(), 1, "{preview}");
    assert_eq!(moved[0]["record"], "record crm/rae");
    assert_eq!(moved[0]["entity"].as_u64(), Some(ben));
    assert_eq!(moved[0]["joined"], serde_json::json!([ben]));
    assert_eq!(entity_of(&store, "rae"), amy, "a preview stores nothing");

    let table = query_table(
        &store,
        &format!("split entity {amy} apply because \"two people\""),
    );
    let moved = table
        .split_once("moved (1 rows)")
        .unwrap_or_else(|| panic!("no moved table: {table}"))
        .1;
    let row = moved
        .lines()
        .find(|line| line.contains("record crm/rae"))
        .unwrap_or_else(|| panic!("rae is not listed as moved: {table}"));
    let cells: Vec<&str> = row.split('┆').map(|cell| cell.trim()).collect();
    assert_eq!(cells[1], ben.to_string(), "{table}");
    assert_eq!(
        cells[2].trim_end_matches('│').trim(),
        format!("entity {ben}")
    );
    assert_eq!(entity_of(&store, "rae"), ben);
    assert_eq!(entity_of(&store, "amy"), amy);
}

#[test]
fn failed_changes_exit_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    let store = people_store(dir.path(), None);
    let store_arg = store.to_str().unwrap();

    idgraph()
        .args(["query", store_arg])
        .arg("link record crm bob and record crm nobody because same")
        .assert()
        .failure()
        .stderr(predicate::str::contains("record crm/nobody not found"));
    idgraph()
        .args(["query", store_arg])
        .arg("unlink record crm bob and record crm bob because same")
        .assert()
        .failure()
        .stderr(predicate::str::contains("itself"));
    idgraph()
        .args(["query", store_arg])
        .arg("link record crm bob and record crm cat because \"\"")
        .assert()
        .failure()
        .stderr(predicate::str::contains("a reason that is not empty"));
    let single = entity_of(&store, "bob");
    idgraph()
        .args(["query", store_arg])
        .arg(format!("split entity {single}"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("single record"));

    // A script stops at the failed statement, after running the ones before it.
    let script = dir.path().join("changes.idq");
    std::fs::write(
        &script,
        "link record crm bob and record crm cat because same;\n\
         link record crm bob and record crm nobody because same;\n\
         stats",
    )
    .unwrap();
    idgraph()
        .args(["run", store_arg, script.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("statement 2"))
        .stderr(predicate::str::contains("record crm/nobody not found"))
        .stdout(predicate::str::contains("stats").not());
    assert_eq!(entity_of(&store, "bob"), entity_of(&store, "cat"));
    let events = audit_events(&store, "audit");
    let overrides: Vec<&String> = events
        .iter()
        .filter(|e| e.starts_with("operator"))
        .collect();
    assert_eq!(overrides.len(), 1, "{events:?}");
    assert!(overrides[0].starts_with("operator linked"), "{events:?}");
}

#[test]
fn find_shows_sightings_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.csv");
    std::fs::write(
        &first,
        "id,email,phone,ts\n1,ann@x.com,+1 415 555 2671,2024-01-01T00:00:00Z\n",
    )
    .unwrap();
    // The phone is dropped in March and back in June.
    let later = dir.path().join("later.csv");
    std::fs::write(
        &later,
        "id,email,phone,ts\n1,ann@x.com,,2024-03-01T00:00:00Z\n\
         1,ann@x.com,+1 415 555 2671,2024-06-01T00:00:00Z\n",
    )
    .unwrap();
    let evidence = |files: [&PathBuf; 2], name: &str| -> Value {
        let store = dir.path().join(name);
        for file in files {
            idgraph()
                .args(["ingest", store.to_str().unwrap(), file.to_str().unwrap()])
                .args([
                    "--source",
                    "crm",
                    "--key",
                    "id",
                    "--timestamp",
                    "ts",
                    "--no-progress",
                ])
                .args(["--id", "email=email", "--id", "phone=phone"])
                .assert()
                .success();
        }
        let output = idgraph()
            .args([
                "query",
                store.to_str().unwrap(),
                "find record crm 1",
                "--format",
                "json",
            ])
            .output()
            .unwrap();
        assert!(output.status.success());
        let json: Value = serde_json::from_slice(&output.stdout).unwrap();
        let mut rows: Vec<Value> = json["evidence"].as_array().unwrap().clone();
        for row in &mut rows {
            // Node ids follow arrival order, so only the description is compared.
            row.as_object_mut().unwrap().remove("to");
        }
        Value::from(rows)
    };

    let in_order = evidence([&first, &later], "in-order");
    let late = evidence([&later, &first], "late");
    assert_eq!(in_order, late);
    let phone = in_order
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["evidence"] == "has phone")
        .unwrap();
    assert_eq!(phone["count"], 2);
    assert_eq!(phone["first_seen"], 1_704_067_200);
    assert_eq!(phone["last_seen"], 1_717_200_000);
}
