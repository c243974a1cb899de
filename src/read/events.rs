//! What a subscriber may see of an event, read when the event arrives (rights may have
//! changed since the subscription started).

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::domain::access::{Permission, Viewer};
use crate::entity::{account, invoice};
use crate::error::AppResult;

/// A family's tree change as one subscriber sees it.
pub struct TreeChangeSeen {
    /// The subscriber may see the family (or its main): the event is delivered.
    pub family_visible: bool,
    pub main_account: Option<account::Model>,
    pub account: Option<account::Model>,
}

/// The main account and the changed account of a tree change, each only if the viewer may
/// see it now.
pub async fn tree_change(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    main_id: i64,
    account_id: i64,
) -> AppResult<TreeChangeSeen> {
    let rows = account::Entity::find().filter(account::Column::Id.is_in([main_id, account_id])).all(db).await?;
    let visible = |id: i64| rows.iter().find(|a| a.id == id && viewer.can_see(a)).cloned();
    let family_visible = rows
        .iter()
        .find(|a| a.id == main_id)
        .is_some_and(|m| viewer.rights_on_family(m).visible() || viewer.can_see(m));
    Ok(TreeChangeSeen { family_visible, main_account: visible(main_id), account: visible(account_id) })
}

/// An issued invoice, if the viewer may view it.
pub async fn issued_invoice(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    invoice_id: i64,
) -> AppResult<Option<invoice::Model>> {
    let Some(invoice) = invoice::Entity::find_by_id(invoice_id).one(db).await? else { return Ok(None) };
    let Some(account) = account::Entity::find_by_id(invoice.account_id).one(db).await? else { return Ok(None) };
    Ok(viewer.rights_on(&account).has(Permission::ViewInvoices).then_some(invoice))
}
