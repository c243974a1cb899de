//! Limits on what one operation may ask for, on top of async-graphql's depth and
//! complexity checks: the number of selected fields (including `__typename`, which the
//! built-in complexity check does not count) and of aliases, counted through fragments.
//! It runs as a parse hook, so HTTP and websocket operations are bounded alike.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

/// Most fields one operation may select (fragments counted where they are spread).
pub const MAX_FIELDS: usize = 1_000;
/// Most aliases one operation may use.
pub const MAX_ALIASES: usize = 100;
/// Fragments spread inside fragments deeper than this are refused outright.
const MAX_FRAGMENT_NESTING: usize = 12;

pub struct OperationLimits;

impl ExtensionFactory for OperationLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationLimits)
    }
}

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

fn count(document: &ExecutableDocument, set: &SelectionSet, nesting: usize, tally: &mut Tally) {
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
                count(document, &field.node.selection_set.node, nesting, tally);
            }
            Selection::InlineFragment(fragment) => count(document, &fragment.node.selection_set.node, nesting, tally),
            Selection::FragmentSpread(spread) => {
                if nesting >= MAX_FRAGMENT_NESTING {
                    tally.too_nested = true;
                    return;
                }
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    count(document, &fragment.node.selection_set.node, nesting + 1, tally);
                }
            }
        }
    }
}

/// Checks every operation of a parsed document against the limits.
pub fn check(document: &ExecutableDocument) -> Result<(), String> {
    for (_, operation) in document.operations.iter() {
        let mut tally = Tally::default();
        count(document, &operation.node.selection_set.node, 0, &mut tally);
        if tally.too_nested {
            return Err(format!("Query is too complex: fragments nest deeper than {MAX_FRAGMENT_NESTING}"));
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

#[async_trait::async_trait]
impl Extension for OperationLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        check(&document).map_err(|message| {
            let mut error = ServerError::new(message, None);
            error.extensions.get_or_insert_with(Default::default).set("code", "QUERY_TOO_COMPLEX");
            error
        })?;
        Ok(document)
    }
}
