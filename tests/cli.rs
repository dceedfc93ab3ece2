//! The `idgraph` binary driven as a user would, on real files and stores in temporary
//! directories.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn idgraph() -> Command {
    Command::cargo_bin("idgraph").unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Creates a store with two CRM records sharing an email and one web session.
fn small_store(dir: &Path) -> PathBuf {
    let crm = write(
        dir,
        "crm.csv",
        "id,name,email,ssn\n1,Ann Lee,ann@x.com,111-22-3333\n2,Ann L.,Ann@X.com,\n3,Bob,bob@x.com,\n",
    );
    let web = write(
        dir,
        "web.jsonl",
        "{\"session\": \"s1\", \"email\": \"bob@x.com\", \"cookie\": \"c9\"}\n",
    );
    let store = dir.join("store");
    idgraph()
        .args(["ingest", store.to_str().unwrap(), crm.to_str().unwrap()])
        .args([
            "--source",
            "crm",
            "--key",
            "id",
            "--id",
            "email=email",
            "--id",
            "ssn=national_id",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("3 new records"));
    idgraph()
        .args(["ingest", store.to_str().unwrap(), web.to_str().unwrap()])
        .args([
            "--key",
            "session",
            "--id",
            "email=email",
            "--id",
            "cookie=cookie",
        ])
        .assert()
        .success();
    store
}

#[test]
fn query_finds_identifier_entity() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    let output = idgraph()
        .args([
            "query",
            store.to_str().unwrap(),
            "entity of email \"ANN@x.com\"",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["entity"]["records"], 2);
    assert_eq!(json["entity"]["tier"], "high");
}

#[test]
fn query_syntax_error_points_at_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    idgraph()
        .args(["query", store.to_str().unwrap(), "find email ann@x.com to"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("line 1, column 22"))
        .stderr(predicate::str::contains("^"));
}

#[test]
fn query_unknown_identifier_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    idgraph()
        .args(["query", store.to_str().unwrap(), "find email nobody@x.com"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not found"));
}

#[test]
fn query_missing_store_fails() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing");
    idgraph()
        .args(["query", missing.to_str().unwrap(), "stats"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "is not an idgraph store: it does not exist",
        ));
    assert!(!missing.exists(), "a query must not create a store");
}

#[test]
fn query_on_plain_directory_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    idgraph()
        .args(["stats", dir.path().to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("contains no sled database"));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec!["notes.txt"],
        "the directory must stay as it was"
    );
}

#[test]
fn ingest_missing_input_creates_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let missing = dir.path().join("nosuch.csv");
    idgraph()
        .args([
            "ingest",
            store.to_str().unwrap(),
            missing.to_str().unwrap(),
            "--key",
            "id",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("nosuch.csv not found"));
    assert!(!store.exists());
}

#[test]
fn locked_store_names_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    let open = idgraph::Store::open(&store).unwrap();
    idgraph()
        .args(["query", store.to_str().unwrap(), "stats"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("is open in another process"));
    drop(open);
}

#[test]
fn closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    // `head -c 1` closes the pipe after one byte, as a user's `| head` would.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' export '{}' | head -c 1 >/dev/null; exit ${{PIPESTATUS:-0}}",
            env!("CARGO_BIN_EXE_idgraph"),
            store.display()
        ))
        .output()
        .unwrap();
    assert!(
        status.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}

#[test]
fn path_shows_each_edge() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    idgraph()
        .args([
            "query",
            store.to_str().unwrap(),
            "path record crm 1 to record crm 2",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("has email"))
        .stdout(predicate::str::contains("0.900"));
}

#[test]
fn run_script_stops_at_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    let good = write(
        dir.path(),
        "good.idq",
        "-- audit\nstats;\nfind record crm 1;\n",
    );
    idgraph()
        .args([
            "run",
            store.to_str().unwrap(),
            good.to_str().unwrap(),
            "--format",
            "json",
        ])
        .assert()
        .success();
    let bad = write(
        dir.path(),
        "bad.idq",
        "stats;\nfind record crm 404;\nstats;\n",
    );
    idgraph()
        .args(["run", store.to_str().unwrap(), bad.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("statement 2"))
        .stderr(predicate::str::contains("record crm/404 not found"));
}

#[test]
fn repl_reads_piped_lines() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    idgraph()
        .args(["repl", store.to_str().unwrap()])
        .write_stdin(".mode json\nstats\n.quit\nstats\n")
        .assert()
        .success()
        .stdout(predicate::str::contains("\"records\":4"));
}

#[test]
fn export_lists_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    let output = idgraph()
        .args(["export", store.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "source,key,entity,score,tier");
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().any(|line| line.starts_with("web,s1,")));

    let jsonl = dir.path().join("out.jsonl");
    idgraph()
        .args([
            "export",
            store.to_str().unwrap(),
            "--format",
            "jsonl",
            "-o",
            jsonl.to_str().unwrap(),
        ])
        .assert()
        .success();
    let text = std::fs::read_to_string(jsonl).unwrap();
    assert_eq!(text.lines().count(), 4);
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(row["entity"].is_u64());
    }
}

#[test]
fn ingest_bad_row_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "bad.csv",
        "id,email\n1,a@x.com\n2,b@x.com,extra\n",
    );
    let store = dir.path().join("store");
    idgraph()
        .args([
            "ingest",
            store.to_str().unwrap(),
            input.to_str().unwrap(),
            "--key",
            "id",
        ])
        .args(["--id", "email=email"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("bad.csv:3"))
        .stderr(predicate::str::contains("3 fields, expected 2"));
    idgraph()
        .args([
            "ingest",
            store.to_str().unwrap(),
            input.to_str().unwrap(),
            "--key",
            "id",
        ])
        .args(["--id", "email=email", "--on-error", "skip"])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 skipped"));
}

#[test]
fn ingest_mapping_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "people.csv",
        "pid;mail;when\np1;a@x.com;2024-05-01\n",
    );
    let mapping = write(
        dir.path(),
        "people.toml",
        "source = \"hr\"\nkey = \"pid\"\ndelimiter = \";\"\ntimestamp = \"when\"\n[identifiers]\nmail = \"email\"\n",
    );
    let store = dir.path().join("store");
    idgraph()
        .args(["ingest", store.to_str().unwrap(), input.to_str().unwrap()])
        .args(["--mapping", mapping.to_str().unwrap()])
        .assert()
        .success();
    idgraph()
        .args(["query", store.to_str().unwrap(), "find record hr p1"])
        .assert()
        .success();
}

#[test]
fn invalid_mapping_names_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "people.csv", "pid,mail\np1,a@x.com\n");
    let mapping = write(
        dir.path(),
        "people.toml",
        "source = \"hr\"\nkey = \"pid\"\nkye = 1\n",
    );
    idgraph()
        .args([
            "ingest",
            dir.path().join("store").to_str().unwrap(),
            input.to_str().unwrap(),
        ])
        .args(["--mapping", mapping.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("people.toml"))
        .stderr(predicate::str::contains("kye"));
}

#[test]
fn eval_febrl3_national_ids() {
    let Some(data) = common::data_dir() else {
        return;
    };
    let data = data.join("febrl/dataset3.csv");
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    idgraph()
        .args(["ingest", store.to_str().unwrap(), data.to_str().unwrap()])
        .args([
            "--key",
            "rec_id",
            "--id",
            "soc_sec_id=national_id",
            "--no-progress",
        ])
        .assert()
        .success();
    let output = idgraph()
        .args(["eval", store.to_str().unwrap(), "--truth-column", "rec_id"])
        .args(["--truth-pattern", r"rec-(\d+)-", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metrics: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(metrics["precision"], 1.0);
    assert!(metrics["recall"].as_f64().unwrap() >= 0.85);
    assert_eq!(metrics["true_pairs"], 6538);
}

#[test]
fn demo_builds_store_and_suggests_queries() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let first = idgraph()
        .args(["demo", "--dir", demo.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let text = String::from_utf8(first.stdout).unwrap();
    assert!(text.contains("Try:"), "{text}");
    assert!(text.contains("idgraph query"), "{text}");

    // Every suggested query runs.
    for line in text
        .lines()
        .filter(|line| line.trim_start().starts_with("idgraph query"))
    {
        let statement = line.split('\'').nth(1).expect("statement in quotes");
        idgraph()
            .args(["query", demo.join("store").to_str().unwrap(), statement])
            .assert()
            .success();
    }

    // A second run rebuilds the same store.
    let export = |demo: &Path| {
        idgraph()
            .args(["export", demo.join("store").to_str().unwrap()])
            .output()
            .unwrap()
            .stdout
    };
    let before = export(&demo);
    idgraph()
        .args(["demo", "--dir", demo.to_str().unwrap()])
        .assert()
        .success();
    assert_eq!(export(&demo), before);
}

#[test]
fn match_then_explain_febrl3() {
    let Some(data) = common::data_dir() else {
        return;
    };
    let data = data.join("febrl/dataset3.csv");
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    idgraph()
        .args([
            "ingest",
            store,
            data.to_str().unwrap(),
            "--key",
            "rec_id",
            "--source",
            "febrl3",
        ])
        .assert()
        .success();
    idgraph()
        .args([
            "query",
            store,
            "explain record febrl3 rec-13-org and record febrl3 rec-13-dup-0",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("run `idgraph match STORE`"));

    let output = idgraph()
        .args(["match", store, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["trained"], true);
    assert!(report["edges"].as_u64().unwrap() > 6000);

    let output = idgraph()
        .args(["query", store, "--format", "json"])
        .arg("explain record febrl3 rec-13-org and record febrl3 rec-13-dup-0")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let explained: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(explained["probability"].as_f64().unwrap() > 0.99);
    assert_eq!(explained["same_entity"], true);
    let comparisons = explained["comparisons"].as_array().unwrap();
    let given_name = comparisons
        .iter()
        .find(|c| c["name"] == "given_name")
        .unwrap();
    assert_eq!(given_name["level"], "else", "harrison and mia disagree");
    assert!(given_name["weight"].as_f64().unwrap() < 0.0);

    // A second run with the same model has nothing new to score.
    let output = idgraph()
        .args(["match", store, "--format", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["trained"], false);
    assert_eq!(report["scored_pairs"], 0);

    // Training again replaces the match edges rather than adding a second set.
    let edges = || {
        let output = idgraph()
            .args(["query", store, "stats", "--format", "json"])
            .output()
            .unwrap();
        let stats: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        stats["edges"].as_u64().unwrap()
    };
    let before = edges();
    idgraph()
        .args(["match", store, "--retrain", "--no-progress"])
        .assert()
        .success();
    assert_eq!(edges(), before);

    let output = idgraph()
        .args([
            "eval",
            store,
            "--truth-column",
            "rec_id",
            "--truth-pattern",
            r"rec-(\d+)-",
        ])
        .args(["--format", "json"])
        .output()
        .unwrap();
    let metrics: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(metrics["f1"].as_f64().unwrap() >= 0.998, "{metrics}");

    // A stricter model keeps fewer links, and the links of the old one go.
    let strict = dir.path().join("strict.toml");
    std::fs::write(&strict, "threshold = 0.999999\n").unwrap();
    idgraph()
        .args(["match", store, "--no-progress", "--config"])
        .arg(&strict)
        .assert()
        .success();
    let after = edges();
    assert!(
        after < before,
        "{after} edges after a stricter model, {before} before"
    );
}

#[test]
fn ingest_with_match_equals_ingest_then_match() {
    let Some(data) = common::data_dir() else {
        return;
    };
    let data = data.join("splink_datasets/fake_1000.csv");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/matching/fake_1000.toml");
    let dir = tempfile::tempdir().unwrap();
    let ingest = |store: &Path| {
        let mut command = idgraph();
        command
            .args(["ingest", store.to_str().unwrap(), data.to_str().unwrap()])
            .args(["--key", "unique_id", "--id", "email=email", "--no-progress"]);
        command
    };
    let export = |store: &Path| {
        let output = idgraph()
            .args(["export", store.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };

    let one_run = dir.path().join("one_run");
    ingest(&one_run)
        .args(["--match", "--match-config", config.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("model            trained"));
    let two_runs = dir.path().join("two_runs");
    ingest(&two_runs).assert().success();
    idgraph()
        .args(["match", two_runs.to_str().unwrap(), "--no-progress"])
        .args(["--config", config.to_str().unwrap()])
        .assert()
        .success();

    let exported = export(&one_run);
    assert_eq!(exported, export(&two_runs));
    // Matching merged records, so some entity contains more than one record.
    let entities: std::collections::HashSet<&str> = exported
        .lines()
        .skip(1)
        .map(|line| line.split(',').nth(2).unwrap())
        .collect();
    assert!(entities.len() < 900, "{} entities", entities.len());
}

#[test]
fn match_config_needs_match() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.csv", "id,name\n1,Ann\n");
    idgraph()
        .args(["ingest", dir.path().join("store").to_str().unwrap()])
        .arg(input)
        .args(["--key", "id", "--match-config", "m.toml"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--match"));
}

#[test]
fn ingest_refuses_foreign_folder() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("papers");
    std::fs::create_dir(&folder).unwrap();
    let precious = write(&folder, "db", "not a database");
    let input = write(dir.path(), "in.csv", "id,email\n1,ann@x.example\n");
    idgraph()
        .args(["ingest", folder.to_str().unwrap(), input.to_str().unwrap()])
        .args(["--key", "id", "--id", "email=email"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("holds other files and no store"));
    assert_eq!(std::fs::read_to_string(precious).unwrap(), "not a database");
}

#[test]
fn match_on_few_records_trains_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "people.csv",
        "rec_id,given_name,surname,suburb\n1,ann,lee,leeds\n2,ann,lee,york\n",
    );
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    idgraph()
        .args(["ingest", store, input.to_str().unwrap(), "--key", "rec_id"])
        .assert()
        .success();
    idgraph()
        .args(["match", store, "--no-progress"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("too few to train a model"));
    // No model was saved, so explain still requests a match run.
    idgraph()
        .args(["query", store])
        .arg("explain record people 1 and record people 2")
        .assert()
        .failure()
        .stderr(predicate::str::contains("run `idgraph match STORE`"));
}

#[test]
fn misspelled_kind_gets_warning() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.csv", "id,mail\n1,ann@x.example\n");
    idgraph()
        .args(["ingest", dir.path().join("store").to_str().unwrap()])
        .arg(input)
        .args(["--key", "id", "--id", "mail=emial", "--no-progress"])
        .assert()
        .success()
        .stderr(predicate::str::contains("Did you mean \"email\"?"));
}

#[test]
fn empty_file_creates_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("empty.csv");
    std::fs::write(&input, "").unwrap();
    let store = dir.path().join("store");

    idgraph()
        .args(["ingest", store.to_str().unwrap(), input.to_str().unwrap()])
        .args(["--key", "id", "--no-progress"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("empty.csv: the file is empty"));
    assert!(!store.exists());
}
