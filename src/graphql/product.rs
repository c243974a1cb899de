//! The orderable product catalogue.

use async_graphql::{Context, Object, Result, SimpleObject};
use serde::Deserialize;

use crate::entity::product;
use crate::graphql::context::ContextExt;

/// A product an account can be for, and that new secondaries can be ordered with.
pub struct Product(pub product::Model);

/// One option a product takes when ordered.
#[derive(Debug, Clone, SimpleObject, Deserialize)]
pub struct ProductOption {
    /// The option's code, used as the key in an order's `options`.
    pub code: String,
    /// A readable name.
    pub name: String,
    /// The allowed values; empty when any text is allowed.
    #[serde(default)]
    pub choices: Vec<String>,
    /// Whether an order must give this option.
    #[serde(default)]
    pub required: bool,
}

impl Product {
    pub fn parsed_options(&self) -> Vec<ProductOption> {
        serde_json::from_str(&self.0.options).unwrap_or_default()
    }
}

/// A product an account can be for, and that new secondaries can be ordered with.
#[Object]
impl Product {
    /// The product code, e.g. `MOBILE`.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// A readable name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// What the product is.
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// The options an order of this product takes.
    async fn options(&self) -> Vec<ProductOption> {
        self.parsed_options()
    }
}

#[derive(Default)]
pub struct ProductQuery;

#[Object]
impl ProductQuery {
    /// The orderable catalogue.
    async fn products(&self, ctx: &Context<'_>) -> Result<Vec<Product>> {
        let rows = crate::read::products::orderable(ctx.db()?).await?;
        Ok(rows.into_iter().map(Product).collect())
    }
}
