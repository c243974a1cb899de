//! Ordering a new secondary account: it is created, attached and listed at once, and a
//! confirmation mail is queued through the outbox.

use sea_orm::{ActiveModelTrait, DatabaseConnection, Set, TransactionTrait};
use serde_json::{Value, json};

use super::{ChangeOptions, family_group, finish, lock_active_main, main_or_home, managed_main};
use crate::domain::access::Viewer;
use crate::domain::accounts::{NewAccount, insert_account, product_by_code, validate_name};
use crate::domain::audit::AuditEntry;
use crate::domain::notify;
use crate::domain::refusal::{self, refuse};
use crate::entity::enums::OrderStatus;
use crate::entity::{account, account_order};
use crate::error::{AppError, AppResult, UserErrorCode};
use crate::events::{Event, TreeChangeKind};

/// One option value chosen in an order, checked against the product's option list.
fn check_order_options(product: &crate::entity::product::Model, options: &Value) -> AppResult<String> {
    #[derive(serde::Deserialize)]
    struct Definition {
        code: String,
        #[serde(default)]
        choices: Vec<String>,
        #[serde(default)]
        required: bool,
    }
    let definitions: Vec<Definition> = serde_json::from_str(&product.options).map_err(AppError::internal)?;
    let empty = serde_json::Map::new();
    let given = match options {
        Value::Object(map) => map,
        Value::Null => &empty,
        _ => {
            return Err(refuse(
                UserErrorCode::InvalidInput,
                "options must be an object of option code to value",
                "options",
            ));
        }
    };
    for (code, value) in given {
        let Some(definition) = definitions.iter().find(|d| &d.code == code) else {
            return Err(refuse(
                UserErrorCode::InvalidInput,
                &format!("{} takes no option `{code}`", product.code),
                "options",
            ));
        };
        let Some(text) = value.as_str() else {
            return Err(refuse(UserErrorCode::InvalidInput, &format!("option `{code}` must be text"), "options"));
        };
        if text.len() > 200 || (!definition.choices.is_empty() && !definition.choices.iter().any(|c| c == text)) {
            let allowed = definition.choices.join(", ");
            return Err(refuse(
                UserErrorCode::InvalidInput,
                &format!("option `{code}` must be one of: {allowed}"),
                "options",
            ));
        }
    }
    if let Some(missing) = definitions.iter().find(|d| d.required && !given.contains_key(&d.code)) {
        return Err(refuse(UserErrorCode::InvalidInput, &format!("option `{}` is required", missing.code), "options"));
    }
    Ok(Value::Object(given.clone()).to_string())
}

/// What `orderSecondaryAccount` asks for.
pub struct OrderRequest {
    pub main_account_id: Option<i64>,
    pub product_code: String,
    pub options: Value,
    pub friendly_name: Option<String>,
    pub group_id: Option<i64>,
}

/// Orders a new secondary account: it is created, attached and listed at once, and a
/// confirmation mail is queued.
pub async fn order_secondary_account(
    db: &DatabaseConnection,
    viewer: &Viewer,
    request: OrderRequest,
    change_options: ChangeOptions,
) -> AppResult<(account_order::Model, Option<account::Model>, Option<Event>)> {
    let main_id = main_or_home(viewer, request.main_account_id)?;
    let friendly_name = request.friendly_name.as_deref().map(|n| validate_name(n, "friendlyName")).transpose()?;
    let txn = db.begin().await?;
    managed_main(&txn, viewer, main_id, "mainAccountId").await?;
    let main = lock_active_main(&txn, main_id).await?;
    let product = product_by_code(&txn, request.product_code.trim())
        .await?
        .filter(|p| p.orderable)
        .ok_or_else(|| AppError::User(refusal::not_found("orderable product", "product")))?;
    let options = check_order_options(&product, &request.options)?;
    let group_id = family_group(&txn, main.id, request.group_id).await?;
    let account = insert_account(
        &txn,
        NewAccount {
            holder_name: main.holder_name.clone(),
            contact_email: main.contact_email.clone(),
            product_id: product.id,
            parent_id: Some(main.id),
            friendly_name: friendly_name.clone(),
            group_id: Some(group_id),
        },
    )
    .await?;
    let order = account_order::ActiveModel {
        main_account_id: Set(main.id),
        product_id: Set(product.id),
        options: Set(options),
        friendly_name: Set(friendly_name),
        group_id: Set(Some(group_id)),
        status: Set(OrderStatus::Provisioned),
        failure_reason: Set(None),
        account_id: Set(Some(account.id)),
        ordered_by: Set(viewer.user.id),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    notify::queue(
        &txn,
        notify::Mail {
            kind: "order_confirmation",
            dedupe_key: format!("order:{}", order.id),
            recipient: viewer.user.email.clone(),
            subject: format!("Your order of {} is ready", product.name),
            body: format!(
                "Your new {} account {} was created and added to the family of {}.\n",
                product.name, account.customer_number, main.customer_number
            ),
        },
    )
    .await?;
    AuditEntry::new(Some(viewer.user.id), "account.ordered", "AccountOrder", order.id)
        .family(Some(main.id))
        .after(json!({"product": product.code, "accountId": account.id, "options": order.options}))
        .record(&txn)
        .await?;
    finish(txn, change_options).await?;
    let event = Event::TreeChanged { kind: TreeChangeKind::Ordered, main_account_id: main.id, account_id: account.id };
    Ok((order, Some(account), Some(event)))
}
