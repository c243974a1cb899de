//! Groups of a user.

use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::domain::access::Viewer;
use crate::entity::{group, group_member, user};
use crate::error::AppResult;

/// The groups `subject` is a member of, across families: only for the user themselves and
/// staff (empty for anyone else).
pub async fn of_user(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    subject: &user::Model,
) -> AppResult<Vec<group::Model>> {
    if viewer.user.id != subject.id && !viewer.is_staff() {
        return Ok(Vec::new());
    }
    let memberships = Query::select()
        .column(group_member::Column::GroupId)
        .from(group_member::Entity)
        .and_where(group_member::Column::UserId.eq(subject.id))
        .to_owned();
    Ok(group::Entity::find()
        .filter(group::Column::Id.in_subquery(memberships))
        .order_by_asc(group::Column::Id)
        .all(db)
        .await?)
}
