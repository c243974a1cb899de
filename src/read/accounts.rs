//! Accounts by customer number and the selection behind `User.accounts`.

use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};

use crate::domain::access::Viewer;
use crate::entity::{account, user};
use crate::error::AppResult;

/// The account with this customer number, if the viewer may see it.
pub async fn by_customer_number(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    number: &str,
) -> AppResult<Option<account::Model>> {
    let found = account::Entity::find()
        .filter(account::Column::CustomerNumber.eq(number.trim()))
        .filter(viewer.visible_accounts())
        .one(db)
        .await?;
    Ok(found)
}

/// Which accounts `User.accounts` lists for `subject`, asked by `viewer`: the viewer's own
/// visible accounts, or, for another user (a group member listed under `Group.members`),
/// only those both of them may see. `top_level`: only roots of trees.
pub async fn listed_for(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    subject: &user::Model,
    top_level: bool,
) -> AppResult<Condition> {
    let mut page = viewer.visible_accounts();
    if viewer.user.id != subject.id {
        let subject = Viewer::load(db, subject.clone()).await?;
        page = Condition::all().add(page).add(subject.visible_accounts());
    }
    if top_level {
        page = Condition::all().add(page).add(account::Column::ParentId.is_null());
    }
    Ok(page)
}
