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

use async_graphql::connection::CursorType;
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

/// The selected fields, when every one is a plain field without arguments or
/// directives (fragments and repeated response keys also take the general path).
fn plain_fields(set: &SelectionSet) -> Option<impl Iterator<Item = &Field>> {
    let mut fields = Vec::with_capacity(set.items.len());
    for selection in &set.items {
        let Selection::Field(field) = &selection.node else { return None };
        let field = &field.node;
        if !field.arguments.is_empty() || !field.directives.is_empty() {
            return None;
        }
        if fields.iter().any(|f: &&Field| f.response_key().node == field.response_key().node) {
            return None;
        }
        fields.push(field);
    }
    Some(fields.into_iter())
}

fn object(set: &SelectionSet, mut value_of: impl FnMut(&Field) -> Option<Value>) -> Option<Value> {
    let fields = plain_fields(set)?;
    let mut map = IndexMap::with_capacity(set.items.len());
    for field in fields {
        map.insert(field.response_key().node.clone(), value_of(field)?);
    }
    Some(Value::Object(map))
}

fn leaf<T: PlainFields>(set: &SelectionSet, value: &T) -> Option<Value> {
    object(set, |field| {
        if !field.selection_set.node.items.is_empty() {
            return None;
        }
        match field.name.node.as_str() {
            "__typename" => Some(Value::String(value.introspection_type_name().into_owned())),
            name => value.plain_field(name),
        }
    })
}

fn cursor_value(cursor: Option<String>) -> Value {
    cursor.map(Value::String).unwrap_or(Value::Null)
}

fn connection<T: PlainFields>(set: &SelectionSet, page: &IdConnection<T>) -> Option<Value> {
    let edge_type = format!("{}Edge", T::type_name());
    object(set, |field| {
        let selected = &field.selection_set.node;
        match field.name.node.as_str() {
            "__typename" => Some(Value::String(IdConnection::<T>::type_name().into_owned())),
            "edges" => {
                let edges = page.edges.iter().map(|edge| {
                    object(selected, |f| match f.name.node.as_str() {
                        "__typename" => Some(Value::String(edge_type.clone())),
                        "cursor" => Some(Value::String(edge.cursor.encode_cursor())),
                        "node" => leaf(&f.selection_set.node, &edge.node),
                        _ => None,
                    })
                });
                edges.collect::<Option<Vec<_>>>().map(Value::List)
            }
            "nodes" => page.edges.iter().map(|e| leaf(selected, &e.node)).collect::<Option<Vec<_>>>().map(Value::List),
            "pageInfo" => object(selected, |f| match f.name.node.as_str() {
                "__typename" => Some(Value::String("PageInfo".into())),
                "hasPreviousPage" => Some(Value::Boolean(page.has_previous_page)),
                "hasNextPage" => Some(Value::Boolean(page.has_next_page)),
                "startCursor" => Some(cursor_value(page.edges.first().map(|e| e.cursor.encode_cursor()))),
                "endCursor" => Some(cursor_value(page.edges.last().map(|e| e.cursor.encode_cursor()))),
                _ => None,
            }),
            _ => None,
        }
    })
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
