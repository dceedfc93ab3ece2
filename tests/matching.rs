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
