//! Store policy: [`Config`] sets how evidence is weighted, when edges link, which kinds are
//! unique per person and how identifiers are normalized.
//!
//! A store keeps its configuration in its meta tree, so every process that opens it resolves
//! the same way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Default confidence at or above which an edge links its two nodes into one entity.
pub const DEFAULT_LINK_THRESHOLD: f32 = 0.5;

/// The configuration of a store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Confidence at or above which an edge links two nodes into one entity.
    pub link_threshold: f32,
    /// Base confidence of the edge between a record and an identifier, per identifier kind.
    pub kind_weights: BTreeMap<String, f32>,
    /// Confidence of an identifier edge whose kind is not in `kind_weights`.
    pub default_kind_weight: f32,
    /// Kinds a person has at most one value of. Two values in one entity are a conflict.
    pub unique_kinds: Vec<String>,
    /// Local parts of email addresses that a team shares rather than a person (`support` in
    /// `support@shop.example`), compared in lowercase.
    pub role_mailboxes: Vec<String>,
    /// Confidence of the edge to a role mailbox, below the default link threshold so that a
    /// shared mailbox alone never joins two people.
    pub role_mailbox_weight: f32,
    /// Kinds a person has at most one value of within each source (a customer id is unique
    /// in its own system but differs between systems).
    pub unique_per_source: Vec<String>,
    /// Edit distance (with transpositions) within which two values of a unique kind, each of
    /// at least six characters, count as a typo of one another: a link between them is kept,
    /// and the entity shows a unique conflict for review. 0 holds back every link between two
    /// different values.
    pub unique_typo_distance: usize,
    /// Most distinct values of a kind that one entity may hold, per kind.
    pub max_per_entity: BTreeMap<String, usize>,
    /// Kinds in the order their evidence wins a tie: when two equally confident links would
    /// break a rule, the link through the kind listed first is kept. Unlisted kinds come after.
    pub kind_priority: Vec<String>,
    /// Number of records an identifier of the kind is normally shared by, per kind. Beyond
    /// it, each edge's confidence is discounted by the square root of typical over actual.
    pub typical_degree: BTreeMap<String, u32>,
    /// Typical degree of a kind not in `typical_degree`.
    pub default_typical_degree: u32,
    /// Degree at or above which an identifier of the kind is a hub, per kind. A hub's edges
    /// never link on their own.
    pub hub_degree: BTreeMap<String, u32>,
    /// Hub degree of a kind not in `hub_degree`.
    pub default_hub_degree: u32,
    /// Half-life in days of the confidence of evidence older than the newest evidence of the
    /// entity, where records carry timestamps. Confidence never drops below half.
    pub age_half_life_days: f32,
    /// Whether resolution holds back weak bridges: a link that alone joins two groups of at
    /// least two records and is weaker than the links inside both, or a record that matches
    /// two such groups. Off, such groups merge and only the score shows the weak link.
    pub hold_weak_bridges: bool,
    /// Attributes that should agree across the records of one entity, such as dates of birth;
    /// two different values make an attribute-disagreement conflict.
    pub agreeing_attributes: Vec<String>,
    /// Attributes that name a person or an organisation. An identifier shared by more records
    /// than its kind's typical degree is neither discounted nor a hub when nine in ten of its
    /// records carry names and agree on each of these attributes. Such records name one party,
    /// as a company's many patent filings do. An empty list turns the exception off.
    pub name_attributes: Vec<String>,
    /// Score cut-offs of the tiers.
    pub tiers: TierCutoffs,
    /// Identifier normalization.
    pub normalize: NormalizeConfig,
}

impl Default for Config {
    fn default() -> Self {
        let kind_weights = [
            ("national_id", 0.99),
            ("customer_id", 0.95),
            ("email", 0.9),
            ("phone", 0.85),
            ("device_id", 0.6),
            ("cookie", 0.6),
            ("ip", 0.2),
        ]
        .into_iter()
        .map(|(kind, weight)| (kind.to_owned(), weight))
        .collect();
        Config {
            link_threshold: DEFAULT_LINK_THRESHOLD,
            kind_weights,
            default_kind_weight: 0.7,
            unique_kinds: vec!["national_id".to_owned()],
            role_mailboxes: [
                "support",
                "info",
                "help",
                "helpdesk",
                "service",
                "customerservice",
                "contact",
                "sales",
                "orders",
                "billing",
                "accounts",
                "admin",
                "office",
                "team",
                "hello",
                "enquiries",
                "noreply",
                "no-reply",
                "donotreply",
                "webmaster",
                "postmaster",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
            role_mailbox_weight: 0.3,
            unique_per_source: vec!["customer_id".to_owned()],
            unique_typo_distance: 1,
            max_per_entity: [
                ("email", 5),
                ("phone", 5),
                ("device_id", 10),
                ("cookie", 20),
            ]
            .into_iter()
            .map(|(kind, limit)| (kind.to_owned(), limit))
            .collect(),
            kind_priority: [
                "national_id",
                "customer_id",
                "email",
                "phone",
                "device_id",
                "cookie",
                "ip",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
            typical_degree: [("national_id", 5), ("customer_id", 5), ("ip", 5)]
                .into_iter()
                .map(|(kind, degree)| (kind.to_owned(), degree))
                .collect(),
            default_typical_degree: 3,
            hub_degree: [("ip", 50), ("national_id", 20), ("customer_id", 20)]
                .into_iter()
                .map(|(kind, degree)| (kind.to_owned(), degree))
                .collect(),
            default_hub_degree: 12,
            age_half_life_days: 730.0,
            hold_weak_bridges: true,
            agreeing_attributes: ["date_of_birth", "dob", "birth_date", "gender", "sex"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
            name_attributes: [
                "name",
                "full_name",
                "first_name",
                "given_name",
                "surname",
                "last_name",
                "company_name",
                "organisation",
                "organization",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
            tiers: TierCutoffs::default(),
            normalize: NormalizeConfig::default(),
        }
    }
}

impl Config {
    /// Returns the base confidence of an identifier edge of `kind`.
    pub fn kind_weight(&self, kind: &str) -> f32 {
        self.kind_weights
            .get(kind)
            .copied()
            .unwrap_or(self.default_kind_weight)
    }

    /// Returns the base confidence of the edge from a record to identifier `value` of `kind`:
    /// the kind's weight, or `role_mailbox_weight` for an email whose local part is a role
    /// mailbox.
    pub fn identifier_weight(&self, kind: &str, value: &str) -> f32 {
        if kind == "email" {
            let local = value.split('@').next().unwrap_or_default();
            if self
                .role_mailboxes
                .iter()
                .any(|role| role.eq_ignore_ascii_case(local))
            {
                return self.role_mailbox_weight;
            }
        }
        self.kind_weight(kind)
    }

    /// Returns the number of records an identifier of `kind` is normally shared by.
    pub fn typical_degree(&self, kind: &str) -> u32 {
        self.typical_degree
            .get(kind)
            .copied()
            .unwrap_or(self.default_typical_degree)
    }

    /// Returns the degree at or above which an identifier of `kind` is a hub.
    pub fn hub_degree(&self, kind: &str) -> u32 {
        self.hub_degree
            .get(kind)
            .copied()
            .unwrap_or(self.default_hub_degree)
    }

    /// Returns the position of `kind` in `kind_priority`; unlisted kinds come after all
    /// listed ones.
    pub fn kind_rank(&self, kind: &str) -> usize {
        self.kind_priority
            .iter()
            .position(|listed| listed == kind)
            .unwrap_or(self.kind_priority.len())
    }

    /// Returns whether a person has at most one value of `kind`.
    pub fn is_unique_kind(&self, kind: &str) -> bool {
        self.unique_kinds.iter().any(|unique| unique == kind)
    }

    /// Checks that every weight and cut-off is in range.
    ///
    /// # Errors
    ///
    /// Returns a message naming the setting and its invalid value.
    pub fn validate(&self) -> Result<(), String> {
        let in_unit = |value: f32| value > 0.0 && value <= 1.0;
        if !in_unit(self.link_threshold) {
            return Err(format!(
                "link_threshold is {}, expected a number in (0, 1]",
                self.link_threshold
            ));
        }
        for (kind, weight) in &self.kind_weights {
            if !in_unit(*weight) {
                return Err(format!(
                    "kind_weights.{kind} is {weight}, expected a number in (0, 1]"
                ));
            }
        }
        if !in_unit(self.role_mailbox_weight) {
            return Err(format!(
                "role_mailbox_weight is {}, expected a number in (0, 1]",
                self.role_mailbox_weight
            ));
        }
        if !in_unit(self.default_kind_weight) {
            return Err(format!(
                "default_kind_weight is {}, expected a number in (0, 1]",
                self.default_kind_weight
            ));
        }
        for (setting, degrees, default) in [
            (
                "typical_degree",
                &self.typical_degree,
                self.default_typical_degree,
            ),
            ("hub_degree", &self.hub_degree, self.default_hub_degree),
        ] {
            if default == 0 {
                return Err(format!("default_{setting} is 0, expected at least 1"));
            }
            if let Some((kind, _)) = degrees.iter().find(|(_, degree)| **degree == 0) {
                return Err(format!("{setting}.{kind} is 0, expected at least 1"));
            }
        }
        if let Some((kind, _)) = self.max_per_entity.iter().find(|(_, limit)| **limit == 0) {
            return Err(format!("max_per_entity.{kind} is 0, expected at least 1"));
        }
        if self.age_half_life_days.is_nan() || self.age_half_life_days <= 0.0 {
            return Err(format!(
                "age_half_life_days is {}, expected a positive number of days",
                self.age_half_life_days
            ));
        }
        let TierCutoffs { high, medium } = self.tiers;
        if !(0.0..=1.0).contains(&medium) || !(medium..=1.0).contains(&high) {
            return Err(format!(
                "tiers are high = {high}, medium = {medium}, expected 0 <= medium <= high <= 1"
            ));
        }
        Ok(())
    }

    /// Parses a configuration from TOML text. Missing settings take their defaults.
    ///
    /// # Errors
    ///
    /// Returns the TOML error, which names the line and the unknown or invalid setting, or the
    /// message of [`Config::validate`].
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|error| error.to_string())?;
        config.validate()?;
        Ok(config)
    }
}

/// Score cut-offs of the tiers: a score at or above `high` is high, at or above `medium` is
/// medium, anything lower is low.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TierCutoffs {
    /// Lowest score of the high tier.
    pub high: f32,
    /// Lowest score of the medium tier.
    pub medium: f32,
}

impl Default for TierCutoffs {
    fn default() -> Self {
        TierCutoffs {
            high: 0.8,
            medium: 0.5,
        }
    }
}

/// Settings of identifier normalization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NormalizeConfig {
    /// Region (ISO 3166-1 alpha-2, such as `GB`) assumed for phone numbers written without a
    /// country code. With `None`, such numbers are invalid.
    pub default_region: Option<String>,
    /// Named email rules to apply. The only rule so far is `gmail`: at gmail.com and
    /// googlemail.com, dots in the local part and any `+tag` are removed and the domain
    /// becomes gmail.com.
    pub email_rules: Vec<String>,
    /// Extra values, compared after trimming and case folding, that never become identifiers.
    pub placeholders: Vec<String>,
}

impl Default for NormalizeConfig {
    fn default() -> Self {
        NormalizeConfig {
            default_region: Some("US".to_owned()),
            email_rules: vec!["gmail".to_owned()],
            placeholders: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn toml_overrides_some_settings() {
        let config = Config::from_toml("link_threshold = 0.7\n[kind_weights]\nip = 0.1\n").unwrap();
        assert_eq!(config.link_threshold, 0.7);
        assert_eq!(config.kind_weight("ip"), 0.1);
        assert_eq!(config.kind_weight("loyalty_card"), 0.7);
        assert!(config.is_unique_kind("national_id"));
    }

    #[test]
    fn role_mailbox_is_weak() {
        let config = Config::default();
        assert_eq!(
            config.identifier_weight("email", "support@shop.example"),
            0.3
        );
        assert_eq!(
            config.identifier_weight("email", "NoReply@shop.example"),
            0.3
        );
        assert_eq!(config.identifier_weight("email", "ann@shop.example"), 0.9);
        assert_eq!(config.identifier_weight("cookie", "support"), 0.6);
    }

    #[test]
    fn toml_rejects_out_of_range_weight() {
        let error = Config::from_toml("[kind_weights]\nemail = 1.5\n").unwrap_err();
        assert!(error.contains("kind_weights.email is 1.5"), "{error}");
    }

    #[test]
    fn toml_rejects_unknown_setting() {
        let error = Config::from_toml("link_treshold = 0.5\n").unwrap_err();
        assert!(error.contains("link_treshold"), "{error}");
    }
}
