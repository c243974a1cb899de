//! Limits on what one operation may ask for, checked before async-graphql sees it: depth
//! and complexity (counted as async-graphql counts them, so that every limit answers
//! `QUERY_TOO_COMPLEX`), the number of selected fields (including `__typename`, which the
//! built-in complexity check does not count) and of aliases, counted through fragments.
//!
//! Text inputs are checked here too, before anything runs: no NUL or other control
//! character in any string an operation carries (variables and literals alike), except
//! line breaks and tabs in multi-line fields. PostgreSQL text cannot hold NUL at all (it
//! would fail as an internal error there and pass on SQLite), and control characters in
//! names, numbers and ids are never meant. The answer is `INVALID_INPUT` with the path of
//! the offending field in `extensions.field`, and nothing runs.
//!
//! The check wraps the schema as an `Executor` (HTTP and websockets both execute through
//! it) rather than being a schema extension: any extension puts async-graphql on a slower
//! path for every resolved field, and the tree query resolves about 15,000 of them.
//!
//! Parsing is done once per document text, not once per request: clients send the same
//! few documents over and over (`DocumentCache`). Only the parse is reused. Everything
//! that depends on the request runs on every request: these limits with its variables,
//! and async-graphql's full validation (its complexity and depth with the variables too).

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::futures_util::stream::{self, BoxStream, StreamExt};
use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{Data, Executor, Name, Request, Response, Value, Variables};

use crate::error::{ErrorCode, coded_server_error};
use crate::graphql::connection::page_cost;
use crate::graphql::spend;
use crate::graphql::{AppSchema, INTROSPECTION_DEPTH, MAX_COMPLEXITY, MAX_DEPTH};

/// Most fields one operation may select (fragments counted where they are spread).
pub const MAX_FIELDS: usize = 1_000;
/// Most aliases one operation may use.
pub const MAX_ALIASES: usize = 100;
/// Fragments spread inside fragments deeper than this are refused outright.
const MAX_FRAGMENT_NESTING: usize = 12;

/// Selection sets nested deeper than this are refused before counting (async-graphql's
/// own recursion limit, 32, runs later, after this walk).
const MAX_NESTING: usize = 32;

#[derive(Default)]
struct Tally {
    fields: usize,
    aliases: usize,
    too_nested: bool,
    /// The deepest field, counted as async-graphql counts depth (fragments inlined).
    depth: usize,
}

impl Tally {
    fn over(&self) -> bool {
        self.fields > MAX_FIELDS || self.aliases > MAX_ALIASES || self.too_nested
    }
}

/// What one operation may reach: its depth, and which fields are charged per page.
#[derive(Clone)]
struct Reach {
    depth: usize,
    /// Fields that take a page size (`first`), as the schema declares them.
    paged: Arc<HashSet<String>>,
}

/// The cost of one field as async-graphql's complexity check charges it: a connection
/// its page size times what it selects (`connection::page_cost`), `nodes` the number of
/// ids times what it selects, `spend` and `familySpend` the periods of their range times
/// what they select (`spend::cost_by_name`), any other field 1 plus what it selects.
fn field_cost(field: &Field, variables: &Variables, paged: &HashSet<String>, selected: usize) -> usize {
    let argument = |name: &str| {
        let value = &field.get_argument(name)?.node;
        value.clone().into_const_with(|variable| variables.get(&variable).cloned().ok_or(())).ok()
    };
    let name = field.name.node.as_str();
    if name == "nodes"
        && let Some(Value::List(ids)) = argument("ids")
    {
        return 1 + ids.len() * selected;
    }
    if let Some(cost) = spend::cost_by_name(name, argument, selected) {
        return cost;
    }
    if paged.contains(name) {
        let first = match argument("first") {
            Some(Value::Number(n)) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
            _ => None,
        };
        return page_cost(first, selected);
    }
    1 + selected
}

/// Walks a selection set; returns its complexity.
fn count(
    document: &ExecutableDocument,
    variables: &Variables,
    reach: &Reach,
    set: &SelectionSet,
    (nesting, level, depth): (usize, usize, usize),
    tally: &mut Tally,
) -> usize {
    if level > MAX_NESTING {
        tally.too_nested = true;
        return 0;
    }
    let mut complexity = 0usize;
    for selection in &set.items {
        if tally.over() {
            return complexity;
        }
        let inner = match &selection.node {
            Selection::Field(field) => {
                tally.fields += 1;
                tally.depth = tally.depth.max(depth + 1);
                if field.node.alias.is_some() {
                    tally.aliases += 1;
                }
                let at = (nesting, level + 1, depth + 1);
                let selected = count(document, variables, reach, &field.node.selection_set.node, at, tally);
                field_cost(&field.node, variables, &reach.paged, selected)
            }
            Selection::InlineFragment(fragment) => {
                let at = (nesting, level + 1, depth);
                count(document, variables, reach, &fragment.node.selection_set.node, at, tally)
            }
            Selection::FragmentSpread(spread) => {
                if nesting >= MAX_FRAGMENT_NESTING {
                    tally.too_nested = true;
                    return complexity;
                }
                match document.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment) => {
                        let at = (nesting + 1, level + 1, depth);
                        count(document, variables, reach, &fragment.node.selection_set.node, at, tally)
                    }
                    None => 0,
                }
            }
        };
        complexity = complexity.saturating_add(inner);
    }
    complexity
}

/// Checks a parsed document against the limits. Depth and complexity are counted over
/// the whole document, exactly as async-graphql counts them: its own checks stay on the
/// schema with the same limits, but this one runs first, so every limit answers with a
/// code of its own (async-graphql's say nothing but their text).
fn check(document: &ExecutableDocument, variables: &Variables, reach: &Reach) -> Result<(), String> {
    let mut complexity = 0usize;
    let mut depth = 0;
    for (_, operation) in document.operations.iter() {
        let mut tally = Tally::default();
        let selected = count(document, variables, reach, &operation.node.selection_set.node, (0, 0, 0), &mut tally);
        complexity = complexity.saturating_add(selected);
        depth = depth.max(tally.depth);
        if tally.too_nested {
            return Err(format!(
                "Query is too complex: fragments nest deeper than {MAX_FRAGMENT_NESTING} or selections deeper than {MAX_NESTING}"
            ));
        }
        if tally.fields > MAX_FIELDS {
            return Err(format!("Query is too complex: it selects more than {MAX_FIELDS} fields"));
        }
        if tally.aliases > MAX_ALIASES {
            return Err(format!("Query is too complex: it uses more than {MAX_ALIASES} aliases"));
        }
    }
    if complexity > MAX_COMPLEXITY {
        return Err("Query is too complex.".to_owned());
    }
    if depth > reach.depth {
        return Err("Query is nested too deep.".to_owned());
    }
    Ok(())
}

/// Parses the request's document (async-graphql keeps it, so it is parsed once) and
/// checks it. A document that does not parse passes: the schema reports the syntax error.
fn refuse_over_limits(request: &mut Request, reach: &Reach) -> Option<Response> {
    // Taken out and put back rather than cloned: the document borrows the request.
    let variables = std::mem::take(&mut request.variables);
    let checked = request.parsed_query().ok().map(|document| check(document, &variables, reach));
    request.variables = variables;
    let message = checked?.err()?;
    Some(Response::from_errors(vec![coded_server_error(message, ErrorCode::QueryTooComplex)]))
}

/// The names of the fields that take a page size, read from the schema's SDL once, so a
/// new connection is charged per page without a list to keep here.
fn paged_fields(schema: &AppSchema) -> HashSet<String> {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let Ok(sdl) = async_graphql::parser::parse_schema(schema.sdl()) else { return HashSet::new() };
    let mut paged = HashSet::new();
    for definition in sdl.definitions {
        let TypeSystemDefinition::Type(definition) = definition else { continue };
        let TypeKind::Object(object) = &definition.node.kind else { continue };
        for field in &object.fields {
            if field.node.arguments.iter().any(|a| a.node.name.node == "first") {
                paged.insert(field.node.name.node.to_string());
            }
        }
    }
    paged
}

/// Input fields whose text may span lines: a message to a person, an invoice line's text.
const MULTI_LINE_FIELDS: [&str; 2] = ["message", "description"];

fn bad_text(text: &str, multi_line: bool) -> bool {
    text.chars().any(|c| c.is_control() && !(multi_line && matches!(c, '\n' | '\r' | '\t')))
}

/// The path of the first string in `value` with a forbidden character.
fn find_bad_text(value: &Value, path: &mut Vec<String>, multi_line: bool) -> bool {
    match value {
        Value::String(text) => bad_text(text, multi_line),
        Value::Enum(name) => bad_text(name.as_str(), false),
        Value::List(items) => items.iter().enumerate().any(|(n, item)| {
            path.push(n.to_string());
            let found = find_bad_text(item, path, multi_line);
            if !found {
                path.pop();
            }
            found
        }),
        Value::Object(fields) => fields.iter().any(|(name, item)| {
            path.push(name.to_string());
            let found = find_bad_text(item, path, MULTI_LINE_FIELDS.contains(&name.as_str()));
            if !found {
                path.pop();
            }
            found
        }),
        _ => false,
    }
}

fn bad_text_in_selections(set: &SelectionSet, path: &mut Vec<String>) -> bool {
    set.items.iter().any(|selection| match &selection.node {
        Selection::Field(field) => {
            path.push(field.node.name.node.to_string());
            let in_arguments = field.node.arguments.iter().any(|(name, value)| {
                path.push(name.node.to_string());
                // Variables are checked with their values; literals here.
                let literal = value.node.clone().into_const_with(|_| Ok::<_, ()>(Value::Null)).unwrap_or(Value::Null);
                let found = find_bad_text(&literal, path, MULTI_LINE_FIELDS.contains(&name.node.as_str()));
                if !found {
                    path.pop();
                }
                found
            });
            let found = in_arguments || bad_text_in_selections(&field.node.selection_set.node, path);
            if !found {
                path.pop();
            }
            found
        }
        Selection::InlineFragment(fragment) => bad_text_in_selections(&fragment.node.selection_set.node, path),
        Selection::FragmentSpread(_) => false,
    })
}

/// Refuses a request carrying a control character in any text input.
fn refuse_control_characters(request: &mut Request) -> Option<Response> {
    let mut path = Vec::new();
    let variables = Value::Object(
        request.variables.iter().map(|(name, value)| (Name::new(format!("${name}")), value.clone())).collect(),
    );
    let mut found = find_bad_text(&variables, &mut path, false);
    if !found && let Ok(document) = request.parsed_query() {
        let sets = document
            .operations
            .iter()
            .map(|(_, op)| &op.node.selection_set.node)
            .chain(document.fragments.values().map(|f| &f.node.selection_set.node));
        for set in sets {
            if bad_text_in_selections(set, &mut path) {
                found = true;
                break;
            }
        }
    }
    if !found {
        return None;
    }
    let field = path.join(".");
    let mut error = coded_server_error(
        format!("`{field}` contains a control character (such as NUL); remove it"),
        ErrorCode::InvalidInput,
    );
    error.extensions.get_or_insert_with(Default::default).set("field", field);
    Some(Response::from_errors(vec![error]))
}

fn refuse(request: &mut Request, reach: &Reach) -> Option<Response> {
    refuse_over_limits(request, reach).or_else(|| refuse_control_characters(request))
}

/// True when every operation of the document asks only for introspection (`__schema`,
/// `__type`, `__typename`): what GraphiQL, codegen and other tools send to learn the schema.
fn introspection_only(request: &mut Request) -> bool {
    let Ok(document) = request.parsed_query() else { return false };
    document.operations.iter().all(|(_, operation)| {
        operation.node.selection_set.node.items.iter().all(|item| match &item.node {
            Selection::Field(field) => matches!(field.node.name.node.as_str(), "__schema" | "__type" | "__typename"),
            _ => false,
        })
    })
}

/// Parsed documents by their text, the most recently used kept. A document longer than
/// `MOST_CACHED_BYTES` is parsed each time: the cache holds at most `CACHED_DOCUMENTS`
/// small documents (a few MiB at worst), whatever clients send.
#[derive(Clone)]
struct DocumentCache(Arc<Mutex<lru::LruCache<String, Arc<ExecutableDocument>>>>);

const CACHED_DOCUMENTS: usize = 256;
const MOST_CACHED_BYTES: usize = 16 * 1024;

impl DocumentCache {
    fn new() -> Self {
        let capacity = NonZeroUsize::new(CACHED_DOCUMENTS).unwrap_or(NonZeroUsize::MIN);
        DocumentCache(Arc::new(Mutex::new(lru::LruCache::new(capacity))))
    }

    /// Gives the request its parsed document: a copy of the cached parse of the same text,
    /// or a fresh parse, kept for next time when it succeeded. A document that does not
    /// parse is left to the schema, which reports the syntax error.
    fn attach(&self, request: &mut Request) {
        if request.query.len() > MOST_CACHED_BYTES {
            return;
        }
        let cached = self.0.lock().ok().and_then(|mut cache| cache.get(request.query.as_str()).cloned());
        if let Some(document) = cached {
            request.set_parsed_query(document.as_ref().clone());
            return;
        }
        let Ok(document) = request.parsed_query() else { return };
        let document = Arc::new(document.clone());
        if let Ok(mut cache) = self.0.lock() {
            cache.put(request.query.clone(), document);
        }
    }
}

/// The schema behind the operation limits. Introspection-only operations run on a twin
/// of the schema whose depth limit fits graphql-js's standard introspection query (its
/// `TypeRef` fragment nests `ofType` ten levels deep, beyond the API's depth of 12);
/// every other limit applies to them as to any operation, and introspection stays off
/// wherever the request disabled it.
#[derive(Clone)]
pub struct LimitedSchema {
    pub schema: AppSchema,
    pub introspection: AppSchema,
    paged: Arc<HashSet<String>>,
    documents: DocumentCache,
}

impl LimitedSchema {
    pub fn new(schema: AppSchema, introspection: AppSchema) -> Self {
        let paged = Arc::new(paged_fields(&schema));
        Self { schema, introspection, paged, documents: DocumentCache::new() }
    }

    /// The schema an operation runs on, and how far it may reach.
    fn for_request(&self, request: &mut Request) -> (&AppSchema, Reach) {
        self.documents.attach(request);
        let paged = self.paged.clone();
        match introspection_only(request) {
            true => (&self.introspection, Reach { depth: INTROSPECTION_DEPTH, paged }),
            false => (&self.schema, Reach { depth: MAX_DEPTH, paged }),
        }
    }
}

impl Executor for LimitedSchema {
    async fn execute(&self, mut request: Request) -> Response {
        let (schema, reach) = self.for_request(&mut request);
        match refuse(&mut request, &reach) {
            Some(refused) => refused,
            None => schema.execute(request).await,
        }
    }

    fn execute_stream(&self, mut request: Request, session_data: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        let (schema, reach) = self.for_request(&mut request);
        match refuse(&mut request, &reach) {
            Some(refused) => stream::once(async move { refused }).boxed(),
            None => schema.execute_stream_with_session_data(request, session_data.unwrap_or_default()),
        }
    }
}
