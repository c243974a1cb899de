//! The read layer: every query that the API, the downloads and the subscriptions run.
//!
//! Each read takes the viewer and returns only rows the viewer may see, deciding with the
//! one policy (`domain::access`): an SQL condition from its rule table where rows are
//! selected, or its row check where they are already in hand. Nothing above this layer
//! queries the database (`graphql/` imports no SeaORM query traits; a test checks it), so
//! a new field cannot forget the policy: it can only ask here.
//!
//! - `loaders`: the per-request `Reader` and one DataLoader key per relation.
//! - `tree`: a page of accounts with their first secondaries and relations, in one go.
//! - `accounts`, `invoices`, `groups`, `link_requests`, `audit`, `products`, `events`, `documents`, `outbox`: the
//!   lists, lookups and downloads the resolvers and handlers ask for.
//! - `rows`, `invoice_page`: decoding of the hot rows by position.

pub mod accounts;
pub mod audit;
pub mod documents;
pub mod events;
pub mod groups;
pub mod invoice_page;
pub mod invoices;
pub mod link_requests;
pub mod loaders;
pub mod outbox;
pub mod products;
pub mod rows;
pub mod tree;
