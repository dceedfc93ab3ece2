//! Ingest of real CSV and JSON Lines files into a sled store in a temporary directory.

use std::path::{Path, PathBuf};

mod common;

use common::entity_of;
use idgraph::Store;
use idgraph::ingest::{IngestOptions, Mapping, OnError, ingest_file};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn crm_mapping() -> Mapping {
    Mapping {
        source: "crm".into(),
        key: "id".into(),
        identifiers: [("email", "email"), ("ssn", "national_id")]
            .into_iter()
            .map(|(column, kind)| (column.to_owned(), kind.to_owned()))
            .collect(),
        ..Mapping::default()
    }
}

#[test]
fn csv_rows_become_records() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "crm.csv",
        b"id,name,email,ssn\n1,Ann,ann@x.com,111-22-3333\n2,Ann L,ANN@X.COM ,\n3,Bob,bob@x.com,\n",
    );
    let mut store = Store::open(dir.path().join("store")).unwrap();
    let report = ingest_file(
        &mut store,
        &input,
        &crm_mapping(),
        &IngestOptions::default(),
    )
    .unwrap();
    assert_eq!(report.inserted, 3);
    assert_eq!(report.rows, 3);
    assert_eq!(entity_of(&store, "crm", "1"), entity_of(&store, "crm", "2"));
    assert_ne!(entity_of(&store, "crm", "1"), entity_of(&store, "crm", "3"));
    let id = store.find_record("crm", "1").unwrap().unwrap();
    // Ingest trims keys, so a lookup does too.
    assert_eq!(store.find_record("crm", " 1 ").unwrap(), Some(id));
    let Some(idgraph::Node::Record(record)) = store.node(id).unwrap() else {
        panic!("node {id} is not a record");
    };
    assert_eq!(record.attribute("name"), Some("Ann"));
    assert_eq!(
        record.attribute("email"),
        None,
        "identifier columns are not attributes"
    );
}

#[test]
fn wrong_column_count_stops_with_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.csv",
        b"id,name,email,ssn\n1,Ann,ann@x.com,\n",
    );
    let bad = write(
        dir.path(),
        "bad.csv",
        b"id,name,email,ssn\n2,Bob,bob@x.com,\n3,Cy,cy@x.com,,extra\n4,Di,di@x.com,\n",
    );
    let mut store = Store::open(dir.path().join("store")).unwrap();
    ingest_file(&mut store, &good, &crm_mapping(), &IngestOptions::default()).unwrap();

    let error = ingest_file(&mut store, &bad, &crm_mapping(), &IngestOptions::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("bad.csv:3"), "{error}");
    assert!(error.contains("5 fields, expected 4"), "{error}");
    // The earlier file and the rows before the bad one are stored, the rows after it are not.
    assert!(store.find_record("crm", "1").unwrap().is_some());
    assert!(store.find_record("crm", "2").unwrap().is_some());
    assert!(store.find_record("crm", "4").unwrap().is_none());
}

#[test]
fn unterminated_quote_stops_with_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "quote.csv",
        b"id,name,email,ssn\n1,Ann,ann@x.com,\n2,\"Bob,bob@x.com,\n3,Cy,cy@x.com,\n",
    );
    let mut store = Store::open(dir.path().join("store")).unwrap();

    let error = ingest_file(&mut store, &bad, &crm_mapping(), &IngestOptions::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("quote.csv:3"), "{error}");
    assert!(error.contains("missing closing quote"), "{error}");
    assert!(store.find_record("crm", "1").unwrap().is_some());
    assert!(store.find_record("crm", "3").unwrap().is_none());

    // A quoted field with a line break that does end is a row like any other.
    let good = write(
        dir.path(),
        "note.csv",
        b"id,name,email,ssn\n5,\"Eve\nSmith\",eve@x.com,\n6,Fay,fay@x.com,\"\"\n",
    );
    let report = ingest_file(&mut store, &good, &crm_mapping(), &IngestOptions::default());
    assert_eq!(report.unwrap().inserted, 2);
}

#[test]
fn skip_counts_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"id,name,email,ssn\n1,Ann,ann@x.com,\n2,B\xffb,bob@x.com,\n".to_vec();
    bytes.extend_from_slice(b"3,Cy,cy@x.com\n4,Di,di@x.com,\n");
    let input = write(dir.path(), "crm.csv", &bytes);
    let mut store = Store::open(dir.path().join("store")).unwrap();
    let options = IngestOptions {
        on_error: OnError::Skip,
        ..IngestOptions::default()
    };
    let report = ingest_file(&mut store, &input, &crm_mapping(), &options).unwrap();
    assert_eq!(report.skipped, 2);
    assert_eq!(report.inserted, 2);
    assert!(
        report
            .messages
            .iter()
            .any(|m| m.contains("crm.csv:3") && m.contains("UTF-8"))
    );
    assert!(
        report
            .messages
            .iter()
            .any(|m| m.contains("crm.csv:4") && m.contains("3 fields"))
    );
}

#[test]
fn reingest_does_not_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "crm.csv",
        b"id,name,email,ssn\n1,Ann,ann@x.com,\n2,Bo,b@x.com,\n",
    );
    let mut store = Store::open(dir.path().join("store")).unwrap();
    ingest_file(
        &mut store,
        &input,
        &crm_mapping(),
        &IngestOptions::default(),
    )
    .unwrap();
    let entity = entity_of(&store, "crm", "1");
    let report = ingest_file(
        &mut store,
        &input,
        &crm_mapping(),
        &IngestOptions::default(),
    )
    .unwrap();
    assert_eq!(report.updated, 2);
    assert_eq!(store.counters().records, 2);
    assert_eq!(store.counters().identifiers, 2);
    assert_eq!(store.counters().entities, 2);
    assert_eq!(entity_of(&store, "crm", "1"), entity);
}

#[test]
fn placeholders_never_link() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "crm.csv",
        b"id,name,email,ssn\n1,A,unknown,000-00-0000\n2,B,n/a,000-00-0000\n3,C,,?\n4,D,null,none\n",
    );
    let mut store = Store::open(dir.path().join("store")).unwrap();
    let report = ingest_file(
        &mut store,
        &input,
        &crm_mapping(),
        &IngestOptions::default(),
    )
    .unwrap();
    assert_eq!(report.placeholders, 8);
    assert_eq!(store.counters().identifiers, 0);
    assert_eq!(store.counters().entities, 4);
}

#[test]
fn jsonl_with_arrays_and_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "web.jsonl",
        b"{\"id\": \"s1\", \"email\": [\"a@x.com\", \"b@x.com\"], \"ssn\": null, \"n\": 3}\n\n\
          {\"id\": \"s2\", \"email\": \"b@x.com\"}\n",
    );
    let mut store = Store::open(dir.path().join("store")).unwrap();
    let mut mapping = crm_mapping();
    mapping.source = "web".into();
    let report = ingest_file(&mut store, &input, &mapping, &IngestOptions::default()).unwrap();
    assert_eq!(report.inserted, 2);
    assert_eq!(store.counters().identifiers, 2);
    assert_eq!(
        entity_of(&store, "web", "s1"),
        entity_of(&store, "web", "s2")
    );
}

#[test]
fn invalid_json_names_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "web.jsonl",
        b"{\"id\": \"s1\"}\n{\"id\": \"s2\",\n",
    );
    let mut store = Store::open(dir.path().join("store")).unwrap();
    let error = ingest_file(
        &mut store,
        &input,
        &crm_mapping(),
        &IngestOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("web.jsonl:2: invalid JSON"), "{error}");
    assert!(store.find_record("crm", "s1").unwrap().is_some());
}

#[test]
fn missing_column_lists_header() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "crm.csv", b"id,name,mail\n1,Ann,a@x.com\n");
    let mut store = Store::open(dir.path().join("store")).unwrap();
    let error = ingest_file(
        &mut store,
        &input,
        &crm_mapping(),
        &IngestOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("column \"email\" is not in the header"),
        "{error}"
    );
    assert!(error.contains("id, name, mail"), "{error}");
}

#[test]
fn febrl_style_spaces_after_commas() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "f.csv",
        b"rec_id, given_name, soc_sec_id\nrec-1-org, ann, 1234567\nrec-1-dup-0, anne, 1234567\n",
    );
    let mut store = Store::open(dir.path().join("store")).unwrap();
    let mapping = Mapping {
        source: "febrl".into(),
        key: "rec_id".into(),
        identifiers: [("soc_sec_id".to_owned(), "national_id".to_owned())].into(),
        ..Mapping::default()
    };
    ingest_file(&mut store, &input, &mapping, &IngestOptions::default()).unwrap();
    assert_eq!(
        entity_of(&store, "febrl", "rec-1-org"),
        entity_of(&store, "febrl", "rec-1-dup-0")
    );
}
