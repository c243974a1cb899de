//! The loader of link requests by id (for `node`), with the policy's two sides.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use sea_orm::{EntityTrait, QueryFilter};

use super::Reader;
use crate::domain::family::LinkRequestRecord;
use crate::entity::link_request;
use crate::error::AppError;
use crate::read::link_requests::with_requesters;

/// A link request, visible to its requesting side and its deciding side
/// (`Viewer::link_request_sides`); to anyone else it does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkRequestKey(pub i64);

impl Loader<LinkRequestKey> for Reader {
    type Value = LinkRequestRecord;
    type Error = AppError;

    async fn load(&self, keys: &[LinkRequestKey]) -> Result<HashMap<LinkRequestKey, Self::Value>, Self::Error> {
        let viewer = self.viewer()?;
        let rows = link_request::Entity::find()
            .filter(self.one_of(link_request::Column::Id, keys.iter().map(|k| k.0)))
            .all(self.db())
            .await?;
        let targets = self.accounts_by_id(rows.iter().filter_map(|r| r.target_account_id).collect()).await?;
        let visible = rows
            .into_iter()
            .filter(|r| {
                let target = r.target_account_id.and_then(|id| targets.get(&id));
                viewer.link_request_sides(r.main_account_id, target).any()
            })
            .collect();
        Ok(with_requesters(self.db(), visible).await?.into_iter().map(|r| (LinkRequestKey(r.request.id), r)).collect())
    }
}
