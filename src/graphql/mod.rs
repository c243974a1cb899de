//! The GraphQL schema: roots merged from one module per domain type.

pub mod account;
pub mod admin;
pub mod audit;
pub mod connection;
pub mod context;
pub mod family;
pub mod group;
pub mod ids;
pub mod invoice;
pub mod limits;
pub mod node;
pub mod payload;
pub mod payment;
pub mod plain;
pub mod prefetch;
pub mod product;
pub mod scalars;
pub mod subscription;
pub mod tree;
pub mod user;

use async_graphql::{MergedObject, Schema, SchemaBuilder};

#[derive(MergedObject, Default)]
pub struct QueryRoot(
    user::UserQuery,
    node::NodeQuery,
    product::ProductQuery,
    family::FamilyQuery,
    audit::AuditQuery,
    invoice::InvoiceQuery,
);

#[derive(MergedObject, Default)]
pub struct MutationRoot(
    user::UserMutation,
    family::FamilyMutation,
    group::GroupMutation,
    admin::AdminMutation,
    invoice::InvoiceMutation,
    payment::PaymentMutation,
);

pub type AppSchema = Schema<QueryRoot, MutationRoot, subscription::SubscriptionRoot>;

/// Most complexity one operation may have. Every list field declares its cost as its
/// page size times what it selects; the SPA's tree query (20 mains × 25 secondaries ×
/// latest 5 invoices) costs about 20,000.
pub const MAX_COMPLEXITY: usize = 60_000;

/// The schema with its limits and no data attached (the server adds its state; `canopy
/// schema` prints the SDL from this).
pub fn schema_builder() -> SchemaBuilder<QueryRoot, MutationRoot, subscription::SubscriptionRoot> {
    Schema::build(QueryRoot::default(), MutationRoot::default(), subscription::SubscriptionRoot)
        .limit_depth(12)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(32)
        .limit_directives(50)
}

/// The SDL that `schema.graphql` must equal.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}
