//! Relay connections with keyset cursors (never OFFSET): a cursor is the opaque key of
//! the last row seen, and a page is fetched as `first + 1` rows to know if more follow.

use async_graphql::OutputType;
use async_graphql::connection::{Connection, CursorType, Edge, OpaqueCursor};

use crate::error::{AppError, AppResult};

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

pub type IdCursor = OpaqueCursor<i64>;
pub type IdConnection<T> = Connection<IdCursor, T>;

/// The declared cost of a connection field: its page size times what each node selects.
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let page = first.map(|n| n.clamp(0, MAX_PAGE_SIZE as i32) as usize).unwrap_or(DEFAULT_PAGE_SIZE as usize);
    1 + page.max(1) * child_complexity
}

/// Page size from `first`: default 20, at most 100.
pub fn page_size(first: Option<i32>) -> AppResult<u64> {
    match first {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if (0..=MAX_PAGE_SIZE as i32).contains(&n) => Ok(n as u64),
        Some(_) => Err(AppError::InvalidInput(format!("`first` must be between 0 and {MAX_PAGE_SIZE}"))),
    }
}

pub fn decode_cursor<K: serde::Serialize + serde::de::DeserializeOwned>(after: Option<&str>) -> AppResult<Option<K>> {
    after
        .map(|c| {
            OpaqueCursor::<K>::decode_cursor(c)
                .map(|c| c.0)
                .map_err(|_| AppError::InvalidInput("malformed cursor".into()))
        })
        .transpose()
}

/// Builds a connection from `first + 1` fetched rows.
pub fn connection_from_rows<R, T, K>(
    mut rows: Vec<R>,
    first: u64,
    has_previous: bool,
    key: impl Fn(&R) -> K,
    node: impl Fn(R) -> T,
) -> Connection<OpaqueCursor<K>, T>
where
    T: OutputType,
    K: serde::Serialize + serde::de::DeserializeOwned + Send + Sync,
{
    let has_next = rows.len() as u64 > first;
    rows.truncate(first as usize);
    connection_of_page(rows, has_previous, has_next, key, node)
}

/// A connection of a page already cut to size.
pub fn connection_of_page<R, T, K>(
    rows: impl IntoIterator<Item = R>,
    has_previous: bool,
    has_next: bool,
    key: impl Fn(&R) -> K,
    node: impl Fn(R) -> T,
) -> Connection<OpaqueCursor<K>, T>
where
    T: OutputType,
    K: serde::Serialize + serde::de::DeserializeOwned + Send + Sync,
{
    let mut connection = Connection::new(has_previous, has_next);
    connection.edges.extend(rows.into_iter().map(|row| Edge::new(OpaqueCursor(key(&row)), node(row))));
    connection
}
