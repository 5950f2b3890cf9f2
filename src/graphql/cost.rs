//! Bounds what one GraphQL document may cost before anything expensive runs.
//!
//! async-graphql's validation (depth, complexity) walks fragment spreads inline, so a small
//! document whose fragments spread into each other twice per level expands exponentially
//! and pins a core for seconds in one uninterruptible step. This pass runs first: a cheap
//! lexical scan bounds tokens and bracket nesting (parsing recurses on nested values),
//! then one walk over the parsed document computes each fragment's expanded size once
//! (a memoized walk of the fragment graph, cycles refused), so its cost is linear in the
//! document's length whatever the expansion.

use std::collections::HashMap;

use async_graphql::{
    Name, Positioned, Request,
    parser::{
        parse_query,
        types::{ExecutableDocument, FragmentDefinition, Selection, SelectionSet},
    },
};

use crate::error::AppError;

/// How much one document may ask for. Every bound applies per operation, to the
/// document as it would run with every fragment spread expanded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Nesting of selection sets.
    pub max_depth: usize,
    /// Fields selected, counting each spread of a fragment again.
    pub max_fields: usize,
    /// Fields given an alias.
    pub max_aliases: usize,
    /// Fields selected at the operation's top level.
    pub max_root_fields: usize,
    /// Directives on one field, fragment spread or operation.
    pub max_directives_per_field: usize,
    /// Lexical tokens in the whole document.
    pub max_tokens: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 15,
            max_fields: 2_000,
            max_aliases: 50,
            max_root_fields: 20,
            max_directives_per_field: 4,
            max_tokens: 10_000,
        }
    }
}

/// Brackets nested deeper than this are refused before parsing: far deeper than any real
/// query or literal, and it keeps the recursive parsing and validation of nested values shallow.
const MAX_NESTING: usize = 64;

/// Checks a document's text (a WebSocket `subscribe` payload, say) against `limits`.
pub fn check(query: &str, limits: &Limits) -> Result<(), AppError> {
    scan(query, limits)?;
    match parse_query(query) {
        Ok(document) => check_document(&document, limits),
        // Syntax errors are left to the executor, which reports them with positions.
        Err(_) => Ok(()),
    }
}

/// Documents that parsed and passed the cost check, by their text. Clients send the same
/// few documents over and over, and parsing one again cost as much as all the rest of a
/// point read's GraphQL work. Bounded by the text held, so a stream of distinct documents
/// only evicts.
pub struct CheckedDocuments(moka::sync::Cache<String, ExecutableDocument>);

/// Document text the cache holds at most (parsed, a document takes several times its text).
const CACHED_TEXT_BYTES: u64 = 1 << 20;

impl Default for CheckedDocuments {
    fn default() -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(CACHED_TEXT_BYTES)
                .weigher(|query: &String, _| u32::try_from(query.len()).unwrap_or(u32::MAX))
                .build(),
        )
    }
}

impl CheckedDocuments {
    /// Checks a request's document against `limits`, parsing it at most once: the parsed
    /// document stays in the request, so execution does not parse it again, and a text
    /// that passed before is answered from the cache.
    pub fn check_request(&self, request: &mut Request, limits: &Limits) -> Result<(), AppError> {
        if let Some(document) = self.0.get(request.query.as_str()) {
            request.set_parsed_query(document);
            return Ok(());
        }
        scan(&request.query, limits)?;
        let query = request.query.clone();
        match request.parsed_query() {
            Ok(document) => {
                check_document(document, limits)?;
                self.0.insert(query, document.clone());
                Ok(())
            }
            // Syntax errors are left to the executor, which reports them with positions.
            Err(_) => Ok(()),
        }
    }
}

/// The cost of one connection field for async-graphql's complexity rule: its children,
/// once per item of the page it may return (`first`, default 20, at most 100).
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let items = usize::try_from(first.unwrap_or(20).clamp(1, 100)).unwrap_or(100);
    items.saturating_mul(child_complexity.max(1)).saturating_add(1)
}

fn too_complex(reason: String) -> AppError {
    AppError::QueryTooComplex(reason)
}

/// Counts tokens and bracket nesting without parsing.
fn scan(query: &str, limits: &Limits) -> Result<(), AppError> {
    let bytes = query.as_bytes();
    let (mut i, mut tokens, mut nesting) = (0, 0_usize, 0_usize);
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                i = skip_while(bytes, i, |b| b != b'\n');
                continue;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => i = skip_block_string(bytes, i + 3),
            b'"' => i = skip_string(bytes, i + 1),
            b'.' if bytes[i..].starts_with(b"...") => i += 3,
            b'{' | b'[' | b'(' => {
                nesting += 1;
                if nesting > MAX_NESTING {
                    return Err(too_complex(format!("brackets nest deeper than {MAX_NESTING}")));
                }
                i += 1;
            }
            b'}' | b']' | b')' => {
                nesting = nesting.saturating_sub(1);
                i += 1;
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => i = skip_while(bytes, i, |b| b == b'_' || b.is_ascii_alphanumeric()),
            b'-' | b'0'..=b'9' => {
                i = skip_while(bytes, i + 1, |b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'));
            }
            _ => i += 1,
        }
        tokens += 1;
        if tokens > limits.max_tokens {
            return Err(too_complex(format!("more than {} tokens", limits.max_tokens)));
        }
    }
    Ok(())
}

fn skip_while(bytes: &[u8], from: usize, keep: impl Fn(u8) -> bool) -> usize {
    bytes[from..].iter().position(|&b| !keep(b)).map_or(bytes.len(), |n| from + n)
}

/// Past the closing quote of a `"…"` string that starts at `from` (after the quote).
fn skip_string(bytes: &[u8], mut from: usize) -> usize {
    while from < bytes.len() {
        match bytes[from] {
            b'\\' => from += 2,
            b'"' | b'\n' => return from + 1,
            _ => from += 1,
        }
    }
    bytes.len()
}

/// Past the closing `"""` of a block string that starts at `from` (after the quotes).
fn skip_block_string(bytes: &[u8], mut from: usize) -> usize {
    while from < bytes.len() {
        if bytes[from..].starts_with(b"\\\"\"\"") {
            from += 4;
        } else if bytes[from..].starts_with(b"\"\"\"") {
            return from + 3;
        } else {
            from += 1;
        }
    }
    bytes.len()
}

/// What a selection set amounts to with every fragment spread expanded.
#[derive(Clone, Copy, Debug, Default)]
struct Size {
    fields: usize,
    aliases: usize,
    depth: usize,
    /// Fields at this set's own level (a fragment's, when spread at the top, are root fields).
    top_fields: usize,
}

impl Size {
    /// Adds a spread fragment or inline fragment, which sits at the same level.
    fn absorb(&mut self, other: Size) {
        self.fields = self.fields.saturating_add(other.fields);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.depth = self.depth.max(other.depth);
        self.top_fields = self.top_fields.saturating_add(other.top_fields);
    }
}

enum Visit {
    InProgress,
    Done(Size),
}

struct Walk<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    limits: &'a Limits,
    visited: HashMap<&'a str, Visit>,
}

fn check_document(document: &ExecutableDocument, limits: &Limits) -> Result<(), AppError> {
    let mut walk = Walk { fragments: &document.fragments, limits, visited: HashMap::new() };
    // Validation walks every operation of the document, so the expanded size is bounded
    // for the document as a whole; the other bounds apply per operation.
    let mut document_fields = 0_usize;
    for (_, operation) in document.operations.iter() {
        walk.directives(operation.node.directives.len())?;
        let size = walk.selection_set(&operation.node.selection_set.node)?;
        document_fields = document_fields.saturating_add(size.fields);
        let bounds = [
            (size.top_fields, limits.max_root_fields, "root fields"),
            (size.depth, limits.max_depth, "levels of nesting"),
            (size.aliases, limits.max_aliases, "aliases"),
            (document_fields, limits.max_fields, "fields once fragments are expanded"),
        ];
        for (value, limit, what) in bounds {
            if value > limit {
                return Err(too_complex(format!("more than {limit} {what}")));
            }
        }
    }
    Ok(())
}

impl<'a> Walk<'a> {
    fn directives(&self, count: usize) -> Result<(), AppError> {
        if count > self.limits.max_directives_per_field {
            return Err(too_complex(format!(
                "more than {} directives on one field",
                self.limits.max_directives_per_field
            )));
        }
        Ok(())
    }

    fn selection_set(&mut self, set: &'a SelectionSet) -> Result<Size, AppError> {
        let mut size = Size::default();
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    self.directives(field.node.directives.len())?;
                    let children = self.selection_set(&field.node.selection_set.node)?;
                    size.fields = size.fields.saturating_add(children.fields).saturating_add(1);
                    size.aliases = size.aliases.saturating_add(children.aliases);
                    if field.node.alias.is_some() {
                        size.aliases = size.aliases.saturating_add(1);
                    }
                    size.depth = size.depth.max(children.depth.saturating_add(1));
                    size.top_fields = size.top_fields.saturating_add(1);
                }
                // A spread or inline fragment is work for validation even when it selects
                // nothing that exists, so it counts as a field too.
                Selection::FragmentSpread(spread) => {
                    self.directives(spread.node.directives.len())?;
                    size.absorb(self.fragment(&spread.node.fragment_name.node)?);
                    size.fields = size.fields.saturating_add(1);
                }
                Selection::InlineFragment(inline) => {
                    self.directives(inline.node.directives.len())?;
                    size.absorb(self.selection_set(&inline.node.selection_set.node)?);
                    size.fields = size.fields.saturating_add(1);
                }
            }
            // Stop as soon as the answer is known; the walk is linear anyway.
            if size.fields > self.limits.max_fields {
                return Err(too_complex(format!(
                    "more than {} fields once fragments are expanded",
                    self.limits.max_fields
                )));
            }
        }
        Ok(size)
    }

    /// A fragment's expanded size, computed once however often it is spread.
    fn fragment(&mut self, name: &'a str) -> Result<Size, AppError> {
        match self.visited.get(name) {
            Some(Visit::Done(size)) => return Ok(*size),
            Some(Visit::InProgress) => {
                return Err(AppError::bad_input("query", format!("fragment {name} spreads itself")));
            }
            None => {}
        }
        let Some(fragment) = self.fragments.get(name) else {
            return Err(AppError::bad_input("query", format!("unknown fragment {name}")));
        };
        self.visited.insert(name, Visit::InProgress);
        self.directives(fragment.node.directives.len())?;
        let size = self.selection_set(&fragment.node.selection_set.node)?;
        self.visited.insert(name, Visit::Done(size));
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(query: &str) -> Option<&'static str> {
        check(query, &Limits::default()).err().map(|error| error.code())
    }

    /// Fragments that each spread the next one twice: 2^levels fields once expanded.
    fn fragment_bomb(levels: usize) -> String {
        let mut document = String::from("query { me { ...F0 } }\n");
        for level in 0..levels {
            let next = level + 1;
            document.push_str(&format!("fragment F{level} on User {{ ...F{next} ...F{next} }}\n"));
        }
        document.push_str(&format!("fragment F{levels} on User {{ email }}\n"));
        document
    }

    #[test]
    fn a_repeated_document_is_answered_parsed_and_a_refused_one_is_never_kept() {
        let documents = CheckedDocuments::default();
        let limits = Limits { max_aliases: 1, ..Limits::default() };
        let (passing, refused) = ("{ a: me { id } }", "{ a: me { id } b: me { id } }");
        for _ in 0..2 {
            let mut request = Request::new(passing);
            assert!(documents.check_request(&mut request, &limits).is_ok());
            assert_eq!(request.parsed_query().map(|d| d.operations.iter().count()).ok(), Some(1));
            let refusal = documents.check_request(&mut Request::new(refused), &limits).err();
            assert_eq!(refusal.map(|error| error.code()), Some("QUERY_TOO_COMPLEX"));
        }
        assert!(documents.0.contains_key(passing));
        assert!(!documents.0.contains_key(refused));
    }

    #[test]
    fn ordinary_queries_pass() {
        assert_eq!(code("{ me { email role } leads(first: 5) { edges { node { id email } } } }"), None);
        assert_eq!(code("query Q($id: ID!) { lead(id: $id) { ...L } } fragment L on Lead { id stage }"), None);
        assert_eq!(code("not even graphql {"), None, "syntax errors are left to the executor");
    }

    #[test]
    fn a_fragment_bomb_is_refused_quickly() {
        let started = std::time::Instant::now();
        assert_eq!(code(&fragment_bomb(30)), Some("QUERY_TOO_COMPLEX"));
        assert!(started.elapsed() < std::time::Duration::from_millis(500), "{:?}", started.elapsed());
        assert_eq!(code(&fragment_bomb(8)), None, "256 fields are fine");
    }

    #[test]
    fn a_fragment_bomb_ending_in_an_unknown_fragment_is_refused() {
        // Found by fuzzing: 2^30 spreads of a fragment that does not exist select no field.
        let bomb = fragment_bomb(30).replace("fragment F30 on User", "fragment Other on User");
        assert_eq!(code(&bomb), Some("BAD_USER_INPUT"));
        let spreads: String = (0..1001).map(|_| "...on User { __typename } ").collect();
        assert_eq!(code(&format!("{{ me {{ {spreads} }} }}")), Some("QUERY_TOO_COMPLEX"));
    }

    #[test]
    fn many_operations_share_one_bound() {
        let fragment = format!("fragment Big on User {{ {} }}", "email ".repeat(900));
        let operations: String = (0..3).map(|i| format!("query Q{i} {{ me {{ ...Big }} }} ")).collect();
        assert_eq!(code(&format!("{operations} {fragment}")), Some("QUERY_TOO_COMPLEX"));
        assert_eq!(code(&format!("query Q {{ me {{ ...Big }} }} {fragment}")), None);
    }

    #[test]
    fn fragment_cycles_are_bad_input() {
        assert_eq!(
            code("{ me { ...A } } fragment A on User { ...B } fragment B on User { ...A }"),
            Some("BAD_USER_INPUT")
        );
    }

    #[test]
    fn aliases_root_fields_directives_depth_and_tokens_are_bounded() {
        let aliases: String = (0..51).map(|i| format!("a{i}: __typename ")).collect();
        assert_eq!(code(&format!("{{ me {{ {aliases} }} }}")), Some("QUERY_TOO_COMPLEX"));
        let roots: String = (0..21).map(|_| "__typename ").collect();
        assert_eq!(code(&format!("{{ {roots} }}")), Some("QUERY_TOO_COMPLEX"));
        let directives: String = (0..5).map(|_| "@include(if: true) ").collect();
        assert_eq!(code(&format!("{{ me {{ email {directives} }} }}")), Some("QUERY_TOO_COMPLEX"));
        let deep = format!("{}{}", "{ a ".repeat(16), "}".repeat(16));
        assert_eq!(code(&deep), Some("QUERY_TOO_COMPLEX"));
        let nested_list = format!("{{ me(x: {}1{}) {{ email }} }}", "[".repeat(65), "]".repeat(65));
        assert_eq!(code(&nested_list), Some("QUERY_TOO_COMPLEX"));
        assert_eq!(code(&format!("{{ me {{ email }} }} # {}", "x ".repeat(20_000))), None, "comments are free");
        let many = format!("{{ me {{ email(x: [{}]) }} }}", "1 ".repeat(10_001));
        assert_eq!(code(&many), Some("QUERY_TOO_COMPLEX"));
    }

    #[test]
    fn strings_count_as_one_token() {
        let long = "word ".repeat(20_000);
        assert_eq!(code(&format!("{{ me(a: \"{long}\", b: \"\"\"{long} \\\"\"\" \"\"\") {{ email }} }}")), None);
    }

    #[test]
    fn page_cost_multiplies_children_by_the_page_size() {
        assert_eq!(page_cost(None, 3), 61);
        assert_eq!(page_cost(Some(100), 3), 301);
        assert_eq!(page_cost(Some(1_000_000), 3), 301);
        assert_eq!(page_cost(Some(-5), 3), 4);
    }
}
