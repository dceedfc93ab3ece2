//! Query parser cases kept as data files in `tests/query_cases/`, run by one harness.
//!
//! `accepted.txt` contains scripts that parse, each with its canonical printed form: the
//! statements' `Display` joined by `;` and a line feed. `rejected.txt` contains scripts that do
//! not, each with the exact output of `ParseError::render`.
//!
//! Case format, in both files:
//!
//! ```text
//! ### RULE: what the case shows
//! input line
//! more input lines
//! => first expected line
//! more expected lines
//! ```
//!
//! A case starts at a line beginning with `### `, and its title starts with the name of the
//! grammar rule it exercises. The input is every line up to the first line that starts with
//! `=>`, joined by line feeds without a final one. The expected text is the rest of that
//! line after `=> `, then every following line up to the next case, without trailing blank
//! lines. Lines before the first case are a free-form preamble.

use std::fmt::Write as _;
use std::path::PathBuf;

use idgraph::query::{Statement, parse_script, parse_statement};

/// One case of a data file.
struct Case {
    /// The title, after `### `.
    title: String,
    /// Line of the title in the data file, from 1.
    line: usize,
    input: String,
    expected: String,
}

fn cases_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/query_cases")
        .join(name)
}

/// Reads the cases of `tests/query_cases/{name}`.
fn read_cases(name: &str) -> Vec<Case> {
    let path = cases_path(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));

    let mut cases = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((index, line)) = lines.next() {
        let Some(title) = line.strip_prefix("### ") else {
            continue;
        };

        let mut input = Vec::new();
        let mut expected = Vec::new();
        while let Some((_, line)) = lines.next_if(|(_, line)| !line.starts_with("### ")) {
            if !expected.is_empty() {
                expected.push(line);
            } else if let Some(first) = line.strip_prefix("=>") {
                expected.push(first.strip_prefix(' ').unwrap_or(first));
            } else {
                input.push(line);
            }
        }
        assert!(
            !expected.is_empty(),
            "{name}:{}: case {title:?} has no `=>` line",
            index + 1
        );
        while expected.len() > 1 && expected.last().is_some_and(|line| line.is_empty()) {
            expected.pop();
        }

        cases.push(Case {
            title: title.to_owned(),
            line: index + 1,
            input: input.join("\n"),
            expected: expected.join("\n"),
        });
    }
    cases
}

/// Prints statements in the canonical form of the accepted cases.
fn canonical(statements: &[Statement]) -> String {
    let printed: Vec<String> = statements.iter().map(Statement::to_string).collect();
    printed.join(";\n")
}

/// Appends a report of a failed case to `failures`.
fn report(failures: &mut String, file: &str, case: &Case, expected: &str, actual: &str) {
    let _ = writeln!(
        failures,
        "--- {file}:{} {}\ninput:\n{}\nexpected:\n{expected}\nactual:\n{actual}\n",
        case.line, case.title, case.input
    );
}

/// Fails the test with every report in `failures`, if there is any.
fn check(failures: &str, count: usize) {
    assert!(failures.is_empty(), "{count} case(s) failed:\n\n{failures}");
}

#[test]
fn accepted_cases_print_canonically() {
    let file = "accepted.txt";
    let cases = read_cases(file);
    assert!(!cases.is_empty(), "{file} has no cases");

    let mut failures = String::new();
    let mut count = 0;
    for case in &cases {
        let statements = match parse_script(&case.input) {
            Ok(statements) => statements,
            Err(error) => {
                report(
                    &mut failures,
                    file,
                    case,
                    &case.expected,
                    &error.render(&case.input),
                );
                count += 1;
                continue;
            }
        };
        let printed = canonical(&statements);
        if printed != case.expected {
            report(&mut failures, file, case, &case.expected, &printed);
            count += 1;
            continue;
        }

        // The canonical form is itself a script that parses back to the same statements.
        let reparsed = parse_script(&printed).map_err(|error| error.render(&printed));
        if reparsed.as_ref() != Ok(&statements) {
            report(
                &mut failures,
                file,
                case,
                "the same statements",
                &format!("{reparsed:?}"),
            );
            count += 1;
            continue;
        }

        // A one-statement script is also a valid input for `parse_statement`.
        if let [statement] = statements.as_slice() {
            let single = parse_statement(&case.input).map_err(|error| error.render(&case.input));
            if single.as_ref() != Ok(statement) {
                report(&mut failures, file, case, &printed, &format!("{single:?}"));
                count += 1;
            }
        }
    }
    check(&failures, count);
}

#[test]
fn rejected_cases_render_errors() {
    let file = "rejected.txt";
    let cases = read_cases(file);
    assert!(!cases.is_empty(), "{file} has no cases");

    let mut failures = String::new();
    let mut count = 0;
    for case in &cases {
        let actual = match parse_script(&case.input) {
            Ok(statements) => format!("accepted as:\n{}", canonical(&statements)),
            Err(error) => error.render(&case.input),
        };
        if actual != case.expected {
            report(&mut failures, file, case, &case.expected, &actual);
            count += 1;
        }
    }
    check(&failures, count);
}

#[test]
fn every_grammar_rule_has_cases() {
    let grammar_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("grammar/idgraph.ebnf");
    let grammar = std::fs::read_to_string(&grammar_path).unwrap();

    // A rule definition is a line that starts with a name (letters and spaces) and ` = `.
    let rules: Vec<&str> = grammar
        .lines()
        .filter_map(|line| line.split_once(" = "))
        .map(|(name, _)| name.trim())
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == ' '))
        .collect();
    assert!(rules.len() >= 20, "found only these rules: {rules:?}");

    for file in ["accepted.txt", "rejected.txt"] {
        let cases = read_cases(file);
        let missing: Vec<&str> = rules
            .iter()
            .copied()
            .filter(|rule| {
                let prefix = format!("{rule}:");
                !cases.iter().any(|case| case.title.starts_with(&prefix))
            })
            .collect();
        assert!(
            missing.is_empty(),
            "{file} has no case for the rules {missing:?}"
        );
    }
}

#[test]
fn parse_statement_takes_one_statement() {
    let error = parse_statement("stats; stats").unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 1, column 8: expected end of input, found `stats`"
    );

    let error = parse_statement("").unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 1, column 1: expected a statement: `find`, `entity`, `path`, `explain`, \
         `conflicts`, `stats`, `entities`, `why`, `bridges`, `hubs`, `audit`, `link`, \
         `unlink` or `split`, found end of input"
    );

    assert_eq!(parse_statement(" stats ; -- done"), Ok(Statement::Stats));
}

#[test]
fn error_display_matches_fields() {
    let error = parse_script("stats;\n  entity 4294967296").unwrap_err();
    assert_eq!(error.line, 2);
    assert_eq!(error.column, 10);
    assert_eq!(error.offset, 16);
    assert_eq!(error.found, "4294967296");
    assert_eq!(error.expected, "an entity id from 0 to 4294967295");
    assert_eq!(
        error.to_string(),
        "line 2, column 10: expected an entity id from 0 to 4294967295, found `4294967296`"
    );
}
