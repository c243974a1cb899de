//! A fast path for plain selections: their JSON written straight from the rows.
//!
//! async-graphql resolves every field as a boxed future, collects the results into a
//! `Value` tree (a hashed map per object, a string per value) and then serialises that
//! tree. The SPA's tree query selects about 20,000 fields, most of them stored values
//! inside connections (`edges { node { number status totalCents ... } }`): measured with
//! perf, that machinery cost several times the data. For objects whose selected fields
//! are all plain (stored values: no directives, no fragments, no I/O), the functions here
//! write the response's JSON text directly from the selection set.
//!
//! The text travels to the HTTP layer as `Value::Binary` (a variant no field of this
//! schema produces otherwise), and `write_response` sends it in the body as it is.
//! Only requests whose response `write_response` writes allow it (`RequestContext::
//! prewritten_json`); elsewhere (websockets) and for anything not plain, the general
//! resolvers run, so results never depend on which path ran (tests compare them).
//!
//! The wrappers register exactly the wrapped type, so the schema does not change.

use std::borrow::Cow;

use async_graphql::connection::{CursorType, OpaqueCursor};
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::EnumType;
use async_graphql::{ContextSelectionSet, OutputType, Positioned, ServerResult, Value};
use axum::body::Bytes;

use crate::graphql::connection::IdConnection;
use crate::graphql::context::RequestContext;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::scalars::{Cents, Date, Money};

/// The value of a plain field, borrowed from its row where it can be.
pub enum RowValue<'a> {
    Str(&'a str),
    Int(i64),
    /// An enum value's GraphQL name.
    Enum(&'static str),
    Date(Date),
    /// Anything else, as async-graphql renders it.
    Value(Value),
}

impl RowValue<'_> {
    /// The enum value's GraphQL name (as `resolver_utils::enum_value` gives it).
    pub fn enum_of<E: EnumType>(value: E) -> RowValue<'static> {
        match E::items().iter().find(|item| item.value == value) {
            Some(item) => RowValue::Enum(item.name),
            None => RowValue::Value(Value::Null),
        }
    }

    pub fn optional(text: Option<&str>) -> RowValue<'_> {
        text.map(RowValue::Str).unwrap_or(RowValue::Value(Value::Null))
    }
}

/// An object some of whose fields are stored values.
pub trait RowFields: OutputType {
    /// The value of field `name` when it needs nothing but `self`; `None` when the field
    /// needs the general resolver (arguments, loaders, rights).
    fn row_field(&self, name: &str) -> Option<RowValue<'_>>;
}

/// JSON text being written. Every writer answers `None` when the selection is not plain
/// (the caller then drops the text and takes the general path).
#[derive(Default)]
pub struct Json {
    text: Vec<u8>,
    /// Selection sets already checked by `object` (by address): the tree query writes the
    /// same few sets thousands of times.
    plain_sets: Vec<usize>,
}

impl Json {
    /// Room for about `bytes` of text, so a large page is not copied as it grows.
    pub fn with_capacity(bytes: usize) -> Json {
        Json { text: Vec::with_capacity(bytes), plain_sets: Vec::new() }
    }

    fn push(&mut self, text: &str) {
        self.text.extend_from_slice(text.as_bytes());
    }

    /// A GraphQL name (a key, `__typename`, an enum value): letters, digits and `_` only,
    /// so it needs no escaping.
    fn name(&mut self, name: &str) {
        self.text.push(b'"');
        self.push(name);
        self.text.push(b'"');
    }

    pub fn string(&mut self, text: &str) -> Option<()> {
        // Stored text (numbers, names, currencies) rarely needs escaping, and checking for
        // the bytes JSON escapes (as serde_json does) then copying is cheaper than its
        // byte-by-byte writer.
        if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.text.reserve(text.len() + 2);
            self.text.push(b'"');
            self.text.extend_from_slice(text.as_bytes());
            self.text.push(b'"');
            return Some(());
        }
        serde_json::to_writer(&mut self.text, text).ok()
    }

    /// A global id, written straight into the text (see `ids::write_encoded`).
    pub fn global_id(&mut self, node_type: NodeType, id: i64) -> Option<()> {
        self.text.push(b'"');
        ids::write_encoded(node_type, id, &mut self.text);
        self.text.push(b'"');
        Some(())
    }

    pub fn stored(&mut self, value: &RowValue<'_>) -> Option<()> {
        match value {
            RowValue::Str(text) => self.string(text),
            RowValue::Int(number) => serde_json::to_writer(&mut self.text, number).ok(),
            RowValue::Enum(name) => {
                self.name(name);
                Some(())
            }
            RowValue::Date(date) => {
                self.text.push(b'"');
                date.write_to(&mut self.text);
                self.text.push(b'"');
                Some(())
            }
            RowValue::Value(value) => write_value(value, &mut self.text).ok(),
        }
    }

    /// A list of what `item` writes for each of `items`.
    pub fn list<I>(&mut self, items: &[I], mut item: impl FnMut(&I, &mut Json) -> Option<()>) -> Option<()> {
        self.text.push(b'[');
        for (n, each) in items.iter().enumerate() {
            if n > 0 {
                self.text.push(b',');
            }
            item(each, self)?;
        }
        self.text.push(b']');
        Some(())
    }

    /// The text as a value for async-graphql to carry to `write_response`.
    pub fn into_value(self) -> Value {
        Value::Binary(Bytes::from(self.text))
    }
}

/// Whether this request's response is written by `write_response`, which takes
/// `Value::Binary` as JSON text written ahead.
pub fn prewritten_json(ctx: &ContextSelectionSet<'_>) -> bool {
    ctx.data::<RequestContext>().is_ok_and(|request| request.prewritten_json)
}

/// Whether every selection of `set` is a field without directives, each response key
/// once (fragments and directives take the general path).
fn is_plain(set: &SelectionSet) -> bool {
    set.items.iter().enumerate().all(|(n, selection)| {
        let Selection::Field(field) = &selection.node else { return false };
        let key = &field.node.response_key().node;
        let repeated =
            set.items[..n].iter().any(|s| matches!(&s.node, Selection::Field(f) if f.node.response_key().node == *key));
        field.node.directives.is_empty() && !repeated
    })
}

/// Writes the object `set` selects, field by field, each with `value_of`; `None` when a
/// selection is a fragment, has directives or repeats a response key, or when
/// `value_of` gives up on a field.
pub fn object(
    set: &SelectionSet,
    out: &mut Json,
    mut value_of: impl FnMut(&Field, &mut Json) -> Option<()>,
) -> Option<()> {
    let address = set as *const SelectionSet as usize;
    if !out.plain_sets.contains(&address) {
        if !is_plain(set) {
            return None;
        }
        out.plain_sets.push(address);
    }
    out.text.push(b'{');
    for (n, selection) in set.items.iter().enumerate() {
        let Selection::Field(field) = &selection.node else { return None };
        let field = &field.node;
        if n > 0 {
            out.text.push(b',');
        }
        out.name(&field.response_key().node);
        out.text.push(b':');
        value_of(field, out)?;
    }
    out.text.push(b'}');
    Some(())
}

/// Writes an object of stored values: every selected field a leaf without arguments,
/// valued by `value_of(name)`.
pub fn leaf<'a>(
    set: &SelectionSet,
    type_name: &str,
    out: &mut Json,
    value_of: impl Fn(&str) -> Option<RowValue<'a>>,
) -> Option<()> {
    object(set, out, |field, out| {
        if !field.arguments.is_empty() || !field.selection_set.node.items.is_empty() {
            return None;
        }
        match field.name.node.as_str() {
            "__typename" => out.string(type_name),
            name => out.stored(&value_of(name)?),
        }
    })
}

/// A plain selection of leaf fields, read once for the many objects written with it:
/// the text before each value (`{"key":`, then `,"key":`) and which field gives it. The
/// tree query writes ~3,000 invoices with one selection; matching each field's name for
/// each of them was most of writing them.
pub struct LeafPlan<F> {
    keys: Vec<Vec<u8>>,
    fields: Vec<F>,
}

impl<F: Copy> LeafPlan<F> {
    /// The plan of `set`, when `leaf` would write it: every selection a field without
    /// directives, arguments or a selection of its own, each response key once, and
    /// every name one `field_of` knows (it is asked for `__typename` too).
    pub fn of(set: &SelectionSet, field_of: impl Fn(&str) -> Option<F>) -> Option<Self> {
        if !is_plain(set) {
            return None;
        }
        let mut plan = LeafPlan { keys: Vec::new(), fields: Vec::new() };
        for selection in &set.items {
            let Selection::Field(field) = &selection.node else { return None };
            let field = &field.node;
            if !field.arguments.is_empty() || !field.selection_set.node.items.is_empty() {
                return None;
            }
            let mut key = Vec::new();
            key.push(if plan.keys.is_empty() { b'{' } else { b',' });
            key.push(b'"');
            key.extend_from_slice(field.response_key().node.as_bytes());
            key.extend_from_slice(b"\":");
            plan.keys.push(key);
            plan.fields.push(field_of(field.name.node.as_str())?);
        }
        Some(plan)
    }

    /// Writes one object: each key, then what `value(field, out)` writes.
    pub fn write(&self, out: &mut Json, mut value: impl FnMut(F, &mut Json) -> Option<()>) -> Option<()> {
        if self.fields.is_empty() {
            out.text.push(b'{');
        }
        for (key, field) in self.keys.iter().zip(&self.fields) {
            out.text.extend_from_slice(key);
            value(*field, out)?;
        }
        out.text.push(b'}');
        Some(())
    }
}

fn cursor(id: Option<i64>) -> RowValue<'static> {
    RowValue::Value(id.map(|id| Value::String(OpaqueCursor(id).encode_cursor())).unwrap_or(Value::Null))
}

/// Writes a page of `items` as the connection of `node_type` (`XConnection` of `XEdge`),
/// with id cursors; each node written by `node(selection, item, out)`.
#[allow(clippy::too_many_arguments)]
pub fn connection<I>(
    set: &SelectionSet,
    node_type: &str,
    items: &[I],
    has_previous_page: bool,
    has_next_page: bool,
    id: impl Fn(&I) -> i64,
    node: impl Fn(&SelectionSet, &I, &mut Json) -> Option<()>,
    out: &mut Json,
) -> Option<()> {
    let page = Page { node_type, items, has_previous_page, has_next_page };
    page.write(set, |item| cursor(Some(id(item))), node, |_, _| None, out)
}

/// A page of a connection as the fast path writes it.
pub struct Page<'a, I> {
    /// `X` of `XConnection` and `XEdge`.
    pub node_type: &'a str,
    pub items: &'a [I],
    pub has_previous_page: bool,
    pub has_next_page: bool,
}

impl<I> Page<'_, I> {
    /// Writes the connection `set` selects: each edge's cursor is `cursor_of(item)`, each
    /// node written by `node(selection, item, out)`, and any field of the connection's own
    /// (beside `edges`, `nodes` and `pageInfo`) by `more(field, out)`.
    pub fn write(
        &self,
        set: &SelectionSet,
        cursor_of: impl Fn(&I) -> RowValue<'static>,
        node: impl Fn(&SelectionSet, &I, &mut Json) -> Option<()>,
        more: impl Fn(&Field, &mut Json) -> Option<()>,
        out: &mut Json,
    ) -> Option<()> {
        let node_type = self.node_type;
        object(set, out, |field, out| {
            if !field.arguments.is_empty() {
                return None;
            }
            let selected = &field.selection_set.node;
            match field.name.node.as_str() {
                "__typename" => out.string(&format!("{node_type}Connection")),
                "edges" => out.list(self.items, |item, out| {
                    object(selected, out, |f, out| {
                        if !f.arguments.is_empty() {
                            return None;
                        }
                        match f.name.node.as_str() {
                            "__typename" => out.string(&format!("{node_type}Edge")),
                            "cursor" => out.stored(&cursor_of(item)),
                            "node" => node(&f.selection_set.node, item, out),
                            _ => None,
                        }
                    })
                }),
                "nodes" => out.list(self.items, |item, out| node(selected, item, out)),
                "pageInfo" => leaf(selected, "PageInfo", out, |name| match name {
                    "hasPreviousPage" => Some(RowValue::Value(Value::Boolean(self.has_previous_page))),
                    "hasNextPage" => Some(RowValue::Value(Value::Boolean(self.has_next_page))),
                    "startCursor" => Some(self.items.first().map_or(RowValue::Value(Value::Null), &cursor_of)),
                    "endCursor" => Some(self.items.last().map_or(RowValue::Value(Value::Null), &cursor_of)),
                    _ => None,
                }),
                _ => more(field, out),
            }
        })
    }
}

/// Where JSON text goes: a buffer, or a response body, which takes the text written
/// ahead (`Value::Binary`) as it is instead of copying it.
pub trait JsonSink: std::io::Write {
    fn prewritten(&mut self, json: &Bytes);
}

impl JsonSink for Vec<u8> {
    fn prewritten(&mut self, json: &Bytes) {
        self.extend_from_slice(json);
    }
}

/// Writes a value as JSON, the text written ahead (`Value::Binary`) as it is.
pub fn write_value(value: &Value, out: &mut impl JsonSink) -> serde_json::Result<()> {
    match value {
        Value::Binary(json) => out.prewritten(json),
        Value::List(items) => {
            out.write_all(b"[").map_err(serde_json::Error::io)?;
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.write_all(b",").map_err(serde_json::Error::io)?;
                }
                write_value(item, out)?;
            }
            out.write_all(b"]").map_err(serde_json::Error::io)?;
        }
        Value::Object(fields) => {
            out.write_all(b"{").map_err(serde_json::Error::io)?;
            for (n, (key, item)) in fields.iter().enumerate() {
                if n > 0 {
                    out.write_all(b",").map_err(serde_json::Error::io)?;
                }
                serde_json::to_writer(&mut *out, key.as_str())?;
                out.write_all(b":").map_err(serde_json::Error::io)?;
                write_value(item, out)?;
            }
            out.write_all(b"}").map_err(serde_json::Error::io)?;
        }
        other => serde_json::to_writer(out, other)?,
    }
    Ok(())
}

/// A response's body: text written for it, and between it the text written ahead, sent
/// as it was written. Copying a tree query's ~400 KB into one buffer was 1.3% of its CPU,
/// and at c=32 another 13 MB held at once.
#[derive(Default)]
pub struct ResponseBody {
    chunks: std::collections::VecDeque<Bytes>,
    text: Vec<u8>,
    length: u64,
}

impl ResponseBody {
    fn end_text(&mut self) {
        if !self.text.is_empty() {
            let text = Bytes::from(std::mem::take(&mut self.text));
            self.length += text.len() as u64;
            self.chunks.push_back(text);
        }
    }
}

impl std::io::Write for ResponseBody {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl JsonSink for ResponseBody {
    fn prewritten(&mut self, json: &Bytes) {
        self.end_text();
        self.length += json.len() as u64;
        self.chunks.push_back(json.clone());
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let chunk = self.chunks.pop_front();
        if let Some(chunk) = &chunk {
            self.length -= chunk.len() as u64;
        }
        std::task::Poll::Ready(chunk.map(|chunk| Ok(http_body::Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.length)
    }
}

/// A response as `serde_json` writes `async_graphql::Response`, with the text written
/// ahead sent as it is.
pub fn write_response(response: &async_graphql::Response) -> serde_json::Result<ResponseBody> {
    use std::io::Write;
    let mut out = ResponseBody { text: Vec::with_capacity(4096), ..ResponseBody::default() };
    let io = serde_json::Error::io;
    out.write_all(b"{\"data\":").map_err(io)?;
    write_value(&response.data, &mut out)?;
    if !response.extensions.is_empty() {
        out.write_all(b",\"extensions\":").map_err(io)?;
        serde_json::to_writer(&mut out, &response.extensions)?;
    }
    if !response.errors.is_empty() {
        out.write_all(b",\"errors\":").map_err(io)?;
        serde_json::to_writer(&mut out, &response.errors)?;
    }
    out.write_all(b"}").map_err(io)?;
    out.end_text();
    Ok(out)
}

/// `T`, written by the fast path when its selection is plain.
pub struct Prewritten<T>(pub T);

impl<T: RowFields> OutputType for Prewritten<T> {
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
        if prewritten_json(ctx) {
            let mut out = Json::default();
            let type_name = self.0.introspection_type_name();
            if leaf(&ctx.item.node, &type_name, &mut out, |name| self.0.row_field(name)).is_some() {
                return Ok(out.into_value());
            }
        }
        self.0.resolve(ctx, field).await
    }
}

/// A connection of `T`, written by the fast path when its selection is plain.
pub struct PrewrittenConnection<T: OutputType>(pub IdConnection<T>);

impl<T: RowFields> OutputType for PrewrittenConnection<T> {
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
        if prewritten_json(ctx) {
            let page = &self.0;
            let mut out = Json::default();
            let written = connection(
                &ctx.item.node,
                &T::type_name(),
                &page.edges,
                page.has_previous_page,
                page.has_next_page,
                |edge| edge.cursor.0,
                |set, edge, out| leaf(set, &edge.node.introspection_type_name(), out, |n| edge.node.row_field(n)),
                &mut out,
            );
            if written.is_some() {
                return Ok(out.into_value());
            }
        }
        self.0.resolve(ctx, field).await
    }
}

/// The fast path's view of `Money` (both fields are stored values).
impl RowFields for Money {
    fn row_field(&self, name: &str) -> Option<RowValue<'_>> {
        money_field(self.amount_cents, &self.currency, name)
    }
}

/// The value of a field of `Money` for the amount `cents` in `currency`.
pub fn money_field<'a>(cents: Cents, currency: &'a str, name: &str) -> Option<RowValue<'a>> {
    match name {
        "amountCents" => Some(RowValue::Int(cents.0)),
        "currency" => Some(RowValue::Str(currency)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::Json;

    /// `Json::string` writes what serde_json writes, on both of its paths.
    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        for text in [
            "",
            "INV-2026-000001",
            "Zoë's \u{1F332} café",
            "a \"quoted\" name",
            "back\\slash",
            "tab\tnew\nline\u{7}",
            "\u{7F}",
        ] {
            let mut json = Json::with_capacity(0);
            json.string(text);
            assert_eq!(String::from_utf8(json.text).ok(), serde_json::to_string(text).ok(), "{text:?}");
        }
    }
}
