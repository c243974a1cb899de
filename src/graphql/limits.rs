//! Limits on what one operation may ask for, on top of async-graphql's depth and
//! complexity checks: the number of selected fields (including `__typename`, which the
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

use std::sync::Arc;

use async_graphql::futures_util::stream::{self, BoxStream, StreamExt};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Data, Executor, Name, Request, Response, Value};

use crate::error::coded_server_error;
use crate::graphql::AppSchema;

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
}

impl Tally {
    fn over(&self) -> bool {
        self.fields > MAX_FIELDS || self.aliases > MAX_ALIASES || self.too_nested
    }
}

fn count(document: &ExecutableDocument, set: &SelectionSet, nesting: usize, depth: usize, tally: &mut Tally) {
    if depth > MAX_NESTING {
        tally.too_nested = true;
        return;
    }
    for selection in &set.items {
        if tally.over() {
            return;
        }
        match &selection.node {
            Selection::Field(field) => {
                tally.fields += 1;
                if field.node.alias.is_some() {
                    tally.aliases += 1;
                }
                count(document, &field.node.selection_set.node, nesting, depth + 1, tally);
            }
            Selection::InlineFragment(fragment) => {
                count(document, &fragment.node.selection_set.node, nesting, depth + 1, tally)
            }
            Selection::FragmentSpread(spread) => {
                if nesting >= MAX_FRAGMENT_NESTING {
                    tally.too_nested = true;
                    return;
                }
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    count(document, &fragment.node.selection_set.node, nesting + 1, depth + 1, tally);
                }
            }
        }
    }
}

/// Checks every operation of a parsed document against the limits.
pub fn check(document: &ExecutableDocument) -> Result<(), String> {
    for (_, operation) in document.operations.iter() {
        let mut tally = Tally::default();
        count(document, &operation.node.selection_set.node, 0, 0, &mut tally);
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
    Ok(())
}

/// Parses the request's document (async-graphql keeps it, so it is parsed once) and
/// checks it. A document that does not parse passes: the schema reports the syntax error.
fn refuse_over_limits(request: &mut Request) -> Option<Response> {
    let document = request.parsed_query().ok()?;
    let message = check(document).err()?;
    Some(Response::from_errors(vec![coded_server_error(message, "QUERY_TOO_COMPLEX")]))
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
    let mut error =
        coded_server_error(format!("`{field}` contains a control character (such as NUL); remove it"), "INVALID_INPUT");
    error.extensions.get_or_insert_with(Default::default).set("field", field);
    Some(Response::from_errors(vec![error]))
}

fn refuse(request: &mut Request) -> Option<Response> {
    refuse_over_limits(request).or_else(|| refuse_control_characters(request))
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

/// The schema behind the operation limits. Introspection-only operations run on a twin
/// of the schema whose depth limit fits graphql-js's standard introspection query (its
/// `TypeRef` fragment nests `ofType` ten levels deep, beyond the API's depth of 12);
/// every other limit applies to them as to any operation, and introspection stays off
/// wherever the request disabled it.
#[derive(Clone)]
pub struct LimitedSchema {
    pub schema: AppSchema,
    pub introspection: AppSchema,
}

impl LimitedSchema {
    pub fn new(schema: AppSchema, introspection: AppSchema) -> Self {
        Self { schema, introspection }
    }

    fn for_request(&self, request: &mut Request) -> &AppSchema {
        if introspection_only(request) { &self.introspection } else { &self.schema }
    }
}

impl Executor for LimitedSchema {
    async fn execute(&self, mut request: Request) -> Response {
        match refuse(&mut request) {
            Some(refused) => refused,
            None => self.for_request(&mut request).execute(request).await,
        }
    }

    fn execute_stream(&self, mut request: Request, session_data: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        match refuse(&mut request) {
            Some(refused) => stream::once(async move { refused }).boxed(),
            None => self
                .for_request(&mut request)
                .execute_stream_with_session_data(request, session_data.unwrap_or_default()),
        }
    }
}
