//! Blocking: which record pairs the matcher compares at all.
//!
//! A rule is a list of key parts; two records are a candidate pair when some rule gives them
//! the same key. A part is a column name, or a function of one: `first3(surname)` (first three
//! characters), `year(date_of_birth)` (first four digits), `soundex(surname)`.

use rustc_hash::{FxHashMap, FxHashSet};

/// One part of a blocking key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyPart {
    /// The whole value.
    Value(usize),
    /// The first `n` characters.
    Prefix(usize, usize),
    /// The first four digits, the year of a date.
    Year(usize),
    /// The Soundex code.
    Soundex(usize),
}

/// Parses a key part such as `first3(surname)` against the column list, returning the part
/// and the column it reads, or an error naming the text.
pub fn parse_part(
    text: &str,
    column_index: &mut dyn FnMut(&str) -> usize,
) -> Result<KeyPart, String> {
    let text = text.trim();
    let Some((function, rest)) = text.split_once('(') else {
        return Ok(KeyPart::Value(column_index(text)));
    };
    let column = rest
        .strip_suffix(')')
        .ok_or_else(|| format!("blocking key part {text:?} lacks its closing parenthesis"))?
        .trim();
    let index = column_index(column);
    if let Some(n) = function.strip_prefix("first") {
        let n: usize = n
            .parse()
            .map_err(|_| format!("blocking key part {text:?}: expected firstN, such as first3"))?;
        return Ok(KeyPart::Prefix(index, n));
    }
    match function {
        "year" => Ok(KeyPart::Year(index)),
        "soundex" => Ok(KeyPart::Soundex(index)),
        other => Err(format!(
            "blocking function {other:?} in {text:?} is unknown; use firstN, year or soundex"
        )),
    }
}

/// Computes the key part of one record, or `None` when the value is missing.
pub fn part_value(part: &KeyPart, values: &[Option<String>]) -> Option<String> {
    match part {
        KeyPart::Value(index) => values[*index].clone(),
        KeyPart::Prefix(index, n) => values[*index]
            .as_ref()
            .map(|v| v.chars().take(*n).collect()),
        KeyPart::Year(index) => {
            let digits: String = values[*index]
                .as_ref()?
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            (digits.len() >= 4).then(|| digits[..4].to_owned())
        }
        KeyPart::Soundex(index) => values[*index].as_deref().and_then(soundex),
    }
}

/// Returns the American Soundex code of the ASCII letters of `name`, such as `R163` for
/// `Robert`, or `None` when it has no ASCII letter.
pub fn soundex(name: &str) -> Option<String> {
    let code = |c: char| match c {
        'b' | 'f' | 'p' | 'v' => '1',
        'c' | 'g' | 'j' | 'k' | 'q' | 's' | 'x' | 'z' => '2',
        'd' | 't' => '3',
        'l' => '4',
        'm' | 'n' => '5',
        'r' => '6',
        'h' | 'w' => '-',
        _ => '0',
    };
    let mut letters = name
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase());
    let first = letters.next()?;
    let mut result = String::with_capacity(4);
    result.push(first.to_ascii_uppercase());
    let mut previous = code(first);
    for c in letters {
        let digit = code(c);
        if digit == '-' {
            continue;
        }
        if digit != '0' && digit != previous {
            result.push(digit);
            if result.len() == 4 {
                break;
            }
        }
        previous = digit;
    }
    while result.len() < 4 {
        result.push('0');
    }
    Some(result)
}

/// A block skipped because it was larger than the cap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedBlock {
    /// Index of the rule in the configuration.
    pub rule: usize,
    /// The block's key, parts joined by `|`.
    pub key: String,
    /// Records in the block.
    pub size: usize,
}

/// Candidate pairs from blocking.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Candidates {
    /// Distinct pairs `(i, j)` of record indices with `i < j`.
    pub pairs: Vec<(u32, u32)>,
    /// For each pair, the index of the first rule that produced it.
    pub rules: Vec<u16>,
    /// Blocks skipped because they held more than the maximum block size.
    pub skipped: Vec<SkippedBlock>,
}

/// Returns the distinct candidate pairs over all rules, each with the first rule that
/// produced it, and the blocks skipped because they held more than `max_block_size` records.
pub fn candidate_pairs(
    rules: &[Vec<KeyPart>],
    records: &[Vec<Option<String>>],
    max_block_size: usize,
) -> Candidates {
    let mut seen: FxHashSet<(u32, u32)> = FxHashSet::default();
    let mut found = Candidates::default();
    for (rule_index, rule) in rules.iter().enumerate() {
        let mut blocks: FxHashMap<String, Vec<u32>> = FxHashMap::default();
        'records: for (index, values) in records.iter().enumerate() {
            let mut key = String::new();
            for (n, part) in rule.iter().enumerate() {
                let Some(value) = part_value(part, values).filter(|v| !v.is_empty()) else {
                    continue 'records;
                };
                if n > 0 {
                    key.push('|');
                }
                key.push_str(&value);
            }
            blocks.entry(key).or_default().push(index as u32);
        }
        let mut keys: Vec<&String> = blocks.keys().collect();
        keys.sort();
        for key in keys {
            let members = &blocks[key];
            if members.len() > max_block_size {
                found.skipped.push(SkippedBlock {
                    rule: rule_index,
                    key: key.clone(),
                    size: members.len(),
                });
                continue;
            }
            for (n, &i) in members.iter().enumerate() {
                for &j in &members[n + 1..] {
                    if seen.insert((i, j)) {
                        found.pairs.push((i, j));
                        found.rules.push(rule_index as u16);
                    }
                }
            }
        }
    }
    found
}

impl KeyPart {
    /// Returns the index of the column the part reads.
    pub fn column(&self) -> usize {
        match self {
            KeyPart::Value(index)
            | KeyPart::Prefix(index, _)
            | KeyPart::Year(index)
            | KeyPart::Soundex(index) => *index,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(items: &[&str]) -> Vec<Option<String>> {
        items
            .iter()
            .map(|v| (!v.is_empty()).then(|| (*v).to_owned()))
            .collect()
    }

    #[test]
    fn soundex_codes() {
        assert_eq!(soundex("Robert").as_deref(), Some("R163"));
        assert_eq!(soundex("Rupert").as_deref(), Some("R163"));
        assert_eq!(soundex("Ashcraft").as_deref(), Some("A261"));
        assert_eq!(soundex("Tymczak").as_deref(), Some("T522"));
        assert_eq!(soundex("Lee").as_deref(), Some("L000"));
        assert_eq!(soundex("123"), None);
    }

    #[test]
    fn parts_parse_and_apply() {
        let columns = ["surname", "dob"];
        let mut index = |name: &str| columns.iter().position(|c| *c == name).unwrap();
        let record = values(&["smith", "19870412"]);
        let prefix = parse_part("first3(surname)", &mut index).unwrap();
        assert_eq!(part_value(&prefix, &record).as_deref(), Some("smi"));
        let year = parse_part("year(dob)", &mut index).unwrap();
        assert_eq!(part_value(&year, &record).as_deref(), Some("1987"));
        let error = parse_part("last3(surname)", &mut index).unwrap_err();
        assert!(error.contains("unknown"), "{error}");
    }

    #[test]
    fn rules_union_without_duplicates() {
        let records = vec![
            values(&["smith", "1987"]),
            values(&["smith", "1987"]),
            values(&["smyth", "1987"]),
        ];
        let rules = vec![vec![KeyPart::Value(0)], vec![KeyPart::Value(1)]];
        let found = candidate_pairs(&rules, &records, 100);
        assert_eq!(found.pairs, vec![(0, 1), (0, 2), (1, 2)]);
        assert_eq!(found.rules, vec![0, 1, 1]);
        assert!(found.skipped.is_empty());
    }

    #[test]
    fn empty_values_never_block() {
        let records = vec![values(&["", "1"]), values(&["", "2"])];
        let found = candidate_pairs(&[vec![KeyPart::Value(0)]], &records, 100);
        assert!(found.pairs.is_empty());
    }

    #[test]
    fn hub_block_is_skipped_not_quadratic() {
        // Every record shares one postcode; the block is skipped and no pair is made.
        let records: Vec<_> = (0..20_000)
            .map(|i| values(&[&format!("name{i}"), "2600"]))
            .collect();
        let rules = vec![vec![KeyPart::Value(1)], vec![KeyPart::Value(0)]];
        let found = candidate_pairs(&rules, &records, 1000);
        assert!(found.pairs.is_empty());
        assert_eq!(
            found.skipped,
            vec![SkippedBlock {
                rule: 0,
                key: "2600".into(),
                size: 20_000
            }]
        );
    }
}
