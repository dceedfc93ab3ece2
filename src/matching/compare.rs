//! Comparison functions: each compares one attribute of two records and returns an agreement
//! level, from 0 (disagree) up to the number of levels minus one (exact agreement), or `None`
//! when either side is missing, which adds no evidence either way.

use rapidfuzz::distance::{jaro_winkler, osa};
use serde::{Deserialize, Serialize};

/// Comparison method of one attribute, with its agreement levels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Method {
    /// Levels: exact, else.
    Exact,
    /// Levels: exact, then one level per Jaro-Winkler similarity threshold (descending), else.
    JaroWinkler {
        /// Similarity thresholds in (0, 1), highest first.
        thresholds: Vec<f64>,
    },
    /// Levels: exact, then one level per maximum edit distance (ascending), else. The distance
    /// counts insertions, deletions, substitutions and transpositions of adjacent characters
    /// (optimal string alignment).
    Levenshtein {
        /// Maximum edit distances, lowest first.
        distances: Vec<usize>,
    },
    /// Dates written `YYYYMMDD` or `YYYY-MM-DD`, with six levels, best first:
    /// - exact,
    /// - day and month swapped, one digit changed, or two adjacent digits transposed,
    /// - within 31 days, within 366 days, within 10 years,
    /// - else.
    ///
    /// A value that is not a valid date is compared by its digits alone: exact, one edit, else.
    Date,
    /// Numbers. Levels: equal, then one level per absolute tolerance (ascending), else.
    Numeric {
        /// Absolute tolerances, lowest first.
        tolerances: Vec<f64>,
    },
}

impl Method {
    /// Returns the number of levels, counting the "else" level 0.
    pub fn levels(&self) -> usize {
        match self {
            Method::Exact => 2,
            Method::JaroWinkler { thresholds } => thresholds.len() + 2,
            Method::Levenshtein { distances } => distances.len() + 2,
            Method::Date => 6,
            Method::Numeric { tolerances } => tolerances.len() + 2,
        }
    }

    /// Returns the level label shown in explanations, for level `level`.
    pub fn level_label(&self, level: usize) -> String {
        let top = self.levels() - 1;
        if level == top {
            return "exact".to_owned();
        }
        if level == 0 {
            return "else".to_owned();
        }
        match self {
            Method::Exact => "else".to_owned(),
            Method::JaroWinkler { thresholds } => {
                format!("jaro-winkler >= {}", thresholds[top - 1 - level])
            }
            Method::Levenshtein { distances } => {
                format!("edit distance <= {}", distances[top - 1 - level])
            }
            Method::Date => match level {
                4 => "swapped or one digit off".to_owned(),
                3 => "within a month".to_owned(),
                2 => "within a year".to_owned(),
                _ => "within 10 years".to_owned(),
            },
            Method::Numeric { tolerances } => format!("within {}", tolerances[top - 1 - level]),
        }
    }

    /// Compares two present values and returns the level.
    pub fn compare(&self, a: &str, b: &str) -> usize {
        let top = self.levels() - 1;
        if a == b {
            return top;
        }
        match self {
            Method::Exact => 0,
            Method::JaroWinkler { thresholds } => {
                // The cutoff lets the similarity stop early on pairs below every threshold.
                let lowest = thresholds.last().copied().unwrap_or(1.0);
                let args = jaro_winkler::Args::default().score_cutoff(lowest);
                let Some(similarity) =
                    jaro_winkler::similarity_with_args(a.chars(), b.chars(), &args)
                else {
                    return 0;
                };
                thresholds
                    .iter()
                    .position(|&threshold| similarity >= threshold)
                    .map_or(0, |index| top - 1 - index)
            }
            Method::Levenshtein { distances } => {
                let max = distances.last().copied().unwrap_or(0);
                let Some(distance) = osa_within(a, b, max) else {
                    return 0;
                };
                distances
                    .iter()
                    .position(|&max| distance <= max)
                    .map_or(0, |index| top - 1 - index)
            }
            Method::Date => compare_dates(a, b),
            Method::Numeric { tolerances } => {
                match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
                    (Ok(x), Ok(y)) if x == y => top,
                    (Ok(x), Ok(y)) => tolerances
                        .iter()
                        .position(|&tolerance| (x - y).abs() <= tolerance)
                        .map_or(0, |index| top - 1 - index),
                    _ => 0,
                }
            }
        }
    }
}

/// Returns the optimal string alignment distance of `a` and `b` (insertions, deletions,
/// substitutions and adjacent transpositions), or `None` when it exceeds `max`.
fn osa_within(a: &str, b: &str, max: usize) -> Option<usize> {
    let args = osa::Args::default().score_cutoff(max);
    osa::distance_with_args(a.chars(), b.chars(), &args)
}

/// Compares two dates; see [`Method::Date`] for the levels.
fn compare_dates(a: &str, b: &str) -> usize {
    let digits = |text: &str| -> String { text.chars().filter(char::is_ascii_digit).collect() };
    let (x, y) = (digits(a), digits(b));
    if x == y && !x.is_empty() {
        return 5;
    }
    let close = osa_within(&x, &y, 1).is_some();
    if x.len() != 8 || y.len() != 8 {
        return if close { 4 } else { 0 };
    }
    let swapped = x[..4] == y[..4] && x[4..6] == y[6..] && x[6..] == y[4..6];
    let one_digit = x.bytes().zip(y.bytes()).filter(|(p, q)| p != q).count() == 1;
    if swapped || one_digit || close {
        return 4;
    }
    let (Some(day_x), Some(day_y)) = (day_number(&x), day_number(&y)) else {
        return 0;
    };
    match day_x.abs_diff(day_y) {
        0..=31 => 3,
        32..=366 => 2,
        367..=3653 => 1,
        _ => 0,
    }
}

/// Returns the day number of a `YYYYMMDD` date, or `None` when it is not a valid date.
fn day_number(digits: &str) -> Option<i64> {
    let year: i16 = digits[..4].parse().ok()?;
    let month: i8 = digits[4..6].parse().ok()?;
    let day: i8 = digits[6..].parse().ok()?;
    let date = jiff::civil::Date::new(year, month, day).ok()?;
    Some(
        date.since(jiff::civil::Date::constant(1900, 1, 1))
            .ok()?
            .get_days()
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_levels() {
        assert_eq!(Method::Exact.compare("smith", "smith"), 1);
        assert_eq!(Method::Exact.compare("smith", "smyth"), 0);
    }

    #[test]
    fn jaro_winkler_levels() {
        let method = Method::JaroWinkler {
            thresholds: vec![0.92, 0.8],
        };
        assert_eq!(method.levels(), 4);
        assert_eq!(method.compare("katherine", "katherine"), 3);
        assert_eq!(method.compare("katherine", "katharine"), 2);
        assert_eq!(method.compare("dwayne", "duane"), 1);
        assert_eq!(method.compare("katherine", "bob"), 0);
        assert_eq!(method.level_label(2), "jaro-winkler >= 0.92");
    }

    #[test]
    fn levenshtein_levels() {
        let method = Method::Levenshtein {
            distances: vec![1, 2],
        };
        assert_eq!(method.compare("pridham", "pridham"), 3);
        assert_eq!(
            method.compare("pridham", "pirdham"),
            2,
            "a transposition is one edit"
        );
        assert_eq!(method.compare("pridham", "prdhm"), 1);
        assert_eq!(method.compare("pridham", "smith"), 0);
    }

    #[test]
    fn date_levels() {
        assert_eq!(compare_dates("19870412", "19870412"), 5);
        assert_eq!(
            compare_dates("19870412", "19871204"),
            4,
            "day and month swapped"
        );
        assert_eq!(compare_dates("19870412", "19870413"), 4, "one digit off");
        assert_eq!(
            compare_dates("19870412", "19870421"),
            4,
            "two digits transposed"
        );
        assert_eq!(compare_dates("19870412", "19870501"), 3, "within a month");
        assert_eq!(compare_dates("19870412", "19880301"), 2, "within a year");
        assert_eq!(compare_dates("19870412", "19800101"), 1, "within ten years");
        assert_eq!(compare_dates("19870412", "19650101"), 0);
        assert_eq!(
            compare_dates("1987-04-12", "19870412"),
            5,
            "separators are ignored"
        );
        assert_eq!(compare_dates("1987041", "1987041"), 5);
        assert_eq!(
            compare_dates("1987041", "19870412"),
            4,
            "malformed: one edit"
        );
        assert_eq!(
            compare_dates("19870231", "19860101"),
            0,
            "invalid date: digits only"
        );
    }

    #[test]
    fn numeric_levels() {
        let method = Method::Numeric {
            tolerances: vec![1.0, 10.0],
        };
        assert_eq!(method.compare("42", "42.0"), 3);
        assert_eq!(method.compare("42", "43"), 2);
        assert_eq!(method.compare("42", "50"), 1);
        assert_eq!(method.compare("42", "500"), 0);
        assert_eq!(method.compare("42", "x"), 0);
    }
}
