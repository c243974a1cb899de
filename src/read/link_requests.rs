//! Link requests as a viewer may read them: those of the families they manage accounts
//! of (outgoing) and those asking for accounts they manage (incoming), with the
//! requesting family's public face (`domain::family::RequestingMain`).

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::domain::access::{LinkRequestDirection, Viewer};
use crate::domain::family::{LinkRequestRecord, RequestingMain, status_condition};
use crate::entity::enums::LinkRequestStatus;
use crate::entity::{account, link_request};
use crate::error::AppResult;

/// Pairs requests with their requesting main accounts (one statement for all of them).
/// The requests must be ones the viewer may read: this adds what every side of a request
/// sees, the requesting main's holder name and customer number.
pub async fn with_requesters(
    db: &impl ConnectionTrait,
    requests: Vec<link_request::Model>,
) -> AppResult<Vec<LinkRequestRecord>> {
    let mut main_ids: Vec<i64> = requests.iter().map(|r| r.main_account_id).collect();
    main_ids.sort_unstable();
    main_ids.dedup();
    let mains: HashMap<i64, RequestingMain> = if main_ids.is_empty() {
        HashMap::new()
    } else {
        account::Entity::find()
            .filter(account::Column::Id.is_in(main_ids))
            .all(db)
            .await?
            .iter()
            .map(|m| (m.id, RequestingMain::from(m)))
            .collect()
    };
    Ok(requests
        .into_iter()
        .filter_map(|request| {
            Some(LinkRequestRecord { requester: mains.get(&request.main_account_id)?.clone(), request })
        })
        .collect())
}

/// A page of the viewer's link requests, newest first, below `before_id` (`first + 1`
/// rows): of one direction or both, of one status (as it reads now) or all.
pub async fn page(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    direction: Option<LinkRequestDirection>,
    status: Option<LinkRequestStatus>,
    before_id: i64,
    first: u64,
) -> AppResult<Vec<LinkRequestRecord>> {
    let mut condition =
        Condition::all().add(viewer.link_requests_visible(direction)).add(link_request::Column::Id.lt(before_id));
    if let Some(status) = status {
        condition = condition.add(status_condition(status, Utc::now()));
    }
    let requests = link_request::Entity::find()
        .filter(condition)
        .order_by_desc(link_request::Column::Id)
        .limit(first + 1)
        .all(db)
        .await?;
    with_requesters(db, requests).await
}
