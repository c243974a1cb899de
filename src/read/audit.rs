//! The audit log as a viewer may read it.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::domain::access::Viewer;
use crate::entity::{account, audit_event};
use crate::error::{AppError, AppResult};

/// A page of audit events, newest first, below `before_id` (`first + 1` rows). Staff read
/// everything, or one family with `family`; a main's (or standalone's) owner reads their
/// own family's events; anyone else is FORBIDDEN.
pub async fn page(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    family: Option<i64>,
    before_id: i64,
    first: u64,
) -> AppResult<Vec<audit_event::Model>> {
    let family = match (viewer.is_staff(), family) {
        (true, family) => family,
        (false, Some(main)) if viewer.owns_family(main) => Some(main),
        (false, None) => match viewer.home_account_id {
            Some(home) => {
                // Only a main's (or standalone's) owner reads the family's log.
                match account::Entity::find_by_id(home).one(db).await? {
                    Some(a) if a.parent_id.is_none() => Some(home),
                    _ => return Err(AppError::Forbidden),
                }
            }
            None => return Err(AppError::Forbidden),
        },
        (false, Some(_)) => return Err(AppError::Forbidden),
    };
    let mut query = audit_event::Entity::find()
        .filter(audit_event::Column::Id.lt(before_id))
        .order_by_desc(audit_event::Column::Id)
        .limit(first + 1);
    if let Some(main) = family {
        query = query.filter(audit_event::Column::FamilyMainId.eq(main));
    }
    Ok(query.all(db).await?)
}
