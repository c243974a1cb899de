//! Canopy's integration tests: one binary, driving the real router with GraphQL documents
//! against a real database (SQLite by default, PostgreSQL when CANOPY_TEST_POSTGRES is set).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod access;
mod attacks;
mod billing;
mod collective;
mod detach;
mod downloads;
mod ecosystem;
mod family;
mod faults;
mod foundation;
mod fuzz;
mod graphiql;
mod hardening;
mod identity;
mod layers;
mod link_requests;
mod moving;
mod outbox;
mod payments;
mod policy;
mod processes;
mod schema;
mod spend;
mod tree_walk;
mod trust;
