//! The query language parser: [`parse_script`] and [`parse_statement`] turn text into
//! [`Statement`]s or a [`ParseError`] that points at the offending token.
//!
//! # Grammar
//!
//! The grammar, in ISO EBNF, as in `grammar/idgraph.ebnf` without its comments. A gap (white
//! space and comments) may stand before any token; the syntactic rules leave it out.
//!
//! ```ebnf
//! script = [ statement , { separator , statement } , [ ";" ] ] ;
//! separator = ";" | line break ;
//! statement = find | entity | path | explain | conflicts | stats
//!           | entities | why | bridges | hubs | audit | link | unlink | split ;
//! find = "find" , node ;
//! entity = "entity" , entity ref ;
//! path = "path" , node , "to" , node ;
//! explain = "explain" , record node , "and" , record node ;
//! conflicts = "conflicts" , [ "kind" , kind name ] , [ "limit" , limit ] ;
//! stats = "stats" ;
//! entities = "entities" , [ "tier" , tier ] , [ "conflict" , kind name ] ,
//!            [ "size" , "at" , "least" , record count ] , [ "by" , order ] ,
//!            [ "limit" , limit ] ;
//! why = "why" , "entity" , entity ref ;
//! bridges = "bridges" , [ "limit" , limit ] ;
//! hubs = "hubs" , [ "kind" , kind name ] , [ "limit" , limit ] ;
//! audit = "audit" , [ "entity" , entity id ] , [ "limit" , limit ] ;
//! link = "link" , record node , "and" , record node , "because" , reason ;
//! unlink = "unlink" , record node , "and" , record node , "because" , reason ;
//! split = "split" , "entity" , entity ref , [ "apply" , "because" , reason ] ;
//!
//! node = record node | identifier node ;
//! record node = "record" , source , key ;
//! source = value ;
//! key = value ;
//! identifier node = kind name - "record" , value ;
//! entity ref = entity id | "of" , node ;
//! entity id = number ;
//! limit = number ;
//! record count = number ;
//! tier = "high" | "medium" | "low" ;
//! order = "score" | "size" ;
//! reason = value ;
//!
//! kind name = name character , { name character } ;
//! name character = ascii letter | digit | "_" ;
//! value = quoted string | bare word ;
//! quoted string = '"' , { double quoted character | escape } , '"'
//!               | "'" , { single quoted character | escape } , "'" ;
//! double quoted character = ? any character except '"', "\" and line feed ? ;
//! single quoted character = ? any character except "'", "\" and line feed ? ;
//! escape = "\" , ( "\" | "'" | '"' | "n" | "t" ) ;
//! bare word = word character - "-" , { word character } ;
//! word character = alphanumeric | "_" | "." | "@" | "+" | "-" | ":" | "/" ;
//! number = digit , { digit } ;
//! alphanumeric = ? any character with the Unicode Alphabetic property
//!                 or in the general categories Nd, Nl or No ? ;
//! ascii letter = "a" | "b" | "c" | "d" | "e" | "f" | "g" | "h" | "i" | "j" | "k" | "l" | "m"
//!              | "n" | "o" | "p" | "q" | "r" | "s" | "t" | "u" | "v" | "w" | "x" | "y" | "z"
//!              | "A" | "B" | "C" | "D" | "E" | "F" | "G" | "H" | "I" | "J" | "K" | "L" | "M"
//!              | "N" | "O" | "P" | "Q" | "R" | "S" | "T" | "U" | "V" | "W" | "X" | "Y" | "Z" ;
//! digit = "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" ;
//!
//! gap = { white space | comment } ;
//! white space = ? Unicode White_Space character ? ;
//! comment = "--" , { ? any character except line feed ? } ;
//! ```
//!
//! # What the grammar does not say
//!
//! - Keywords match without regard to ASCII case. They are not reserved: where a kind name
//!   or value is expected, a keyword is read as one. The exception is `record` at the start
//!   of a node, which always opens a record node, so no identifier kind named `record` can
//!   be queried.
//! - Keywords, kind names, numbers and bare words are read as the longest run of word
//!   characters. `findx` is one token and no keyword, `42abc` is no number, and `a--b` is
//!   one bare word with no comment in it.
//! - An entity id is at most 4294967295 (`u32::MAX`), and a limit and a record count at
//!   most `usize::MAX`. A larger number is a parse error that shows the number.
//! - A reason that is empty or only white space is a parse error: `link`, `unlink` and
//!   `split ... apply` keep the reason in the audit log, so each needs one.
//! - A kind name is at most [`MAX_KIND_NAME_LEN`] characters, the limit that
//!   [`IdentifierKind::new`](crate::model::IdentifierKind::new) enforces, and it is
//!   lowercased.
//! - A quoted string cannot span lines: a raw line feed before the closing quote makes it
//!   unterminated, and the error points at the opening quote.
//! - Values are taken as written. Identifier values are normalized for their kind when the
//!   statement runs, not here.
//! - An error points at the token where parsing failed, after the longest prefix that the
//!   grammar accepts. `found` shows that token, cut to [`MAX_FOUND_CHARS`] characters.
//! - The grammar has no recursion, so the parser's stack depth does not depend on the
//!   input. The tests parse a 1 MB script and a 100,000-character bare word.
//!
//! # Implementation
//!
//! The parsers are nom 8 combinators over `&str`. A `Failure` records the remaining input
//! where it happened, so its byte offset is the length difference with the whole input.
//! `token` skips the gap before a token and names what was expected there. Once a
//! statement's keyword has matched, the rest of the statement is under `cut`, so a failure
//! inside it is reported where it happened instead of as an unknown statement.

use std::borrow::Cow;
use std::str::FromStr;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, satisfy};
use nom::combinator::{cut, eof, opt, recognize, verify};
use nom::error::ErrorKind;
use nom::multi::many0_count;
use nom::sequence::preceded;
use nom::{Err as NomErr, IResult, Parser};

use super::ast::{EntityOrder, EntityRef, NodeRef, Statement};
use crate::model::Tier;

/// Maximum length of a kind name, in characters (which are all ASCII).
pub const MAX_KIND_NAME_LEN: usize = 64;

/// Maximum number of characters of the offending token that [`ParseError::found`] keeps.
pub const MAX_FOUND_CHARS: usize = 40;

/// [`ParseError::found`] when the input ended where a token was expected.
const END_OF_INPUT: &str = "end of input";

const EXPECTED_STATEMENT: &str = "a statement: `find`, `entity`, `path`, `explain`, `conflicts`, \
     `stats`, `entities`, `why`, `bridges`, `hubs`, `audit`, `link`, `unlink` or `split`";
const EXPECTED_STATEMENT_END: &str = "`;` or end of input";
const EXPECTED_END: &str = "end of input";
const EXPECTED_NODE: &str = "a node: `record SOURCE KEY` or `KIND VALUE`";
const EXPECTED_SOURCE: &str = "a source name: a quoted string or a bare word";
const EXPECTED_KEY: &str = "a record key: a quoted string or a bare word";
const EXPECTED_ENTITY: &str = "an entity id or `of NODE`";
const EXPECTED_TO: &str = "`to`";
const EXPECTED_AND: &str = "`and`";
const EXPECTED_RECORD: &str = "a record: `record SOURCE KEY`";
const EXPECTED_KIND_NAME: &str = "a kind name: ASCII letters, digits and `_`";
const EXPECTED_LIMIT: &str = "a limit: a whole number";
const EXPECTED_ENTITY_KEYWORD: &str = "`entity`";
const EXPECTED_ENTITY_ID: &str = "an entity id: a whole number";
const EXPECTED_BECAUSE: &str = "`because` and a reason";
const EXPECTED_REASON: &str = "a reason: a quoted string or a bare word";
const EXPECTED_NON_EMPTY_REASON: &str =
    "a reason that is not empty or only white space, such as \"same passport number\"";
const EXPECTED_TIER: &str = "a tier: `high`, `medium` or `low`";
const EXPECTED_AT: &str = "`at`";
const EXPECTED_LEAST: &str = "`least`";
const EXPECTED_RECORD_COUNT: &str = "a record count: a whole number";
const EXPECTED_ORDER: &str = "an order: `score` or `size`";
const EXPECTED_ESCAPE: &str = r#"an escape sequence: `\\`, `\'`, `\"`, `\n` or `\t`"#;

/// A syntax error in a query, with the position of the offending token.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: expected {expected}, found {}", quote_found(.found))]
pub struct ParseError {
    /// Line of the offending token, from 1.
    pub line: usize,
    /// Column of the offending token within its line, in characters, from 1.
    pub column: usize,
    /// Byte offset of the offending token from the start of the input.
    pub offset: usize,
    /// Text of the offending token, cut to [`MAX_FOUND_CHARS`] characters followed by `...`
    /// when longer, or `end of input`.
    pub found: String,
    /// Description of the tokens that the grammar accepts at that position.
    pub expected: String,
}

impl ParseError {
    /// Builds the error for `failure`, which happened inside `source`.
    fn new(source: &str, failure: Failure<'_>) -> ParseError {
        let offset = source.len() - failure.at.len();
        let before = &source[..offset];
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);

        let found = if failure.at.is_empty() {
            END_OF_INPUT.to_owned()
        } else {
            let len = failure
                .token_len
                .unwrap_or_else(|| token_extent(failure.at));
            shorten(&failure.at[..len])
        };
        ParseError {
            line: before.bytes().filter(|&b| b == b'\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
            offset,
            found,
            expected: failure.expected.into_owned(),
        }
    }

    /// Renders the message, the offending line of `source` and a caret line under the token.
    ///
    /// `source` is the text that was parsed. The result has no trailing newline:
    ///
    /// ```text
    /// line 1, column 20: expected `to`, found `form`
    ///   path email a@x.com form email b@x.com
    ///                      ^^^^
    /// ```
    ///
    /// Tabs before the token are repeated in the caret line so that the caret stays under
    /// the token. Characters that a terminal draws two cells wide shift it.
    pub fn render(&self, source: &str) -> String {
        let line = source.split('\n').nth(self.line - 1).unwrap_or("");
        let line = line.strip_suffix('\r').unwrap_or(line);
        let indent: String = line
            .chars()
            .take(self.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();

        // The caret spans the token, but at least one character and no further than the
        // end of the line.
        let token_width = if self.found == END_OF_INPUT {
            1
        } else {
            self.found.chars().count()
        };
        let rest_of_line = line.chars().count().saturating_sub(self.column - 1);
        let width = token_width.min(rest_of_line).max(1);
        format!("{self}\n  {line}\n  {indent}{}", "^".repeat(width))
    }
}

/// Puts `found` in backticks, unless it is the end of the input.
fn quote_found(found: &str) -> String {
    if found == END_OF_INPUT {
        found.to_owned()
    } else {
        format!("`{found}`")
    }
}

/// Cuts `token` to [`MAX_FOUND_CHARS`] characters, marking a cut with `...`.
fn shorten(token: &str) -> String {
    match token.char_indices().nth(MAX_FOUND_CHARS) {
        Some((cut_at, _)) => format!("{}...", &token[..cut_at]),
        None => token.to_owned(),
    }
}

/// Returns the byte length of the token at the start of `text`, which is not empty: a
/// quoted string up to its closing quote or the end of its line, a run of word characters,
/// or else one character.
fn token_extent(text: &str) -> usize {
    let first = text.chars().next().map_or(0, char::len_utf8);
    if text.starts_with(['"', '\'']) {
        return match scan_quoted(text) {
            Scan::Closed { len, .. } | Scan::Unterminated { len, .. } => len,
            Scan::BadEscape { at, len } => at + len,
        };
    }
    match text.find(|c: char| !is_word_char(c)) {
        Some(0) => first,
        Some(end) => end,
        None => text.len(),
    }
}

/// Parses exactly one statement, optionally followed by `;`.
///
/// # Errors
///
/// Returns a [`ParseError`] at the first token that does not fit the grammar, including
/// anything after the statement and its `;`.
///
/// # Examples
///
/// ```
/// use idgraph::query::{NodeRef, Statement, parse_statement};
///
/// let statement = parse_statement("FIND email ann@example.com;").unwrap();
/// let node = NodeRef::Identifier { kind: "email".into(), value: "ann@example.com".into() };
/// assert_eq!(statement, Statement::Find(node));
/// assert_eq!(statement.to_string(), r#"find email "ann@example.com""#);
///
/// let error = parse_statement("find email").unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "line 1, column 11: expected a value for kind `email`: a quoted string or a bare \
///      word, found end of input",
/// );
/// ```
pub fn parse_statement(input: &str) -> Result<Statement, ParseError> {
    run(input, single_statement)
}

/// Parses a script: zero or more statements separated by `;`, with an optional `;` after
/// the last one.
///
/// # Errors
///
/// Returns a [`ParseError`] at the first token that does not fit the grammar. Nothing is
/// returned for the statements before it.
///
/// # Examples
///
/// ```
/// use idgraph::query::parse_script;
///
/// let script = "stats; -- the totals\nconflicts kind phone limit 5;";
/// let statements = parse_script(script).unwrap();
/// assert_eq!(statements.len(), 2);
/// assert_eq!(statements[1].to_string(), "conflicts kind phone limit 5");
///
/// let error = parse_script("stats;\nfnd email a@x.com").unwrap_err();
/// assert_eq!((error.line, error.column, error.found.as_str()), (2, 1, "fnd"));
/// ```
pub fn parse_script(input: &str) -> Result<Vec<Statement>, ParseError> {
    run(input, script)
}

/// Runs `parser` over the whole of `input`, converting its failure to a [`ParseError`].
fn run<'a, T>(
    input: &'a str,
    mut parser: impl Parser<&'a str, Output = T, Error = Failure<'a>>,
) -> Result<T, ParseError> {
    match parser.parse(input) {
        Ok((_, value)) => Ok(value),
        Err(NomErr::Error(failure) | NomErr::Failure(failure)) => {
            Err(ParseError::new(input, failure))
        }
        Err(NomErr::Incomplete(_)) => {
            unreachable!("the parsers are all `complete` ones, which never ask for more input")
        }
    }
}

/// A failure inside the nom parsers: where it happened and what the grammar expected there.
#[derive(Debug)]
struct Failure<'a> {
    /// The input from the offending token to the end.
    at: &'a str,
    /// Description of the tokens that the grammar accepts at `at`, as in
    /// [`ParseError::expected`].
    expected: Cow<'static, str>,
    /// Byte length of the offending token, when it is not the one [`token_extent`] finds.
    token_len: Option<usize>,
}

impl<'a> Failure<'a> {
    fn new(at: &'a str, expected: impl Into<Cow<'static, str>>) -> Failure<'a> {
        Failure {
            at,
            expected: expected.into(),
            token_len: None,
        }
    }
}

impl<'a> nom::error::ParseError<&'a str> for Failure<'a> {
    fn from_error_kind(input: &'a str, _kind: ErrorKind) -> Self {
        // Every token parser runs inside `token`, which replaces this text.
        Failure::new(input, "valid input")
    }

    fn append(_input: &'a str, _kind: ErrorKind, other: Self) -> Self {
        other
    }

    fn or(self, other: Self) -> Self {
        // Between two failed alternatives, the one that got further is nearer the mistake.
        if other.at.len() < self.at.len() {
            other
        } else {
            self
        }
    }
}

type PResult<'a, T> = IResult<&'a str, T, Failure<'a>>;

/// Skips the gap before a token, then runs `parser` on the token. When `parser` fails on
/// the token's first character without committing (a nom `Error`, not a `Failure`), the
/// failure is replaced by one that expects `expected` there.
fn token<'a, T>(
    expected: impl Into<Cow<'static, str>>,
    mut parser: impl Parser<&'a str, Output = T, Error = Failure<'a>>,
) -> impl Parser<&'a str, Output = T, Error = Failure<'a>> {
    let expected = expected.into();
    move |input: &'a str| {
        let (start, ()) = gap(input)?;
        match parser.parse(start) {
            Err(NomErr::Error(failure)) if failure.at.len() == start.len() => {
                Err(NomErr::Error(Failure::new(start, expected.clone())))
            }
            result => result,
        }
    }
}

/// script = [ statement , { separator , statement } , [ ";" ] ] ;
/// separator = ";" | line break ;
///
/// A line break separates two statements when the gap after a whole statement contains one
/// and no `;` follows, so a script can contain one statement per line, as the shell reads them. A
/// statement that is not whole yet, such as `path email a@x.com` before its `to`, goes on
/// over line breaks.
fn script(input: &str) -> PResult<'_, Vec<Statement>> {
    let mut statements = Vec::new();
    let (mut rest, ()) = gap(input)?;

    // A loop, not nom's `separated_list0`, because after a `;` the end of the input is
    // fine but anything else must be a statement, and its error must list the keywords.
    while !rest.is_empty() {
        let (after_statement, statement) = statement(rest)?;
        statements.push(statement);
        let (after_gap, ()) = gap(after_statement)?;
        let skipped = &after_statement[..after_statement.len() - after_gap.len()];
        if skipped.contains('\n') && !after_gap.is_empty() && !after_gap.starts_with(';') {
            rest = after_gap;
            continue;
        }
        let (after_end, more) =
            token(EXPECTED_STATEMENT_END, statement_end).parse(after_statement)?;
        if !more {
            return Ok((after_end, statements));
        }
        (rest, ()) = gap(after_end)?;
    }
    Ok((rest, statements))
}

/// Parses one statement, an optional `;`, then the end of the input, for
/// [`parse_statement`].
fn single_statement(input: &str) -> PResult<'_, Statement> {
    let (rest, statement) = statement(input)?;
    let (rest, more) = token(EXPECTED_STATEMENT_END, statement_end).parse(rest)?;
    let rest = if more {
        token(EXPECTED_END, eof).parse(rest)?.0
    } else {
        rest
    };
    Ok((rest, statement))
}

/// Reads the `;` after a statement, returning true, or the end of the input, returning
/// false.
fn statement_end(input: &str) -> PResult<'_, bool> {
    alt((char(';').map(|_| true), eof.map(|_| false))).parse(input)
}

/// statement = find | entity | path | explain | conflicts | stats
///           | entities | why | bridges | hubs | audit | link | unlink | split ;
fn statement(input: &str) -> PResult<'_, Statement> {
    let reading = alt((
        find, entity, path, explain, conflicts, stats, entities, why, bridges, hubs, audit,
    ));
    let writing = alt((link, unlink, split));
    token(EXPECTED_STATEMENT, alt((reading, writing))).parse(input)
}

/// find = "find" , node ;
fn find(input: &str) -> PResult<'_, Statement> {
    preceded(keyword("find"), cut(node))
        .map(Statement::Find)
        .parse(input)
}

/// entity = "entity" , entity ref ;
fn entity(input: &str) -> PResult<'_, Statement> {
    preceded(keyword("entity"), cut(token(EXPECTED_ENTITY, entity_ref)))
        .map(Statement::Entity)
        .parse(input)
}

/// path = "path" , node , "to" , node ;
fn path(input: &str) -> PResult<'_, Statement> {
    preceded(
        keyword("path"),
        cut((node, token(EXPECTED_TO, keyword("to")), node)),
    )
    .map(|(from, _, to)| Statement::Path { from, to })
    .parse(input)
}

/// explain = "explain" , record node , "and" , record node ;
fn explain(input: &str) -> PResult<'_, Statement> {
    let record = || token(EXPECTED_RECORD, record_node);
    preceded(
        keyword("explain"),
        cut((record(), token(EXPECTED_AND, keyword("and")), record())),
    )
    .map(|(left, _, right)| Statement::Explain { left, right })
    .parse(input)
}

/// conflicts = "conflicts" , [ "kind" , kind name ] , [ "limit" , limit ] ;
fn conflicts(input: &str) -> PResult<'_, Statement> {
    let (rest, _) = keyword("conflicts").parse(input)?;
    let kind_option = preceded(keyword("kind"), cut(token(EXPECTED_KIND_NAME, kind_name)));
    let (rest, kind) = opt(preceded(gap, kind_option)).parse(rest)?;
    let limit_option = preceded(keyword("limit"), cut(token(EXPECTED_LIMIT, limit)));
    let (rest, limit) = opt(preceded(gap, limit_option)).parse(rest)?;

    // The options present decide what may still follow, and so what an error lists.
    let follow = match (&kind, &limit) {
        (None, None) => "`kind`, `limit`, `;` or end of input",
        (Some(_), None) => "`limit`, `;` or end of input",
        (_, Some(_)) => EXPECTED_STATEMENT_END,
    };
    let (rest, ()) = cut(statement_ends(follow)).parse(rest)?;
    Ok((rest, Statement::Conflicts { kind, limit }))
}

/// stats = "stats" ;
fn stats(input: &str) -> PResult<'_, Statement> {
    keyword("stats").map(|_| Statement::Stats).parse(input)
}

/// entities = "entities" , [ "tier" , tier ] , [ "conflict" , kind name ] ,
///            [ "size" , "at" , "least" , record count ] , [ "by" , order ] ,
///            [ "limit" , limit ] ;
fn entities(input: &str) -> PResult<'_, Statement> {
    let (rest, _) = keyword("entities").parse(input)?;
    let (rest, tier) = option("tier", token(EXPECTED_TIER, tier)).parse(rest)?;
    let conflict_kind = token(EXPECTED_KIND_NAME, kind_name);
    let (rest, conflict) = option("conflict", conflict_kind).parse(rest)?;
    let at_least = (
        token(EXPECTED_AT, keyword("at")),
        token(EXPECTED_LEAST, keyword("least")),
        token(EXPECTED_RECORD_COUNT, record_count),
    );
    let (rest, min_records) = option("size", at_least.map(|(_, _, count)| count)).parse(rest)?;
    let (rest, order) = option("by", token(EXPECTED_ORDER, order)).parse(rest)?;
    let (rest, limit) = option("limit", token(EXPECTED_LIMIT, limit)).parse(rest)?;

    let names = ["tier", "conflict", "size", "by", "limit"];
    let present = [
        tier.is_some(),
        conflict.is_some(),
        min_records.is_some(),
        order.is_some(),
        limit.is_some(),
    ];
    let (rest, ()) = options_end(rest, options_after(&names, &present))?;
    let statement = Statement::Entities {
        tier,
        conflict,
        min_records,
        order,
        limit,
    };
    Ok((rest, statement))
}

/// why = "why" , "entity" , entity ref ;
fn why(input: &str) -> PResult<'_, Statement> {
    preceded(keyword("why"), cut(entity_keyword_and_ref))
        .map(Statement::Why)
        .parse(input)
}

/// bridges = "bridges" , [ "limit" , limit ] ;
fn bridges(input: &str) -> PResult<'_, Statement> {
    let (rest, _) = keyword("bridges").parse(input)?;
    let (rest, limit) = option("limit", token(EXPECTED_LIMIT, limit)).parse(rest)?;
    let (rest, ()) = options_end(rest, options_after(&["limit"], &[limit.is_some()]))?;
    Ok((rest, Statement::Bridges { limit }))
}

/// hubs = "hubs" , [ "kind" , kind name ] , [ "limit" , limit ] ;
fn hubs(input: &str) -> PResult<'_, Statement> {
    let (rest, _) = keyword("hubs").parse(input)?;
    let (rest, kind) = option("kind", token(EXPECTED_KIND_NAME, kind_name)).parse(rest)?;
    let (rest, limit) = option("limit", token(EXPECTED_LIMIT, limit)).parse(rest)?;
    let present = [kind.is_some(), limit.is_some()];
    let (rest, ()) = options_end(rest, options_after(&["kind", "limit"], &present))?;
    Ok((rest, Statement::Hubs { kind, limit }))
}

/// audit = "audit" , [ "entity" , entity id ] , [ "limit" , limit ] ;
fn audit(input: &str) -> PResult<'_, Statement> {
    let (rest, _) = keyword("audit").parse(input)?;
    let (rest, entity) = option("entity", token(EXPECTED_ENTITY_ID, entity_id)).parse(rest)?;
    let (rest, limit) = option("limit", token(EXPECTED_LIMIT, limit)).parse(rest)?;
    let present = [entity.is_some(), limit.is_some()];
    let (rest, ()) = options_end(rest, options_after(&["entity", "limit"], &present))?;
    Ok((rest, Statement::Audit { entity, limit }))
}

/// link = "link" , record node , "and" , record node , "because" , reason ;
fn link(input: &str) -> PResult<'_, Statement> {
    preceded(keyword("link"), cut(records_and_reason))
        .map(|(left, right, reason)| Statement::Link {
            left,
            right,
            reason,
        })
        .parse(input)
}

/// unlink = "unlink" , record node , "and" , record node , "because" , reason ;
fn unlink(input: &str) -> PResult<'_, Statement> {
    preceded(keyword("unlink"), cut(records_and_reason))
        .map(|(left, right, reason)| Statement::Unlink {
            left,
            right,
            reason,
        })
        .parse(input)
}

/// split = "split" , "entity" , entity ref , [ "apply" , "because" , reason ] ;
fn split(input: &str) -> PResult<'_, Statement> {
    let (rest, _) = keyword("split").parse(input)?;
    let (rest, entity) = cut(entity_keyword_and_ref).parse(rest)?;
    let because = (
        token(EXPECTED_BECAUSE, keyword("because")),
        token(EXPECTED_REASON, reason),
    );
    let (rest, apply) = option("apply", because.map(|(_, reason)| reason)).parse(rest)?;
    let (rest, ()) = options_end(rest, options_after(&["apply"], &[apply.is_some()]))?;
    Ok((rest, Statement::Split { entity, apply }))
}

/// Reads `"entity" , entity ref`, the rest of `why` and the start of `split`.
fn entity_keyword_and_ref(input: &str) -> PResult<'_, EntityRef> {
    preceded(
        token(EXPECTED_ENTITY_KEYWORD, keyword("entity")),
        token(EXPECTED_ENTITY, entity_ref),
    )
    .parse(input)
}

/// Reads `record node , "and" , record node , "because" , reason`, the rest of `link` and
/// `unlink`.
fn records_and_reason(input: &str) -> PResult<'_, (NodeRef, NodeRef, String)> {
    let record = || token(EXPECTED_RECORD, record_node);
    (
        record(),
        token(EXPECTED_AND, keyword("and")),
        record(),
        token(EXPECTED_BECAUSE, keyword("because")),
        token(EXPECTED_REASON, reason),
    )
        .map(|(left, _, right, _, reason)| (left, right, reason))
        .parse(input)
}

/// Reads an optional clause of a statement: the keyword `name`, then `argument` under `cut`,
/// so that an error after the keyword is reported where it happened.
fn option<'a, T>(
    name: &'static str,
    argument: impl Parser<&'a str, Output = T, Error = Failure<'a>>,
) -> impl Parser<&'a str, Output = Option<T>, Error = Failure<'a>> {
    opt(preceded(gap, preceded(keyword(name), cut(argument))))
}

/// Returns the option keywords that may still follow: those after the last one present.
/// `present` has one flag per name of `names`.
fn options_after<'n>(names: &'n [&'n str], present: &[bool]) -> &'n [&'n str] {
    let next = present
        .iter()
        .rposition(|&found| found)
        .map_or(0, |last| last + 1);
    &names[next..]
}

/// Checks that the statement ends after its options. An error lists the option keywords in
/// `remaining`, then `;` and the end of the input.
fn options_end<'a>(input: &'a str, remaining: &[&str]) -> PResult<'a, ()> {
    let mut follow: Vec<String> = remaining.iter().map(|name| format!("`{name}`")).collect();
    follow.push("`;`".to_owned());
    let expected = format!("{} or end of input", follow.join(", "));
    cut(statement_ends(expected)).parse(input)
}

/// Checks, without consuming anything, that the statement ends here: the gap that follows
/// contains a line break, or a `;` or the end of the input comes next. Otherwise the error
/// lists `expected`.
fn statement_ends<'a>(
    expected: impl Into<Cow<'static, str>> + Clone,
) -> impl Parser<&'a str, Output = (), Error = Failure<'a>> {
    move |input: &'a str| {
        let (after, ()) = gap(input)?;
        let skipped = &input[..input.len() - after.len()];
        if skipped.contains('\n') || after.is_empty() || after.starts_with(';') {
            Ok((input, ()))
        } else {
            Err(NomErr::Error(Failure::new(after, expected.clone())))
        }
    }
}

/// node = record node | identifier node ;
fn node(input: &str) -> PResult<'_, NodeRef> {
    token(EXPECTED_NODE, alt((record_node, identifier_node))).parse(input)
}

/// record node = "record" , source , key ;
fn record_node(input: &str) -> PResult<'_, NodeRef> {
    let source_and_key = (token(EXPECTED_SOURCE, value), token(EXPECTED_KEY, value));
    preceded(keyword("record"), cut(source_and_key))
        .map(|(source, key)| NodeRef::Record { source, key })
        .parse(input)
}

/// identifier node = kind name - "record" , value ;
///
/// [`record_node`] runs first and commits once it reads `record`, so this function never
/// receives it.
fn identifier_node(input: &str) -> PResult<'_, NodeRef> {
    let (rest, kind) = kind_name(input)?;
    let expected = format!("a value for kind `{kind}`: a quoted string or a bare word");
    let (rest, value) = cut(token(expected, value)).parse(rest)?;
    Ok((rest, NodeRef::Identifier { kind, value }))
}

/// entity ref = entity id | "of" , node ;
fn entity_ref(input: &str) -> PResult<'_, EntityRef> {
    let of_node = preceded(keyword("of"), cut(node)).map(EntityRef::Of);
    alt((of_node, entity_id.map(EntityRef::Id))).parse(input)
}

/// entity id = number ;
fn entity_id(input: &str) -> PResult<'_, u32> {
    number(input, || format!("an entity id from 0 to {}", u32::MAX))
}

/// limit = number ;
fn limit(input: &str) -> PResult<'_, usize> {
    number(input, || format!("a limit from 0 to {}", usize::MAX))
}

/// record count = number ;
fn record_count(input: &str) -> PResult<'_, usize> {
    number(input, || format!("a record count from 0 to {}", usize::MAX))
}

/// tier = "high" | "medium" | "low" ;
fn tier(input: &str) -> PResult<'_, Tier> {
    alt((
        keyword("high").map(|_| Tier::High),
        keyword("medium").map(|_| Tier::Medium),
        keyword("low").map(|_| Tier::Low),
    ))
    .parse(input)
}

/// order = "score" | "size" ;
fn order(input: &str) -> PResult<'_, EntityOrder> {
    alt((
        keyword("score").map(|_| EntityOrder::Score),
        keyword("size").map(|_| EntityOrder::Size),
    ))
    .parse(input)
}

/// reason = value ;
///
/// A reason that is empty or only white space is a `Failure`.
fn reason(input: &str) -> PResult<'_, String> {
    let (rest, text) = value(input)?;
    if text.trim().is_empty() {
        return Err(NomErr::Failure(Failure::new(
            input,
            EXPECTED_NON_EMPTY_REASON,
        )));
    }
    Ok((rest, text))
}

/// kind name = name character , { name character } ;
///
/// Returns the name lowercased. A name longer than [`MAX_KIND_NAME_LEN`] is a `Failure`.
fn kind_name(input: &str) -> PResult<'_, String> {
    let is_name = |word: &str| word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let (rest, name) = verify(word, is_name).parse(input)?;
    if name.len() > MAX_KIND_NAME_LEN {
        let expected = format!("a kind name of at most {MAX_KIND_NAME_LEN} characters");
        return Err(NomErr::Failure(Failure::new(input, expected)));
    }
    Ok((rest, name.to_ascii_lowercase()))
}

/// number = digit , { digit } ;
///
/// Reads a number token as a `T`. A number too large for `T` is a `Failure` that expects
/// `range()`.
fn number<T: FromStr>(input: &str, range: impl Fn() -> String) -> PResult<'_, T> {
    let is_number = |word: &str| word.bytes().all(|b| b.is_ascii_digit());
    let (rest, digits) = verify(word, is_number).parse(input)?;

    // The digits are ASCII and there is at least one, so only overflow can fail here.
    match digits.parse() {
        Ok(number) => Ok((rest, number)),
        Err(_) => Err(NomErr::Failure(Failure::new(input, range()))),
    }
}

/// value = quoted string | bare word ;
fn value(input: &str) -> PResult<'_, String> {
    alt((quoted_string, bare_word.map(str::to_owned))).parse(input)
}

/// bare word = word character - "-" , { word character } ;
fn bare_word(input: &str) -> PResult<'_, &str> {
    let first = satisfy(|c| is_word_char(c) && c != '-');
    recognize((first, take_while(is_word_char))).parse(input)
}

/// Reads the longest run of word characters: the text of a keyword, kind name, number or
/// bare word.
fn word(input: &str) -> PResult<'_, &str> {
    take_while1(is_word_char).parse(input)
}

/// word character = alphanumeric | "_" | "." | "@" | "+" | "-" | ":" | "/" ;
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '@' | '+' | '-' | ':' | '/')
}

/// Matches the keyword `name` in any ASCII case, as a whole word.
fn keyword<'a>(name: &'static str) -> impl Parser<&'a str, Output = &'a str, Error = Failure<'a>> {
    verify(word, move |word: &str| word.eq_ignore_ascii_case(name))
}

/// quoted string = '"' , { double quoted character | escape } , '"'
///               | "'" , { single quoted character | escape } , "'" ;
///
/// An unterminated string is a `Failure` at its opening quote, and an invalid escape one at
/// its backslash.
fn quoted_string(input: &str) -> PResult<'_, String> {
    let (_, quote) = satisfy(|c| c == '"' || c == '\'').parse(input)?;
    match scan_quoted(input) {
        Scan::Closed { len, text } => Ok((&input[len..], text)),
        Scan::Unterminated { len, at_line_end } => {
            let place = if at_line_end { "line" } else { "input" };
            let expected = format!("a closing `{quote}` before the end of the {place}");
            let failure = Failure {
                token_len: Some(len),
                ..Failure::new(input, expected)
            };
            Err(NomErr::Failure(failure))
        }
        Scan::BadEscape { at, len } => {
            let failure = Failure {
                token_len: Some(len),
                ..Failure::new(&input[at..], EXPECTED_ESCAPE)
            };
            Err(NomErr::Failure(failure))
        }
    }
}

/// The outcome of reading a quoted string.
enum Scan {
    /// The string is closed: `len` bytes from the opening quote to the closing one, both
    /// included, and `text` is the content with escapes replaced.
    Closed { len: usize, text: String },
    /// No closing quote before the end of the line or input: `len` bytes from the opening
    /// quote to there, leaving out a `\r` before the line feed.
    Unterminated { len: usize, at_line_end: bool },
    /// The escape sequence `len` bytes long, `at` bytes after the opening quote, is invalid.
    BadEscape { at: usize, len: usize },
}

/// Reads the quoted string at the start of `input`, which starts with `"` or `'`.
fn scan_quoted(input: &str) -> Scan {
    let quote = input.as_bytes()[0] as char;
    let mut text = String::new();
    let mut chars = input.char_indices().skip(1);
    let mut end = input.len();
    let mut at_line_end = false;

    while let Some((at, c)) = chars.next() {
        match c {
            '\n' => {
                end = at;
                at_line_end = true;
                break;
            }
            '\\' => match chars.next() {
                Some((_, '\\')) => text.push('\\'),
                Some((_, '\'')) => text.push('\''),
                Some((_, '"')) => text.push('"'),
                Some((_, 'n')) => text.push('\n'),
                Some((_, 't')) => text.push('\t'),
                // A backslash at the end of the line or input leaves the string unclosed.
                Some((_, '\n')) => {
                    end = at + 1;
                    at_line_end = true;
                    break;
                }
                None => break,
                Some((_, other)) => {
                    return Scan::BadEscape {
                        at,
                        len: 1 + other.len_utf8(),
                    };
                }
            },
            c if c == quote => {
                return Scan::Closed { len: at + 1, text };
            }
            c => text.push(c),
        }
    }
    let len = if input[..end].ends_with('\r') {
        end - 1
    } else {
        end
    };
    Scan::Unterminated { len, at_line_end }
}

/// gap = { white space | comment } ;
fn gap(input: &str) -> PResult<'_, ()> {
    let white_space = take_while1(char::is_whitespace);
    many0_count(alt((white_space, comment)))
        .map(|_| ())
        .parse(input)
}

/// comment = "--" , { ? any character except line feed ? } ;
fn comment(input: &str) -> PResult<'_, &str> {
    recognize((tag("--"), take_while(|c| c != '\n'))).parse(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(value: &str) -> NodeRef {
        NodeRef::Identifier {
            kind: "email".to_owned(),
            value: value.to_owned(),
        }
    }

    fn record(source: &str, key: &str) -> NodeRef {
        NodeRef::Record {
            source: source.to_owned(),
            key: key.to_owned(),
        }
    }

    #[test]
    fn empty_reason_is_rejected_at_its_quotes() {
        for (input, column) in [
            (r#"link record a 1 and record a 2 because """#, 40),
            ("unlink record a 1 and record a 2 because ' \t'", 42),
            ("split entity 1 apply because \"\\n\"", 30),
        ] {
            let error = parse_statement(input).unwrap_err();
            assert_eq!(error.column, column, "{input}");
            assert_eq!(error.expected, EXPECTED_NON_EMPTY_REASON, "{input}");
        }
    }

    #[test]
    fn missing_because_is_named() {
        let error = parse_statement("link record a 1 and record a 2").unwrap_err();
        assert_eq!(error.found, "end of input");
        assert_eq!(error.expected, EXPECTED_BECAUSE);

        let error = parse_statement("split entity 1 apply \"why\"").unwrap_err();
        assert_eq!(error.found, "\"why\"");
        assert_eq!(error.expected, EXPECTED_BECAUSE);
    }

    #[test]
    fn options_error_lists_what_may_follow() {
        let cases = [
            (
                "entities x",
                "`tier`, `conflict`, `size`, `by`, `limit`, `;` or end of input",
            ),
            (
                "entities tier low x",
                "`conflict`, `size`, `by`, `limit`, `;` or end of input",
            ),
            (
                "entities size at least 2 x",
                "`by`, `limit`, `;` or end of input",
            ),
            ("entities by size x", "`limit`, `;` or end of input"),
            ("entities limit 1 x", EXPECTED_STATEMENT_END),
            ("hubs x", "`kind`, `limit`, `;` or end of input"),
            ("hubs kind ip x", "`limit`, `;` or end of input"),
            ("audit x", "`entity`, `limit`, `;` or end of input"),
            ("audit entity 2 x", "`limit`, `;` or end of input"),
            ("bridges x", "`limit`, `;` or end of input"),
            ("split entity 1 x", "`apply`, `;` or end of input"),
            ("split entity 1 apply because y x", EXPECTED_STATEMENT_END),
        ];
        for (input, expected) in cases {
            let error = parse_statement(input).unwrap_err();
            assert_eq!(error.found, "x", "{input}");
            assert_eq!(error.expected, expected, "{input}");
        }
    }

    #[test]
    fn new_statements_parse_to_their_trees() {
        let statement = parse_statement("entities tier high size at least 3").unwrap();
        assert_eq!(
            statement,
            Statement::Entities {
                tier: Some(Tier::High),
                conflict: None,
                min_records: Some(3),
                order: None,
                limit: None,
            }
        );
        let statement = parse_statement("link record crm 1 and record web s-9 because x").unwrap();
        assert_eq!(
            statement,
            Statement::Link {
                left: record("crm", "1"),
                right: record("web", "s-9"),
                reason: "x".to_owned(),
            }
        );
        let statement = parse_statement("why entity of email a@x.com").unwrap();
        assert_eq!(statement, Statement::Why(EntityRef::Of(email("a@x.com"))));
        let statement = parse_statement("split entity 4 apply because 'x y'").unwrap();
        assert_eq!(
            statement,
            Statement::Split {
                entity: EntityRef::Id(4),
                apply: Some("x y".to_owned()),
            }
        );
        let statement = parse_statement("audit entity 9").unwrap();
        assert_eq!(
            statement,
            Statement::Audit {
                entity: Some(9),
                limit: None,
            }
        );
    }

    #[test]
    fn position_on_later_line() {
        let input = "stats;\n  find email a@x.com;\n\tpath email a too email b";
        let error = parse_script(input).unwrap_err();
        assert_eq!(error.line, 3);
        assert_eq!(error.column, 15);
        assert_eq!(error.offset, 43);
        assert_eq!(error.found, "too");
        assert_eq!(error.expected, "`to`");
    }

    #[test]
    fn position_after_unicode_counts_chars() {
        // "é" and "名" are 2 and 3 bytes long but one column each.
        let input = "find email 'é名' x";
        let error = parse_script(input).unwrap_err();
        assert_eq!(error.line, 1);
        assert_eq!(error.column, 17);
        assert_eq!(error.offset, 19);
        assert_eq!(error.found, "x");
        assert_eq!(error.expected, EXPECTED_STATEMENT_END);

        let input = "find email 'é名' ; find 名前 x";
        let error = parse_script(input).unwrap_err();
        assert_eq!(error.column, 24);
        assert_eq!(error.offset, 26);
        assert_eq!(error.found, "名前");
        assert_eq!(error.expected, EXPECTED_NODE);
    }

    #[test]
    fn position_at_end_of_input() {
        let input = "stats;\npath email a@x.com to";
        let error = parse_script(input).unwrap_err();
        assert_eq!(error.line, 2);
        assert_eq!(error.column, 22);
        assert_eq!(error.offset, input.len());
        assert_eq!(error.found, "end of input");
        assert_eq!(
            error.render(input),
            "line 2, column 22: expected a node: `record SOURCE KEY` or `KIND VALUE`, \
             found end of input\n  path email a@x.com to\n                       ^"
        );
    }

    #[test]
    fn render_keeps_tabs_in_caret_line() {
        let input = "\tfind\temail 'abc\r\nstats";
        let error = parse_script(input).unwrap_err();
        assert_eq!(error.column, 13);
        assert_eq!(error.found, "'abc");
        assert_eq!(
            error.render(input),
            "line 1, column 13: expected a closing `'` before the end of the line, \
             found `'abc`\n  \tfind\temail 'abc\n  \t    \t      ^^^^"
        );
    }

    #[test]
    fn found_is_cut_for_long_tokens() {
        let long = "x.".repeat(100);
        let error = parse_statement(&format!("find {long}")).unwrap_err();
        assert_eq!(error.found, format!("{}...", &long[..MAX_FOUND_CHARS]));
        assert_eq!(error.column, 6);
    }

    #[test]
    fn round_trip_through_display() {
        let awkward = "quote \" apostrophe ' backslash \\ tab \t line\nfeed -- é名 \r;";
        let statements = [
            Statement::Find(email(awkward)),
            Statement::Find(NodeRef::Record {
                source: String::new(),
                key: awkward.to_owned(),
            }),
            Statement::Entity(EntityRef::Id(u32::MAX)),
            Statement::Entity(EntityRef::Of(NodeRef::Identifier {
                kind: "to".to_owned(),
                value: "record".to_owned(),
            })),
            Statement::Path {
                from: email("-starts-with-dash"),
                to: NodeRef::Record {
                    source: "web".to_owned(),
                    key: "s-9".to_owned(),
                },
            },
            Statement::Conflicts {
                kind: Some("national_id".to_owned()),
                limit: Some(usize::MAX),
            },
            Statement::Conflicts {
                kind: None,
                limit: None,
            },
            Statement::Stats,
            Statement::Link {
                left: record("crm", awkward),
                right: record("web", "s-9"),
                reason: awkward.to_owned(),
            },
            Statement::Unlink {
                left: record("", "1"),
                right: record("crm", "2"),
                reason: " twins ".to_owned(),
            },
            Statement::Audit {
                entity: Some(u32::MAX),
                limit: Some(usize::MAX),
            },
            Statement::Audit {
                entity: None,
                limit: None,
            },
            Statement::Hubs {
                kind: Some("device_id".to_owned()),
                limit: None,
            },
            Statement::Bridges { limit: Some(0) },
            Statement::Entities {
                tier: Some(Tier::Medium),
                conflict: Some("bridge".to_owned()),
                min_records: Some(usize::MAX),
                order: Some(EntityOrder::Score),
                limit: Some(1),
            },
            Statement::Entities {
                tier: None,
                conflict: None,
                min_records: None,
                order: Some(EntityOrder::Size),
                limit: None,
            },
            Statement::Why(EntityRef::Of(email(awkward))),
            Statement::Split {
                entity: EntityRef::Id(0),
                apply: None,
            },
            Statement::Split {
                entity: EntityRef::Of(record("crm", "C-1")),
                apply: Some(awkward.to_owned()),
            },
        ];
        for statement in &statements {
            let printed = statement.to_string();
            assert_eq!(
                parse_statement(&printed).as_ref(),
                Ok(statement),
                "{printed}"
            );
        }

        let printed: Vec<String> = statements.iter().map(Statement::to_string).collect();
        let script = printed.join(";\n");
        assert_eq!(parse_script(&script), Ok(statements.to_vec()));
    }

    #[test]
    fn parse_statement_rejects_second_statement() {
        let error = parse_statement("stats; stats").unwrap_err();
        assert_eq!(error.column, 8);
        assert_eq!(error.found, "stats");
        assert_eq!(error.expected, EXPECTED_END);

        let error = parse_statement("stats stats").unwrap_err();
        assert_eq!(error.column, 7);
        assert_eq!(error.expected, EXPECTED_STATEMENT_END);

        let error = parse_statement("  -- nothing\n").unwrap_err();
        assert_eq!(error.line, 2);
        assert_eq!(error.column, 1);
        assert_eq!(error.found, "end of input");
        assert_eq!(error.expected, EXPECTED_STATEMENT);
    }

    #[test]
    fn megabyte_script_parses() {
        let statement = "path email ann@example.com to record crm 'C-17'; -- evidence\n";
        let count = (1 << 20) / statement.len() + 1;
        let script = statement.repeat(count);
        assert!(script.len() > 1 << 20);

        let statements = parse_script(&script).unwrap();
        assert_eq!(statements.len(), count);
        assert!(statements.iter().all(|s| *s == statements[0]));

        // An error at the very end is still found and placed.
        let broken = format!("{script}stats stats");
        let error = parse_script(&broken).unwrap_err();
        assert_eq!(error.line, count + 1);
        assert_eq!(error.column, 7);
    }

    #[test]
    fn long_bare_word_parses() {
        let word = "a".repeat(100_000);
        let statement = parse_statement(&format!("find email {word}")).unwrap();
        assert_eq!(statement, Statement::Find(email(&word)));

        let quoted = parse_statement(&format!("find email \"{word}\"")).unwrap();
        assert_eq!(quoted, statement);
    }

    #[test]
    fn grammar_in_docs_matches_grammar_file() {
        let source = include_str!("parser.rs");
        let doc_lines: Vec<&str> = source
            .lines()
            .filter_map(|line| line.strip_prefix("//!"))
            .map(|line| line.strip_prefix(' ').unwrap_or(line))
            .skip_while(|line| *line != "```ebnf")
            .skip(1)
            .take_while(|line| *line != "```")
            .collect();
        let in_docs = doc_lines.join("\n");

        let file = include_str!("../../grammar/idgraph.ebnf");
        let mut in_file = String::new();
        let mut rest = file;
        while let Some(start) = rest.find("(*") {
            in_file.push_str(&rest[..start]);
            let end = rest[start..].find("*)").expect("every comment is closed");
            rest = &rest[start + end + 2..];
        }
        in_file.push_str(rest);

        let squeeze = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(squeeze(&in_docs), squeeze(&in_file));
    }
}
