//! A fast path for plain selections of leaf-like objects.
//!
//! async-graphql resolves every field as a boxed future, joined per object, and the tree
//! query selects about 20,000 of them, most inside invoice connections (`edges { node {
//! number status totalCents ... } }`). Measured with perf, that machinery cost far more
//! than the data. For objects whose selected fields are all plain (stored values: no
//! arguments, no directives, no fragments, no I/O), the wrappers here build the response
//! value directly from the selection set. Anything else falls back to the general
//! resolver, so results never depend on which path ran (a test compares them).
//!
//! The wrappers register exactly the wrapped type, so the schema does not change.

use std::borrow::Cow;

use async_graphql::connection::{CursorType, OpaqueCursor};
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{ContextSelectionSet, OutputType, Positioned, ServerResult, Value};

use crate::graphql::connection::IdConnection;

/// An object some of whose fields are stored values.
pub trait PlainFields: OutputType {
    /// The value of field `name` when it needs nothing but `self`; `None` when the field
    /// needs the general resolver (arguments, loaders, rights).
    fn plain_field(&self, name: &str) -> Option<Value>;
}

/// The selected fields, when none has directives (fragments and repeated response keys
/// also take the general path). Arguments are left to each field's `value_of`.
fn plain_fields(set: &SelectionSet) -> Option<Vec<&Field>> {
    let mut fields = Vec::with_capacity(set.items.len());
    for selection in &set.items {
        let Selection::Field(field) = &selection.node else { return None };
        let field = &field.node;
        if !field.directives.is_empty() {
            return None;
        }
        if fields.iter().any(|f: &&Field| f.response_key().node == field.response_key().node) {
            return None;
        }
        fields.push(field);
    }
    Some(fields)
}

/// The object value of `set`, field by field; `None` as soon as one field is not plain.
pub fn object(set: &SelectionSet, mut value_of: impl FnMut(&Field) -> Option<Value>) -> Option<Value> {
    let fields = plain_fields(set)?;
    let mut map = IndexMap::with_capacity(fields.len());
    for field in fields {
        map.insert(field.response_key().node.clone(), value_of(field)?);
    }
    Some(Value::Object(map))
}

/// An object of stored values: every selected field a leaf without arguments, valued by
/// `value_of(name)`.
pub fn leaf_of(set: &SelectionSet, type_name: &str, value_of: impl Fn(&str) -> Option<Value>) -> Option<Value> {
    object(set, |field| {
        if !field.arguments.is_empty() || !field.selection_set.node.items.is_empty() {
            return None;
        }
        match field.name.node.as_str() {
            "__typename" => Some(Value::String(type_name.to_owned())),
            name => value_of(name),
        }
    })
}

fn leaf<T: PlainFields>(set: &SelectionSet, value: &T) -> Option<Value> {
    leaf_of(set, &value.introspection_type_name(), |name| value.plain_field(name))
}

fn cursor_value(id: Option<i64>) -> Value {
    id.map(|id| Value::String(OpaqueCursor(id).encode_cursor())).unwrap_or(Value::Null)
}

/// A page of `items` shown as the connection of `node_type` (`XConnection` of `XEdge`),
/// with id cursors; each node valued by `node(selection, item)`.
pub fn connection_of<I>(
    set: &SelectionSet,
    node_type: &str,
    items: &[I],
    has_previous_page: bool,
    has_next_page: bool,
    id: impl Fn(&I) -> i64,
    node: impl Fn(&SelectionSet, &I) -> Option<Value>,
) -> Option<Value> {
    object(set, |field| {
        if !field.arguments.is_empty() {
            return None;
        }
        let selected = &field.selection_set.node;
        match field.name.node.as_str() {
            "__typename" => Some(Value::String(format!("{node_type}Connection"))),
            "edges" => {
                let edges = items.iter().map(|item| {
                    object(selected, |f| {
                        if !f.arguments.is_empty() {
                            return None;
                        }
                        match f.name.node.as_str() {
                            "__typename" => Some(Value::String(format!("{node_type}Edge"))),
                            "cursor" => Some(cursor_value(Some(id(item)))),
                            "node" => node(&f.selection_set.node, item),
                            _ => None,
                        }
                    })
                });
                edges.collect::<Option<Vec<_>>>().map(Value::List)
            }
            "nodes" => items.iter().map(|item| node(selected, item)).collect::<Option<Vec<_>>>().map(Value::List),
            "pageInfo" => leaf_of(selected, "PageInfo", |name| match name {
                "hasPreviousPage" => Some(Value::Boolean(has_previous_page)),
                "hasNextPage" => Some(Value::Boolean(has_next_page)),
                "startCursor" => Some(cursor_value(items.first().map(&id))),
                "endCursor" => Some(cursor_value(items.last().map(&id))),
                _ => None,
            }),
            _ => None,
        }
    })
}

fn connection<T: PlainFields>(set: &SelectionSet, page: &IdConnection<T>) -> Option<Value> {
    connection_of(
        set,
        &T::type_name(),
        &page.edges,
        page.has_previous_page,
        page.has_next_page,
        |edge| edge.cursor.0,
        |selected, edge| leaf(selected, &edge.node),
    )
}

/// `T`, resolved by the fast path when its selection is plain.
pub struct Plain<T>(pub T);

impl<T: PlainFields> OutputType for Plain<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.0.introspection_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        match leaf(&ctx.item.node, &self.0) {
            Some(value) => Ok(value),
            None => self.0.resolve(ctx, field).await,
        }
    }
}

/// A connection of `T`, resolved by the fast path when its selection is plain.
pub struct PlainConnection<T: OutputType>(pub IdConnection<T>);

impl<T: PlainFields> OutputType for PlainConnection<T> {
    fn type_name() -> Cow<'static, str> {
        IdConnection::<T>::type_name()
    }

    fn qualified_type_name() -> String {
        IdConnection::<T>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        IdConnection::<T>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        match connection(&ctx.item.node, &self.0) {
            Some(value) => Ok(value),
            None => self.0.resolve(ctx, field).await,
        }
    }
}
