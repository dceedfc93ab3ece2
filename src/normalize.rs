//! Identifier normalization: [`Normalizer`] turns a raw identifier into the value that names it
//! within its kind, or rejects it as a placeholder or as invalid.
//!
//! Email, phone and national_id have their own rules. Every other kind, built-in or user-defined,
//! gets the generic rule: NFKC, case folding and collapsed whitespace. docs/normalization.md lists
//! the rules with examples.

use std::borrow::Cow;
use std::sync::{Once, OnceLock};

use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, ParseError, PhoneNumber, country};
use regex::Regex;
use rustc_hash::FxHashSet;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick, is_nfkc_quick};

use crate::config::NormalizeConfig;
use crate::model::IdentifierKind;

/// Values that never become identifiers or attributes, in case-folded form. They are compared
/// with the case-folded value and with that value stripped of leading and trailing characters
/// that are neither letters nor digits, so `""` makes every value without a letter or a digit a
/// placeholder.
const PLACEHOLDERS: &[&str] = &[
    "",
    "unknown",
    "n/a",
    "na",
    "null",
    "nil",
    "none",
    "?",
    "-",
    "--",
    "0",
    "undefined",
    "not available",
    "not provided",
    "john doe",
    "jane doe",
    "test",
    "no email",
    "noemail",
];

/// Attribute values that mean "no value", in case-folded form.
const MISSING_ATTRIBUTE_VALUES: &[&str] = &[
    "unknown",
    "n/a",
    "null",
    "nil",
    "none",
    "undefined",
    "not available",
    "not provided",
    "?",
    "john doe",
    "jane doe",
];

/// Local parts that mark an email address as missing or shared by many people, checked besides
/// [`PLACEHOLDERS`].
const EMAIL_PLACEHOLDER_LOCAL_PARTS: &[&str] = &[
    "no-email",
    "no_email",
    "no.email",
    "nomail",
    "noreply",
    "no-reply",
    "donotreply",
    "do-not-reply",
    "x",
    "xx",
    "xxx",
];

/// Names of the email rules that `email_rules` may list.
const EMAIL_RULES: &[&str] = &["gmail"];

/// Domains that the gmail rule applies to. Both deliver to the same mailbox.
const GMAIL_DOMAINS: &[&str] = &["gmail.com", "googlemail.com"];

/// Phone values with fewer digits than this, and no letters, are placeholders.
const MIN_PHONE_DIGITS: usize = 5;

/// National ids shorter than this, in characters once separators are removed, are placeholders.
const MIN_NATIONAL_ID_CHARS: usize = 4;

/// Capacity of phonenumber's shared cache of compiled metadata patterns.
///
/// phonenumber 0.3.10 compiles its metadata patterns on first use into one LRU cache of 100
/// entries. Parsing and validating the example number of every region and type touches more
/// than 1,700 patterns, and past 100 the cache evicts and recompiles on nearly every call. In
/// one measurement that slowed a mix of 20 countries from about 10 µs to about 5 ms per number.
/// This capacity keeps every pattern. Memory grows only with the countries actually seen, by an
/// estimated 100 KB per pattern.
const PHONE_PATTERN_CACHE_CAPACITY: usize = 4096;

/// Normalizes identifiers and attributes by the rules of one [`NormalizeConfig`].
///
/// Build it once and reuse it: `new` precomputes the placeholder set and the default phone
/// region, and each call only reads them.
///
/// ```
/// use idgraph::config::NormalizeConfig;
/// use idgraph::normalize::{Normalized, Normalizer};
/// use idgraph::IdentifierKind;
///
/// let normalizer = Normalizer::new(&NormalizeConfig::default()).unwrap();
/// let phone = IdentifierKind::new(IdentifierKind::PHONE).unwrap();
/// assert_eq!(
///     normalizer.identifier(&phone, "(415) 555-0100"),
///     Normalized::Value("+14155550100".to_owned())
/// );
/// assert_eq!(normalizer.identifier(&phone, "000-000-0000"), Normalized::Placeholder);
/// ```
#[derive(Clone, Debug)]
pub struct Normalizer {
    /// [`PLACEHOLDERS`] and the configured placeholders, case-folded.
    placeholders: FxHashSet<String>,
    /// Whether the gmail email rule is on.
    gmail: bool,
    /// Region for phone numbers written without a country code.
    default_region: Option<DefaultRegion>,
}

/// The phone region assumed for numbers without a country code.
///
/// Its metadata is looked up on the first phone number rather than when the normalizer is
/// built, because loading phonenumber's metadata takes tens of milliseconds that an ingest
/// without phone numbers should not pay.
#[derive(Clone, Debug)]
struct DefaultRegion {
    id: country::Id,
    /// The code as configured, for error messages.
    name: String,
    /// The region's international call prefix (such as `011` in the US or `00` in most of
    /// Europe), anchored at the start of the digits; or why it could not be looked up.
    international_prefix: OnceLock<Result<Option<Regex>, String>>,
}

/// The result of normalizing one raw identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Normalized {
    /// The normalized identifier.
    Value(String),
    /// An empty value or a placeholder such as `unknown`, which never becomes an identifier.
    Placeholder,
    /// A value that is not valid for its kind, with a message naming the value and the reason.
    Invalid(String),
}

impl Normalizer {
    /// Builds a normalizer from the normalization settings.
    ///
    /// Email rule names and the region are matched without regard to case. The region's phone
    /// metadata is looked up on the first phone number. In phonenumber 0.3.10 every region code
    /// it parses has metadata. Should a later version lack one, each phone number read with
    /// that region is invalid, with a message naming the setting.
    ///
    /// # Errors
    ///
    /// Returns a message naming the setting and its value when `email_rules` lists an unknown
    /// rule or `default_region` is not a region that phonenumber has metadata for.
    pub fn new(config: &NormalizeConfig) -> Result<Normalizer, String> {
        let mut gmail = false;
        for rule in &config.email_rules {
            match rule.trim().to_ascii_lowercase().as_str() {
                "gmail" => gmail = true,
                _ => {
                    return Err(format!(
                        "unknown email rule {rule:?} in email_rules (known: {})",
                        EMAIL_RULES.join(", ")
                    ));
                }
            }
        }

        let default_region = match &config.default_region {
            Some(name) => Some(DefaultRegion::new(name)?),
            None => None,
        };

        // A configured `(blank)` also matches `blank`, as the built-in `unknown` matches
        // `<unknown>`.
        let mut placeholders: FxHashSet<String> = PLACEHOLDERS
            .iter()
            .map(|placeholder| (*placeholder).to_owned())
            .collect();
        for placeholder in &config.placeholders {
            let folded = fold(placeholder);
            placeholders.insert(strip_punctuation(&folded).to_owned());
            placeholders.insert(folded);
        }

        Ok(Normalizer {
            placeholders,
            gmail,
            default_region,
        })
    }

    /// Normalizes `raw` as an identifier of `kind`.
    ///
    /// Returns [`Normalized::Placeholder`] for empty values and placeholders, and
    /// [`Normalized::Invalid`] for values that are not valid for the kind (only email, phone and
    /// national_id have a notion of validity).
    pub fn identifier(&self, kind: &IdentifierKind, raw: &str) -> Normalized {
        match kind.as_str() {
            IdentifierKind::EMAIL => self.email(raw),
            IdentifierKind::PHONE => self.phone(raw),
            IdentifierKind::NATIONAL_ID => self.national_id(raw),
            _ => self.generic_id(raw),
        }
    }

    /// Normalizes an attribute value: trimmed, in NFC, with inner whitespace runs collapsed to
    /// one space. Case is kept because attributes are shown to people.
    ///
    /// Returns `None` for an empty value or a placeholder (see [`Normalizer::is_placeholder`]).
    pub fn attribute(&self, raw: &str) -> Option<String> {
        let value = collapse_whitespace(&nfc(raw.trim()));
        // Attributes keep short values such as `0`, `NA` (a surname) or `-`, which the
        // identifier placeholder list drops: only explicit markers of a missing value go.
        let folded = fold(&value);
        let is_missing = |text: &str| {
            let configured = self.placeholders.contains(text) && !PLACEHOLDERS.contains(&text);
            configured || MISSING_ATTRIBUTE_VALUES.contains(&text)
        };
        if value.is_empty() || is_missing(&folded) || is_missing(strip_punctuation(&folded)) {
            return None;
        }
        Some(value)
    }

    /// Returns whether `text` is empty or a placeholder. After NFKC, case folding and
    /// whitespace collapsing, a placeholder is one of the built-in values (`unknown`, `n/a`,
    /// `null`, `none`, `john doe` and the others listed in docs/normalization.md) or a configured
    /// one, either as is or stripped of surrounding punctuation (`<unknown>`, `(none)`). A value
    /// without any letter or digit is a placeholder too.
    ///
    /// The per-kind rules, such as all-zero phone numbers, are not checked here.
    pub fn is_placeholder(&self, text: &str) -> bool {
        self.is_folded_placeholder(&fold(text))
    }

    /// Checks a value that [`fold`] already produced against the placeholder set.
    fn is_folded_placeholder(&self, folded: &str) -> bool {
        self.placeholders.contains(folded) || self.placeholders.contains(strip_punctuation(folded))
    }

    /// Applies the email rule: NFKC, lowercase, shape checks, placeholders, then the gmail rule.
    fn email(&self, raw: &str) -> Normalized {
        let address = lowercase(&nfkc(raw.trim()));
        // A `mailto:` link, as copied from a web page, names the same address.
        let address = match address.strip_prefix("mailto:") {
            Some(rest) => rest.trim().to_owned(),
            None => address,
        };
        if self.is_placeholder(&address) {
            return Normalized::Placeholder;
        }
        let invalid = |reason: &str| {
            Normalized::Invalid(format!("{raw:?} is not an email address: {reason}"))
        };

        let Some((local, domain)) = address.split_once('@') else {
            return invalid("it has no @");
        };
        if domain.contains('@') {
            return invalid("it has more than one @");
        }
        if local.is_empty() {
            return invalid("the local part before @ is empty");
        }
        // `none@anything` is a placeholder even when the domain is malformed.
        if self.is_email_placeholder_local(local) {
            return Normalized::Placeholder;
        }
        if address.chars().any(char::is_whitespace) {
            return invalid("it contains whitespace");
        }
        if !domain.contains('.') {
            return invalid(&format!("the domain {domain:?} has no dot"));
        }
        if domain.split('.').any(str::is_empty) {
            return invalid(&format!("the domain {domain:?} has an empty label"));
        }

        if !(self.gmail && GMAIL_DOMAINS.contains(&domain)) {
            return Normalized::Value(address);
        }
        // Gmail ignores dots in the local part and delivers `name+tag` to `name`.
        let untagged = local.split('+').next().unwrap_or_default();
        let mailbox: String = untagged.chars().filter(|&c| c != '.').collect();
        if mailbox.is_empty() {
            return invalid("the local part is empty once the gmail rule removes dots and +tag");
        }
        if self.is_email_placeholder_local(&mailbox) {
            return Normalized::Placeholder;
        }
        Normalized::Value(format!("{mailbox}@gmail.com"))
    }

    fn is_email_placeholder_local(&self, local: &str) -> bool {
        EMAIL_PLACEHOLDER_LOCAL_PARTS.contains(&local) || self.is_placeholder(local)
    }

    /// Applies the phone rule: placeholder digit patterns, then parsing into E.164 and the
    /// validity check of phonenumber's metadata.
    fn phone(&self, raw: &str) -> Normalized {
        let text = nfkc(raw.trim());
        if self.is_placeholder(&text) {
            return Normalized::Placeholder;
        }

        // Few digits make a placeholder only when there are no letters, because vanity numbers
        // (1-800-FLOWERS) spell digits with letters and need the parser.
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let has_letters = text.chars().any(char::is_alphabetic);
        if (digits.len() < MIN_PHONE_DIGITS && !has_letters) || is_dummy_digits(&digits) {
            return Normalized::Placeholder;
        }

        // A full cache recompiles patterns on nearly every call once numbers come from more
        // than a few countries.
        static WIDEN_CACHE: Once = Once::new();
        WIDEN_CACHE.call_once(widen_phone_pattern_cache);
        let (number, region) = match self.parse_phone(&text, &digits) {
            Ok(parsed) => parsed,
            Err(reason) => {
                return Normalized::Invalid(format!("{raw:?} is not a phone number: {reason}"));
            }
        };
        let e164 = number.format().mode(Mode::E164).to_string();
        let code = number.code().value();

        // The country code can hide a dummy national number, as in +1 (123) 456-7890.
        let national = e164.trim_start_matches('+').strip_prefix(&code.to_string());
        if national.is_some_and(is_dummy_digits) {
            return Normalized::Placeholder;
        }

        if !number.is_valid() {
            let reading = match region {
                Some(region) => format!("read with default_region {region:?} as {e164}"),
                None => format!("read as {e164}"),
            };
            return Normalized::Invalid(format!(
                "{raw:?} is not a phone number: {reading}, which is not in any number \
                 range of country code +{code}"
            ));
        }
        Normalized::Value(e164)
    }

    /// Parses a phone number, returning it with the default region if that region was
    /// assumed, or a reason for the error message.
    fn parse_phone(
        &self,
        text: &str,
        digits: &str,
    ) -> Result<(PhoneNumber, Option<country::Id>), String> {
        // phonenumber 0.3.10 strips the national prefix of the region it is given even from a
        // number of another country: "+33 1 42 68 53 00" read with region US becomes
        // +3342685300. A number with its own country code is therefore parsed without one.
        let has_plus = text.chars().find(|&c| c == '+' || c.is_ascii_digit()) == Some('+');
        if has_plus {
            return parse_phone_with(None, text).map(|number| (number, None));
        }

        let Some(region) = &self.default_region else {
            return Err(
                "it has no country code (such as +1) and default_region is not set".to_owned(),
            );
        };
        let prefix = region.international_prefix()?;
        if let Some(international) =
            prefix.and_then(|prefix| region.replace_international_prefix(prefix, text, digits))
        {
            return parse_phone_with(None, &international).map(|number| (number, None));
        }
        parse_phone_with(Some(region.id), text).map(|number| (number, Some(region.id)))
    }

    /// Applies the national_id rule: separators removed, letters uppercased, placeholders for
    /// short or one-character values, invalid when anything but letters and digits remains.
    fn national_id(&self, raw: &str) -> Normalized {
        let text = nfkc(raw.trim());
        if self.is_placeholder(&text) {
            return Normalized::Placeholder;
        }

        let value: String = text
            .chars()
            .filter(|&c| !is_national_id_separator(c))
            .flat_map(char::to_uppercase)
            .collect();
        // NOTE: a partly masked id such as XXX-XX-1234 is a value, so records that share only
        // the last four digits link.
        if value.chars().count() < MIN_NATIONAL_ID_CHARS || is_one_repeated_char(&value) {
            return Normalized::Placeholder;
        }
        if let Some(other) = value.chars().find(|c| !c.is_alphanumeric()) {
            return Normalized::Invalid(format!(
                "{raw:?} is not a national id: it contains {other:?}, but only letters, digits \
                 and the separators space, - . / are allowed"
            ));
        }
        Normalized::Value(value)
    }

    /// Applies the generic rule of every other kind: [`fold`], then the placeholder checks.
    fn generic_id(&self, raw: &str) -> Normalized {
        let value = fold(raw);
        if self.is_folded_placeholder(&value) || is_one_repeated_char(&value) {
            return Normalized::Placeholder;
        }
        // TODO: ip values are not parsed, so `::1` and `0:0:0:0:0:0:0:1` stay two identifiers.
        Normalized::Value(value)
    }
}

impl DefaultRegion {
    /// Checks that `name` is a region code, such as `US` or `GB`.
    fn new(name: &str) -> Result<DefaultRegion, String> {
        let code = name.trim().to_ascii_uppercase();
        let id: country::Id = code.parse().map_err(|_| invalid_region(name))?;
        Ok(DefaultRegion {
            id,
            name: name.to_owned(),
            international_prefix: OnceLock::new(),
        })
    }

    /// Returns the region's international call prefix pattern, looking up the metadata on the
    /// first call, or a message naming the setting when phonenumber has no metadata for it.
    fn international_prefix(&self) -> Result<Option<&Regex>, String> {
        let looked_up = self.international_prefix.get_or_init(|| {
            // phonenumber 0.3.10 panics when a region given to `parse` has no metadata.
            let metadata = DATABASE
                .by_id(self.id.as_ref())
                .ok_or_else(|| invalid_region(&self.name))?;
            let Some(pattern) = metadata.international_prefix() else {
                return Ok(None);
            };
            let anchored = format!("^(?:{})", pattern.as_str());
            Regex::new(&anchored).map(Some).map_err(|error| {
                format!(
                    "invalid international prefix pattern in the metadata of {:?}: {error}",
                    self.name
                )
            })
        });
        looked_up.as_ref().map(Option::as_ref).map_err(Clone::clone)
    }

    /// Rewrites a number that starts with the region's international call prefix, such as
    /// `011 44 20 7946 0958` from the US, to the `+44 20 7946 0958` form.
    ///
    /// Returns `None` when the number does not start with the prefix or when a 0 follows it,
    /// because no country code starts with 0.
    fn replace_international_prefix(
        &self,
        prefix: &Regex,
        text: &str,
        digits: &str,
    ) -> Option<String> {
        let prefix_len = prefix.find(digits)?.end();
        let rest = &digits[prefix_len..];
        if prefix_len == 0 || rest.is_empty() || rest.starts_with('0') {
            return None;
        }
        // Cut the text just after the prefix's last digit, keeping any letters and extension.
        let (index, last) = text
            .char_indices()
            .filter(|(_, c)| c.is_ascii_digit())
            .nth(prefix_len - 1)?;
        Some(format!("+{}", &text[index + last.len_utf8()..]))
    }
}

/// Returns the error message for a `default_region` that phonenumber has no metadata for.
fn invalid_region(name: &str) -> String {
    format!(
        "invalid default_region {name:?}: expected a region code that phonenumber has metadata \
         for, an ISO 3166-1 alpha-2 code such as \"US\" or \"GB\""
    )
}

/// Parses a phone number with phonenumber, describing a parse error in words.
fn parse_phone_with(region: Option<country::Id>, text: &str) -> Result<PhoneNumber, String> {
    phonenumber::parse(region, text).map_err(|error| match error {
        ParseError::NoNumber => "it contains no phone number".to_owned(),
        ParseError::InvalidCountryCode => "its country code is unknown".to_owned(),
        ParseError::TooShortAfterIdd => {
            "it is too short after the international call prefix".to_owned()
        }
        ParseError::TooShortNsn => "it is too short after the country code".to_owned(),
        ParseError::TooLong => "it is too long".to_owned(),
        ParseError::MalformedInteger(error) => format!("its digits cannot be read ({error})"),
    })
}

/// Raises the capacity of phonenumber's shared pattern cache to
/// [`PHONE_PATTERN_CACHE_CAPACITY`]. The cache only grows, so calling this again is harmless.
fn widen_phone_pattern_cache() {
    let cache = DATABASE.cache();
    let mut cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if cache.capacity() < PHONE_PATTERN_CACHE_CAPACITY {
        cache.set_capacity(PHONE_PATTERN_CACHE_CAPACITY);
    }
}

/// Returns whether `digits` is a dummy phone number: one digit repeated (`1111111`) or a run of
/// consecutive digits (`1234567890`, `0123456789`, `9876543210`), at least
/// [`MIN_PHONE_DIGITS`] long.
fn is_dummy_digits(digits: &str) -> bool {
    digits.len() >= MIN_PHONE_DIGITS
        && (is_one_repeated_char(digits)
            || "01234567890".contains(digits)
            || "9876543210".contains(digits))
}

/// Returns whether the letters and digits of `value` are one character repeated at least
/// twice, ignoring separators: `00000`, `xxxx`, `0.0.0.0`,
/// `00000000-0000-0000-0000-000000000000`.
fn is_one_repeated_char(value: &str) -> bool {
    let mut alphanumerics = value.chars().filter(|c| c.is_alphanumeric());
    let Some(first) = alphanumerics.next() else {
        return false;
    };
    let mut count = 1;
    for c in alphanumerics {
        if c != first {
            return false;
        }
        count += 1;
    }
    count >= 2
}

/// Returns whether `c` separates the groups of a national id: whitespace, `-`, `.`, `/`, and the
/// Unicode hyphens and dashes (U+2010 to U+2015, U+2212) that NFKC leaves alone.
fn is_national_id_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '.' | '/' | '\u{2010}'..='\u{2015}' | '\u{2212}')
}

/// Folds a value for comparison: trimmed, NFKC, default case folding, NFKC again and whitespace
/// runs collapsed to one space. The second NFKC is needed because folding can produce
/// decomposed text, such as `ǰ` folded to `j` and a combining caron.
fn fold(text: &str) -> String {
    let text = nfkc(text.trim());
    let folded = if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        nfkc(&caseless::default_case_fold_str(&text)).into_owned()
    };
    collapse_whitespace(&folded)
}

/// Lowercases `text`, with a fast path for ASCII.
fn lowercase(text: &str) -> String {
    if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        text.to_lowercase()
    }
}

/// Returns `text` in NFKC, borrowing it when the quick check proves it already is.
fn nfkc(text: &str) -> Cow<'_, str> {
    if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfkc().collect())
    }
}

/// Returns `text` in NFC, borrowing it when the quick check proves it already is.
fn nfc(text: &str) -> Cow<'_, str> {
    if is_nfc_quick(text.chars()) == IsNormalized::Yes {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfc().collect())
    }
}

/// Trims `text` and replaces each inner run of Unicode whitespace with one space.
fn collapse_whitespace(text: &str) -> String {
    let mut collapsed = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    collapsed
}

/// Strips leading and trailing characters that are neither letters nor digits.
fn strip_punctuation(text: &str) -> &str {
    text.trim_matches(|c: char| !c.is_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalizer() -> Normalizer {
        Normalizer::new(&NormalizeConfig::default()).unwrap()
    }

    fn normalizer_with(region: Option<&str>, rules: &[&str], placeholders: &[&str]) -> Normalizer {
        let config = NormalizeConfig {
            default_region: region.map(str::to_owned),
            email_rules: rules.iter().map(|rule| (*rule).to_owned()).collect(),
            placeholders: placeholders.iter().map(|text| (*text).to_owned()).collect(),
        };
        Normalizer::new(&config).unwrap()
    }

    fn kind(name: &str) -> IdentifierKind {
        IdentifierKind::new(name).unwrap()
    }

    /// Checks that each raw value of `kind` normalizes to its expected value.
    fn assert_values(normalizer: &Normalizer, kind_name: &str, cases: &[(&str, &str)]) {
        for (raw, expected) in cases {
            assert_eq!(
                normalizer.identifier(&kind(kind_name), raw),
                Normalized::Value((*expected).to_owned()),
                "{kind_name} {raw:?}"
            );
        }
    }

    fn assert_placeholders(normalizer: &Normalizer, kind_name: &str, raws: &[&str]) {
        for raw in raws {
            assert_eq!(
                normalizer.identifier(&kind(kind_name), raw),
                Normalized::Placeholder,
                "{kind_name} {raw:?}"
            );
        }
    }

    /// Checks that each raw value is invalid, with a message naming the value and containing
    /// the expected reason.
    fn assert_invalid(normalizer: &Normalizer, kind_name: &str, cases: &[(&str, &str)]) {
        for (raw, reason) in cases {
            let result = normalizer.identifier(&kind(kind_name), raw);
            let Normalized::Invalid(message) = result else {
                panic!("{kind_name} {raw:?} is {result:?}, expected Invalid");
            };
            assert!(
                message.contains(&format!("{raw:?}")),
                "{kind_name} {raw:?}: {message}"
            );
            assert!(message.contains(reason), "{kind_name} {raw:?}: {message}");
        }
    }

    #[test]
    fn new_rejects_unknown_email_rule() {
        let config = NormalizeConfig {
            email_rules: vec!["hotmail".to_owned()],
            ..NormalizeConfig::default()
        };
        let error = Normalizer::new(&config).unwrap_err();
        assert!(error.contains("\"hotmail\""), "{error}");
        assert!(error.contains("email_rules"), "{error}");
        assert!(error.contains("known: gmail"), "{error}");
    }

    #[test]
    fn new_rejects_unknown_region() {
        for region in ["XX", "USA", "", "001"] {
            let config = NormalizeConfig {
                default_region: Some(region.to_owned()),
                ..NormalizeConfig::default()
            };
            let error = Normalizer::new(&config).unwrap_err();
            assert!(
                error.contains(&format!("default_region {region:?}")),
                "{error}"
            );
        }
    }

    #[test]
    fn new_accepts_lowercase_settings() {
        let normalizer = normalizer_with(Some(" gb "), &["Gmail"], &[]);
        assert_values(&normalizer, "phone", &[("020 7946 0958", "+442079460958")]);
        assert_values(&normalizer, "email", &[("a.b@gmail.com", "ab@gmail.com")]);
    }

    #[test]
    fn email_accepted() {
        assert_values(
            &normalizer(),
            "email",
            &[
                ("Ann.Lee@Example.com", "ann.lee@example.com"),
                ("  bob@x.com \t", "bob@x.com"),
                ("mailto:Ann.Lee@Example.com", "ann.lee@example.com"),
                ("ann.lee+news@example.com", "ann.lee+news@example.com"),
                ("ann@mail.example.co.uk", "ann@mail.example.co.uk"),
                // Fullwidth letters, @ and dot become ASCII under NFKC.
                ("ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ", "john@example.com"),
                // A combining acute accent composes with its base letter.
                ("jose\u{301}@x.com", "jos\u{e9}@x.com"),
                // Emails are lowercased, not case-folded, so ß stays.
                ("STRAßE@x.com", "straße@x.com"),
            ],
        );
    }

    #[test]
    fn email_gmail_rule_on() {
        assert_values(
            &normalizer_with(None, &["gmail"], &[]),
            "email",
            &[
                ("John.Smith+news@GoogleMail.com", "johnsmith@gmail.com"),
                ("j.o.h.n@gmail.com", "john@gmail.com"),
                ("john+a+b@gmail.com", "john@gmail.com"),
                ("john.smith+news@example.com", "john.smith+news@example.com"),
                ("john.smith@gmail.co.uk", "john.smith@gmail.co.uk"),
            ],
        );
    }

    #[test]
    fn email_gmail_rule_off() {
        assert_values(
            &normalizer_with(None, &[], &[]),
            "email",
            &[
                (
                    "John.Smith+news@GoogleMail.com",
                    "john.smith+news@googlemail.com",
                ),
                ("j.o.h.n@gmail.com", "j.o.h.n@gmail.com"),
            ],
        );
    }

    #[test]
    fn email_placeholders() {
        assert_placeholders(
            &normalizer_with(None, &["gmail"], &["Redacted"]),
            "email",
            &[
                "",
                "   ",
                "unknown",
                "n/a",
                "null",
                "none",
                "?",
                "John Doe",
                "<none>",
                "none@none.example",
                "noemail@shop.com",
                "NoEmail@shop.com",
                "no-email@shop.com",
                "unknown@x.com",
                "na@na.com",
                "test@test.com",
                "x@x.x",
                "noreply@shop.com",
                "none@nowhere",
                "no.email@gmail.com",
                "n.o.e.m.a.i.l+tag@gmail.com",
                "redacted@x.com",
            ],
        );
    }

    #[test]
    fn email_invalid() {
        assert_invalid(
            &normalizer(),
            "email",
            &[
                ("ann.example.com", "it has no @"),
                ("ann@lee@example.com", "more than one @"),
                ("@example.com", "local part before @ is empty"),
                ("ann@localhost", "has no dot"),
                ("ann@example..com", "empty label"),
                ("ann@.example.com", "empty label"),
                ("ann lee@example.com", "whitespace"),
                ("+news@gmail.com", "gmail rule"),
            ],
        );
    }

    #[test]
    fn phone_default_region_us() {
        assert_values(
            &normalizer(),
            "phone",
            &[
                ("(415) 555-0100", "+14155550100"),
                ("415.555.0100", "+14155550100"),
                ("415 555 0100", "+14155550100"),
                ("1 415 555 0100", "+14155550100"),
                ("+1 415 555 0100", "+14155550100"),
                ("tel:+1-415-555-0100", "+14155550100"),
                ("+1 415 555 0100 ext. 12", "+14155550100"),
                ("1-800-FLOWERS", "+18003569377"),
                // Fullwidth digits and plus become ASCII under NFKC.
                ("＋１ (４１５) ５５５-０１００", "+14155550100"),
                ("+44 20 7946 0958", "+442079460958"),
                // Read with region US, phonenumber would strip the 1 as a national prefix.
                ("+33 1 42 68 53 00", "+33142685300"),
                ("+800 8123 4567", "+80081234567"),
                ("011 44 20 7946 0958", "+442079460958"),
                ("011 33 1 42 68 53 00", "+33142685300"),
            ],
        );
    }

    #[test]
    fn phone_default_region_gb() {
        assert_values(
            &normalizer_with(Some("GB"), &[], &[]),
            "phone",
            &[
                ("020 7946 0958", "+442079460958"),
                ("+44 (0)20 7946 0958", "+442079460958"),
                ("+1 415 555 0100", "+14155550100"),
                // Italian numbers keep their leading 0, which region GB would strip.
                ("+39 06 6982 0000", "+390669820000"),
                ("00 39 06 6982 0000", "+390669820000"),
                ("00 1 415 555 0100", "+14155550100"),
            ],
        );
    }

    #[test]
    fn phone_without_default_region() {
        let normalizer = normalizer_with(None, &[], &[]);
        assert_values(
            &normalizer,
            "phone",
            &[
                ("+1 415 555 0100", "+14155550100"),
                ("+44 20 7946 0958", "+442079460958"),
            ],
        );
        assert_invalid(
            &normalizer,
            "phone",
            &[
                ("(415) 555-0100", "default_region is not set"),
                ("011 44 20 7946 0958", "default_region is not set"),
            ],
        );
    }

    #[test]
    fn phone_placeholders() {
        assert_placeholders(
            &normalizer(),
            "phone",
            &[
                "",
                "unknown",
                "n/a",
                "none",
                "?",
                "+1",
                "1234",
                "0000000000",
                "000-000-0000",
                "(000) 000-0000",
                "1111111",
                "+1 111 111 1111",
                "1234567890",
                "0123456789",
                "9876543210",
                "12345",
                // The country code hides the dummy national number.
                "+1 (123) 456-7890",
                "+44 1111 111111",
            ],
        );
    }

    #[test]
    fn phone_invalid() {
        assert_invalid(
            &normalizer(),
            "phone",
            &[
                ("12ab", "contains no phone number"),
                ("+999 123 456 789", "country code is unknown"),
                ("555-0100", "not in any number range of country code +1"),
                ("555-0100", "read with default_region US as +15550100"),
                ("020 7946 0958", "read with default_region US"),
                ("+1 415 555 010", "not in any number range"),
                // Ofcom's drama range for mobiles is not valid in phonenumber's metadata.
                (
                    "+44 7700 900123",
                    "not in any number range of country code +44",
                ),
            ],
        );
    }

    #[test]
    fn national_id_accepted() {
        assert_values(
            &normalizer(),
            "national_id",
            &[
                ("123-45-6789", "123456789"),
                (" 123 45 6789 ", "123456789"),
                ("123.45.6789", "123456789"),
                ("ab 12.34/56 c", "AB123456C"),
                ("１２３－４５－６７８９", "123456789"),
                ("123\u{2013}45\u{2013}6789", "123456789"),
                ("11010519491231002x", "11010519491231002X"),
            ],
        );
    }

    #[test]
    fn national_id_placeholders() {
        assert_placeholders(
            &normalizer(),
            "national_id",
            &[
                "",
                "unknown",
                "none",
                "?",
                "n/a",
                "N.A.",
                "000000000",
                "000-00-0000",
                "999-99-9999",
                "XXX-XX-XXXX",
                "12",
                "A-1",
            ],
        );
    }

    #[test]
    fn national_id_invalid() {
        assert_invalid(
            &normalizer(),
            "national_id",
            &[("123#456", "contains '#'"), ("***-**-6789", "contains '*'")],
        );
    }

    #[test]
    fn generic_kinds_accepted() {
        let normalizer = normalizer();
        assert_values(
            &normalizer,
            "customer_id",
            &[
                ("  CUST-001 ", "cust-001"),
                ("A  \t B", "a b"),
                ("ＡＢＣ１２３", "abc123"),
                ("Straße 7", "strasse 7"),
                ("STRASSE 7", "strasse 7"),
                ("Jose\u{301}", "jos\u{e9}"),
                ("Jos\u{c9}", "jos\u{e9}"),
            ],
        );
        assert_values(&normalizer, "device_id", &[("AB12-CD34", "ab12-cd34")]);
        assert_values(&normalizer, "cookie", &[("c-1", "c-1")]);
        assert_values(&normalizer, "ip", &[("192.168.0.1", "192.168.0.1")]);
        assert_values(
            &normalizer,
            "loyalty_card",
            &[("LC 0042", "lc 0042"), ("7", "7")],
        );
    }

    #[test]
    fn generic_kinds_placeholders() {
        let normalizer = normalizer_with(None, &[], &["REDACTED", "(blank)"]);
        for kind_name in ["customer_id", "device_id", "cookie", "ip", "loyalty_card"] {
            assert_placeholders(
                &normalizer,
                kind_name,
                &[
                    "",
                    "unknown",
                    "UNKNOWN",
                    "<unknown>",
                    "(none)",
                    "n/a",
                    "N/A",
                    "null",
                    "nil",
                    "none",
                    "?",
                    "-",
                    "--",
                    "0",
                    "undefined",
                    "Not  Available",
                    "not provided",
                    "John Doe",
                    "jane doe",
                    "test",
                    "no email",
                    "noemail",
                    "***",
                    "00000",
                    "xxxx",
                    "0.0.0.0",
                    "00000000-0000-0000-0000-000000000000",
                    "redacted",
                    "[Redacted]",
                    "blank",
                    "(BLANK)",
                ],
            );
        }
    }

    #[test]
    fn attribute_normalized() {
        let normalizer = normalizer();
        let cases = [
            ("  Ann   Lee ", "Ann Lee"),
            ("Ann\u{a0}Lee", "Ann Lee"),
            ("Jose\u{301}", "Jos\u{e9}"),
            // NFC keeps compatibility characters such as fullwidth letters.
            ("ＡＢＣ", "ＡＢＣ"),
            ("Straße", "Straße"),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                normalizer.attribute(raw),
                Some(expected.to_owned()),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn attribute_placeholders() {
        let normalizer = normalizer_with(None, &[], &["redacted"]);
        for raw in [
            "", "  ", "unknown", "N/A", "(none)", "John Doe", "?", "REDACTED",
        ] {
            assert_eq!(normalizer.attribute(raw), None, "{raw:?}");
        }
        for raw in ["0", "NA", "-", "test"] {
            assert_eq!(
                normalizer.attribute(raw).as_deref(),
                Some(raw),
                "{raw:?} is a real value"
            );
        }
    }

    #[test]
    fn is_placeholder_cases() {
        let normalizer = normalizer_with(None, &[], &["Redacted"]);
        for text in PLACEHOLDERS {
            assert!(normalizer.is_placeholder(text), "{text:?}");
            assert!(
                normalizer.is_placeholder(&text.to_uppercase()),
                "{text:?} uppercased"
            );
        }
        for text in [
            " NULL ",
            "<unknown>",
            "(none)",
            "[n/a]",
            "«none»",
            "ＮＯＮＥ",
            "redacted",
        ] {
            assert!(normalizer.is_placeholder(text), "{text:?}");
        }
        for text in ["Ann", "no", "00", "0.5", "unknown person", "john"] {
            assert!(!normalizer.is_placeholder(text), "{text:?}");
        }
    }

    #[test]
    fn dummy_digits() {
        for digits in [
            "00000",
            "1111111",
            "1234567890",
            "0123456789",
            "23456",
            "9876543210",
        ] {
            assert!(is_dummy_digits(digits), "{digits}");
        }
        for digits in [
            "1234",
            "12345678901",
            "4155550100",
            "2345678901",
            "1357913579",
        ] {
            assert!(!is_dummy_digits(digits), "{digits}");
        }
    }
}
