//! The probabilistic matcher end to end on public datasets with ground truth, on a real store.

mod common;

use std::path::Path;

use common::data_dir;

use idgraph::Store;
use idgraph::eval::{Truth, evaluate};
use idgraph::ingest::{IngestOptions, Mapping, ingest_file};
use idgraph::matching::{self, MatchConfig, MatchOptions};

#[test]
fn febrl3_default_config() {
    let Some(data) = data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let mapping = Mapping {
        source: "febrl3".into(),
        key: "rec_id".into(),
        ..Mapping::default()
    };
    ingest_file(
        &mut store,
        &data.join("febrl/dataset3.csv"),
        &mapping,
        &IngestOptions::default(),
    )
    .unwrap();
    let config = MatchConfig::default();
    let started = std::time::Instant::now();
    let report = matching::run(&mut store, &config, &MatchOptions::default()).unwrap();
    eprintln!("{report:?} in {:?}", started.elapsed());
    let metrics = evaluate(&store, &Truth::new("rec_id", Some(r"rec-(\d+)-")).unwrap()).unwrap();
    eprintln!("{metrics:?}");
    assert!(metrics.f1 >= 0.998, "F1 {}", metrics.f1);
}

#[test]
fn febrl4_two_sources_default_config() {
    let Some(data) = data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    for (source, file) in [("febrl4a", "dataset4a.csv"), ("febrl4b", "dataset4b.csv")] {
        let mapping = Mapping {
            source: source.into(),
            key: "rec_id".into(),
            ..Mapping::default()
        };
        ingest_file(
            &mut store,
            &data.join("febrl").join(file),
            &mapping,
            &IngestOptions::default(),
        )
        .unwrap();
    }
    let config = MatchConfig::default();
    let started = std::time::Instant::now();
    let report = matching::run(&mut store, &config, &MatchOptions::default()).unwrap();
    eprintln!("{report:?} in {:?}", started.elapsed());
    let metrics = evaluate(&store, &Truth::new("rec_id", Some(r"rec-(\d+)-")).unwrap()).unwrap();
    eprintln!("{metrics:?}");
    assert!(metrics.f1 >= 0.998, "F1 {}", metrics.f1);
}

fn config_file(name: &str) -> MatchConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/matching")
        .join(name);
    MatchConfig::from_toml(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn fake_1000_with_email_identifier() {
    let Some(data) = data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let mapping = Mapping {
        source: "fake".into(),
        key: "unique_id".into(),
        identifiers: [("email".to_owned(), "email".to_owned())].into(),
        attributes: Some(
            ["first_name", "surname", "dob", "city", "email", "cluster"]
                .map(String::from)
                .to_vec(),
        ),
        ..Mapping::default()
    };
    ingest_file(
        &mut store,
        &data.join("splink_datasets/fake_1000.csv"),
        &mapping,
        &IngestOptions::default(),
    )
    .unwrap();
    let report = matching::run(
        &mut store,
        &config_file("fake_1000.toml"),
        &MatchOptions::default(),
    )
    .unwrap();
    eprintln!("{report:?}");
    let metrics = evaluate(&store, &Truth::new("cluster", None).unwrap()).unwrap();
    eprintln!("{metrics:?}");
    assert!(metrics.f1 >= 0.91, "F1 {}", metrics.f1);
}

#[test]
fn febrl3_new_records_scored_incrementally() {
    let Some(data) = data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(data.join("febrl/dataset3.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let (first, second) = rows.split_at(4000);
    let mut files = Vec::new();
    for (name, part) in [("first.csv", first), ("second.csv", second)] {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{header}\n{}\n", part.join("\n"))).unwrap();
        files.push(path);
    }
    let mut store = Store::open(dir.path().join("store")).unwrap();
    let mapping = Mapping {
        source: "febrl3".into(),
        key: "rec_id".into(),
        ..Mapping::default()
    };
    let config = MatchConfig::default();

    ingest_file(&mut store, &files[0], &mapping, &IngestOptions::default()).unwrap();
    let first = matching::run(&mut store, &config, &MatchOptions::default()).unwrap();
    assert!(first.trained);
    assert_eq!(first.scored_pairs, first.candidate_pairs);

    ingest_file(&mut store, &files[1], &mapping, &IngestOptions::default()).unwrap();
    let second = matching::run(&mut store, &config, &MatchOptions::default()).unwrap();
    assert!(!second.trained, "the stored model is reused");
    assert!(
        second.scored_pairs < second.candidate_pairs / 2,
        "{second:?}"
    );

    let metrics = evaluate(&store, &Truth::new("rec_id", Some(r"rec-(\d+)-")).unwrap()).unwrap();
    assert!(metrics.f1 >= 0.998, "F1 {}", metrics.f1);

    // A third run with nothing new scores nothing.
    let third = matching::run(&mut store, &config, &MatchOptions::default()).unwrap();
    assert_eq!(third.scored_pairs, 0);
}

/// Copies FEBRL 3 with two extra columns: every hundredth record gets one shared support
/// email, and every hundredth record from the fiftieth on one shared phone number.
fn febrl3_with_hubs(source: &Path, target: &Path) {
    let text = std::fs::read_to_string(source).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{}, email, phone\n", lines.next().unwrap());
    for (n, line) in lines.enumerate() {
        let email = if n % 100 == 0 {
            "support@febrl-shop.example"
        } else {
            ""
        };
        let phone = if n % 100 == 50 { "+1 415 555 0199" } else { "" };
        out.push_str(&format!("{line}, {email}, {phone}\n"));
    }
    std::fs::write(target, out).unwrap();
}

#[test]
fn febrl3_injected_hubs_keep_precision() {
    let Some(data) = data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let clean_file = data.join("febrl/dataset3.csv");
    let hub_file = dir.path().join("dataset3_hubs.csv");
    febrl3_with_hubs(&clean_file, &hub_file);

    let run = |file: &Path, identifiers: &[(&str, &str)], name: &str| {
        let mut store = Store::open(dir.path().join(name)).unwrap();
        let mapping = Mapping {
            source: "febrl3".into(),
            key: "rec_id".into(),
            identifiers: identifiers
                .iter()
                .map(|(column, kind)| ((*column).to_owned(), (*kind).to_owned()))
                .collect(),
            ..Mapping::default()
        };
        ingest_file(&mut store, file, &mapping, &IngestOptions::default()).unwrap();
        matching::run(
            &mut store,
            &MatchConfig::default(),
            &MatchOptions::default(),
        )
        .unwrap();
        let truth = Truth::new("rec_id", Some(r"rec-(\d+)-")).unwrap();
        let metrics = evaluate(&store, &truth).unwrap();
        eprintln!("{name}: {metrics:?}");
        (store, metrics)
    };
    let (_, clean) = run(&clean_file, &[], "clean");
    let (store, hubs) = run(&hub_file, &[("email", "email"), ("phone", "phone")], "hubs");
    assert!(hubs.precision >= 0.99, "precision {}", hubs.precision);
    assert!(
        clean.recall - hubs.recall < 0.005,
        "recall {} against {} without hubs",
        hubs.recall,
        clean.recall
    );
    let listed = store.hubs().unwrap();
    assert!(
        listed
            .iter()
            .any(|hub| hub.kind.as_str() == "phone" && hub.degree == 50),
        "{listed:?}"
    );
}
