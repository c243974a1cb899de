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
pub mod link_request;
pub mod links;
pub mod node;
pub mod open_items;
pub mod payload;
pub mod payment;
pub mod prefetch;
pub mod prewritten;
pub mod product;
pub mod scalars;
pub mod spend;
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
    link_request::LinkRequestMutation,
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

/// Deepest selection one operation may nest.
pub const MAX_DEPTH: usize = 12;

/// The schema with its limits and no data attached (the server adds its state; `canopy
/// schema` prints the SDL from this).
pub fn schema_builder() -> SchemaBuilder<QueryRoot, MutationRoot, subscription::SubscriptionRoot> {
    Schema::build(QueryRoot::default(), MutationRoot::default(), subscription::SubscriptionRoot)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(32)
        .limit_directives(50)
        .register_output_type::<GeneratedTypeDescriptions>()
}

/// Depth allowed to introspection-only operations (see `limits::LimitedSchema`):
/// graphql-js's standard introspection query reaches 14 levels.
pub const INTROSPECTION_DEPTH: usize = 16;

/// Descriptions of the types async-graphql generates or merges, which have no doc comment
/// of their own: the connections and the three roots. Every type in the SDL has one.
const GENERATED_TYPE_DESCRIPTIONS: [(&str, &str); 10] = [
    (
        "QueryRoot",
        "What can be read: the signed-in viewer and every account it may see, objects by global id, invoices and open items, the product catalogue and the audit log.",
    ),
    (
        "MutationRoot",
        "Every change: signing in, the family's accounts and groups, billing and payments, and the staff's tools. Each takes one `input` and answers a payload whose `userErrors` say why a refusal happened.",
    ),
    (
        "SubscriptionRoot",
        "Live events over graphql-transport-ws: changes to a family's tree and newly issued invoices, each checked against your rights when it happens.",
    ),
    (
        "AccountConnection",
        "A page of accounts (Relay connection): `edges` with cursors, `nodes`, and `pageInfo` to ask for the next page with `after`.",
    ),
    ("AuditEventConnection", "A page of audit events, newest first (Relay connection)."),
    ("CollectiveInvoiceConnection", "A page of collective invoices (Relay connection)."),
    ("InvoiceConnection", "A page of invoices (Relay connection)."),
    ("LinkRequestConnection", "A page of link requests, newest first (Relay connection)."),
    (
        "OpenItemsConnection",
        "A page of open invoices across your accounts, earliest due first, with the totals of every match (Relay connection).",
    ),
    ("UserConnection", "A page of users (Relay connection)."),
];

/// Not a GraphQL type: registering it (last) gives `GENERATED_TYPE_DESCRIPTIONS` to types
/// already in the registry. It names an existing type and adds none.
struct GeneratedTypeDescriptions;

impl async_graphql::OutputType for GeneratedTypeDescriptions {
    fn type_name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("QueryRoot")
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        for (name, description) in GENERATED_TYPE_DESCRIPTIONS {
            registry.set_description(name, description);
        }
        "QueryRoot".to_owned()
    }

    async fn resolve(
        &self,
        _: &async_graphql::ContextSelectionSet<'_>,
        _: &async_graphql::Positioned<async_graphql::parser::types::Field>,
    ) -> async_graphql::ServerResult<async_graphql::Value> {
        Ok(async_graphql::Value::Null)
    }
}

/// The SDL that `schema.graphql` must equal.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}
