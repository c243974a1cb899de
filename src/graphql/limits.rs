//! Limits on what one operation may ask for, on top of async-graphql's depth and
//! complexity checks: the number of selected fields (including `__typename`, which the
//! built-in complexity check does not count) and of aliases, counted through fragments.
//!
//! The check wraps the schema as an `Executor` (HTTP and websockets both execute through
//! it) rather than being a schema extension: any extension puts async-graphql on a slower
//! path for every resolved field, and the tree query resolves about 15,000 of them.

use std::sync::Arc;

use async_graphql::futures_util::stream::{self, BoxStream, StreamExt};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Data, Executor, Request, Response, ServerError};

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
    let mut error = ServerError::new(message, None);
    error.extensions.get_or_insert_with(Default::default).set("code", "QUERY_TOO_COMPLEX");
    Some(Response::from_errors(vec![error]))
}

/// The schema behind the operation limits.
#[derive(Clone)]
pub struct LimitedSchema(pub AppSchema);

impl Executor for LimitedSchema {
    async fn execute(&self, mut request: Request) -> Response {
        match refuse_over_limits(&mut request) {
            Some(refused) => refused,
            None => self.0.execute(request).await,
        }
    }

    fn execute_stream(&self, mut request: Request, session_data: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        match refuse_over_limits(&mut request) {
            Some(refused) => stream::once(async move { refused }).boxed(),
            None => self.0.execute_stream_with_session_data(request, session_data.unwrap_or_default()),
        }
    }
}
