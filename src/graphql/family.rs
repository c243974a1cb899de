//! Family mutations: link, order, detach/remove, move, rename/regroup, settings, staff
//! attach and detach; the `detachReadiness` query; the `AccountOrder` type.

use async_graphql::{Context, ID, InputObject, Json, Object, OneofObject, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::family::{self, Change, ChangeOptions, OrderRequest, Proof, SettingsChange};
use crate::entity::account_order;
use crate::entity::enums::OrderStatus;
use crate::error::{AppResult, UserError};
use crate::graphql::account::Account;
use crate::graphql::context::{ContextExt, announce_access_changed};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::payload::into_payload;
use crate::graphql::product::Product;
use crate::read::loaders::{AccountKey, ProductKey};

/// Proof by the customer number and enrollment token printed on the account's invoices.
#[derive(InputObject)]
pub struct EnrollmentTokenProof {
    /// The account's customer number.
    pub customer_number: String,
    /// Its current enrollment token.
    #[graphql(secret)]
    pub token: String,
}

/// Proof by a login of that very account.
#[derive(InputObject)]
pub struct CredentialsProof {
    /// A login name of the account being linked.
    pub login_name: String,
    /// Its password.
    #[graphql(secret)]
    pub password: String,
}

/// How you prove control of the account you link: exactly one of the two.
#[derive(OneofObject)]
pub enum LinkProof {
    /// The customer number and enrollment token from an invoice.
    EnrollmentToken(EnrollmentTokenProof),
    /// A login and password of that account.
    Credentials(CredentialsProof),
}

/// Input of `linkAccount`.
#[derive(InputObject)]
pub struct LinkAccountInput {
    /// The main account to link to; defaults to your home account.
    pub main_account_id: Option<ID>,
    /// Proof that you control the account being linked.
    pub proof: LinkProof,
    /// A friendly name for it ("Shared Mail").
    pub friendly_name: Option<String>,
    /// The group it joins; defaults to the Default Group.
    pub group_id: Option<ID>,
    /// Check and report only; change nothing.
    #[graphql(default)]
    pub validate_only: bool,
    /// Refuse if the account's parent is not this one any more.
    pub expected_parent_id: Option<ID>,
}

/// Input of `orderSecondaryAccount`.
#[derive(InputObject)]
pub struct OrderSecondaryAccountInput {
    /// The main account that gets the new secondary; defaults to your home account.
    pub main_account_id: Option<ID>,
    /// The product code (see `products`).
    pub product: String,
    /// The chosen options, an object of option code to value (see `Product.options`).
    pub options: Option<Json<serde_json::Value>>,
    /// A friendly name for the new account.
    pub friendly_name: Option<String>,
    /// The group it joins; defaults to the Default Group.
    pub group_id: Option<ID>,
    /// Check and report only; change nothing.
    #[graphql(default)]
    pub validate_only: bool,
}

/// Input of `detachAccount` and `adminDetachAccount`.
#[derive(InputObject)]
pub struct DetachAccountInput {
    /// The secondary to detach.
    pub account_id: ID,
    /// Also deactivate its portal access ("remove"): its logins can no longer sign in
    /// and it gets no e-bill notifications until it is enrolled again.
    #[graphql(default)]
    pub deactivate: bool,
    /// Refuse if the account's parent is not this one any more.
    pub expected_parent_id: Option<ID>,
    /// Check and report only; change nothing.
    #[graphql(default)]
    pub validate_only: bool,
}

/// Input of `updateLinkedAccount`.
#[derive(InputObject)]
pub struct UpdateLinkedAccountInput {
    /// The account of the family to change.
    pub account_id: ID,
    /// Its new friendly name.
    pub friendly_name: Option<String>,
    /// Its new group (of the same family).
    pub group_id: Option<ID>,
    /// Refuse if the account's parent is not this one any more.
    pub expected_parent_id: Option<ID>,
    /// Check and report only; change nothing.
    #[graphql(default)]
    pub validate_only: bool,
}

/// Input of `moveAccount`.
#[derive(InputObject)]
pub struct MoveAccountInput {
    /// The secondary to move.
    pub account_id: ID,
    /// Refuse (STALE_PARENT) if the account's parent is not this one any more.
    pub expected_parent_id: Option<ID>,
    /// The main account of the family it moves to.
    pub to_main_account_id: ID,
    /// The group it joins there; defaults to that family's Default Group.
    pub group_id: Option<ID>,
    /// Check and report only; change nothing.
    #[graphql(default)]
    pub validate_only: bool,
}

/// Input of `adminAttachAccount`.
#[derive(InputObject)]
pub struct AdminAttachAccountInput {
    /// The main account.
    pub main_account_id: ID,
    /// The standalone account to attach.
    pub account_id: ID,
    /// A friendly name for it.
    pub friendly_name: Option<String>,
    /// The group it joins; defaults to the Default Group.
    pub group_id: Option<ID>,
    /// Refuse if the account's parent is not this one any more.
    pub expected_parent_id: Option<ID>,
    /// Check and report only; change nothing.
    #[graphql(default)]
    pub validate_only: bool,
}

/// New values for an account's settings; omitted fields stay as they are.
#[derive(InputObject)]
pub struct AccountSettingsInput {
    /// Forward calls to this E.164 number (`+4930123456`); null turns forwarding off.
    pub call_forwarding_to: async_graphql::MaybeUndefined<String>,
    /// Stop printed invoices.
    pub paperless_billing: Option<bool>,
    /// Email the account's users when an invoice is issued.
    pub ebill_notifications: Option<bool>,
}

/// Input of `updateAccountSettings`.
#[derive(InputObject)]
pub struct UpdateAccountSettingsInput {
    /// The account to change (needs MANAGE_SETTINGS on it).
    pub account_id: ID,
    /// The new settings.
    pub settings: AccountSettingsInput,
}

/// Result of a hierarchy or account mutation.
#[derive(SimpleObject)]
pub struct AccountPayload {
    /// The account as the change left it. A dry run (`validateOnly`) changes nothing: it
    /// shows the account as it is, and only if you may already see it.
    pub account: Option<Account>,
    /// True when this was a dry run and nothing changed.
    pub validate_only: bool,
    /// Why the change was refused, if it was.
    pub user_errors: Vec<UserError>,
}

/// An order for a new secondary account.
pub struct AccountOrder(pub account_order::Model);

/// An order for a new secondary account.
#[Object]
impl AccountOrder {
    /// The global id.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::AccountOrder, self.0.id)
    }
    /// SUBMITTED, PROVISIONED or REJECTED.
    async fn status(&self) -> OrderStatus {
        self.0.status
    }
    /// Why the order was rejected, if it was.
    async fn failure_reason(&self) -> Option<&str> {
        self.0.failure_reason.as_deref()
    }
    /// The product ordered.
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>> {
        Ok(ctx.loader()?.load_one(ProductKey(self.0.product_id)).await?.map(Product))
    }
    /// The options chosen.
    async fn options(&self) -> Json<serde_json::Value> {
        Json(serde_json::from_str(&self.0.options).unwrap_or_default())
    }
    /// The new account, once provisioned.
    async fn account(&self, ctx: &Context<'_>) -> Result<Option<Account>> {
        let Some(id) = self.0.account_id else { return Ok(None) };
        Ok(ctx.loader()?.load_one(AccountKey(id)).await?.map(Account))
    }
    /// The main account that ordered it.
    async fn main_account(&self, ctx: &Context<'_>) -> Result<Option<Account>> {
        Ok(ctx.loader()?.load_one(AccountKey(self.0.main_account_id)).await?.map(Account))
    }
    /// When it was ordered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Result of `orderSecondaryAccount`.
#[derive(SimpleObject)]
pub struct OrderSecondaryAccountPayload {
    /// The order (with `validateOnly`: as it would be).
    pub order: Option<AccountOrder>,
    /// True when this was a dry run and nothing changed.
    pub validate_only: bool,
    /// Why the order was refused, if it was.
    pub user_errors: Vec<UserError>,
}

/// What a detach or removal of an account would meet.
#[derive(SimpleObject)]
pub struct DetachReadiness {
    /// True when nothing blocks a detach.
    pub can_detach: bool,
    /// Every reason the detach (or removal) would be refused.
    pub blockers: Vec<UserError>,
    /// What it would change.
    pub changes: Vec<String>,
}

async fn account_payload(ctx: &Context<'_>, outcome: AppResult<Change>, validate_only: bool) -> Result<AccountPayload> {
    if let Ok(change) = &outcome
        && !validate_only
    {
        for event in &change.events {
            ctx.state()?.events.publish(ctx.db()?, event.clone()).await;
        }
    }
    // A change is shown as the mutation left it. A dry run changed nothing: it shows the
    // account as stored, and only if the viewer may already see it (a dry-run link must
    // not hand out the target's data for a proof that was never spent).
    let outcome = match outcome {
        Ok(change) if validate_only => Ok(visible_now(ctx, change.account.id).await?),
        other => other.map(|c| Some(Account(c.account))),
    };
    into_payload(outcome, |account, user_errors| AccountPayload {
        account: account.flatten(),
        validate_only,
        user_errors,
    })
}

/// The account as stored now, if the viewer may see it (bypassing the request's cache).
async fn visible_now(ctx: &Context<'_>, account_id: i64) -> AppResult<Option<Account>> {
    use async_graphql::dataloader::Loader;
    let found = ctx.loader()?.loader().load(&[AccountKey(account_id)]).await?;
    Ok(found.into_values().next().map(Account))
}

#[derive(Default)]
pub struct FamilyQuery;

#[Object]
impl FamilyQuery {
    /// Every reason detaching or removing this account would be refused, and what it
    /// would change. Null when the account does not exist or you may not see it.
    async fn detach_readiness(&self, ctx: &Context<'_>, account_id: ID) -> Result<Option<DetachReadiness>> {
        let viewer = ctx.viewer()?;
        let Some(id) = ids::decode_as(&account_id, NodeType::Account) else { return Ok(None) };
        let report = family::detach_readiness(ctx.db()?, &viewer, id).await?;
        Ok(report.map(|r| DetachReadiness {
            can_detach: r.blockers.is_empty(),
            blockers: r.blockers,
            changes: r.changes,
        }))
    }
}

#[derive(Default)]
pub struct FamilyMutation;

#[Object]
impl FamilyMutation {
    /// "Add New Account": links an account you prove control of (its enrollment token,
    /// or a login of it) to a main account as a secondary. Needs MANAGE_ACCOUNTS.
    async fn link_account(&self, ctx: &Context<'_>, input: LinkAccountInput) -> Result<AccountPayload> {
        let validate_only = input.validate_only;
        let outcome = async {
            let viewer = ctx.viewer()?;
            let main_id =
                ids::decode_optional_input(input.main_account_id.as_ref(), NodeType::Account, "mainAccountId")?;
            let group_id = ids::decode_optional_input(input.group_id.as_ref(), NodeType::Group, "groupId")?;
            let expected_parent_id =
                ids::decode_optional_input(input.expected_parent_id.as_ref(), NodeType::Account, "expectedParentId")?;
            let proof = match input.proof {
                LinkProof::EnrollmentToken(p) => {
                    Proof::EnrollmentToken { customer_number: p.customer_number, token: p.token }
                }
                LinkProof::Credentials(p) => {
                    ctx.request()?.claim_credential_check()?;
                    Proof::Credentials { login_name: p.login_name, password: p.password }
                }
            };
            let request = family::LinkAccountRequest {
                main_account_id: main_id,
                proof,
                friendly_name: input.friendly_name,
                group_id,
            };
            family::link_account(
                ctx.db()?,
                ctx.settings()?,
                ctx.client(),
                &viewer,
                request,
                ChangeOptions { validate_only, expected_parent_id },
            )
            .await
        }
        .await;
        account_payload(ctx, outcome, validate_only).await
    }

    /// Orders a new secondary account: created, attached and listed at once; a
    /// confirmation mail follows. Needs MANAGE_ACCOUNTS.
    async fn order_secondary_account(
        &self,
        ctx: &Context<'_>,
        input: OrderSecondaryAccountInput,
    ) -> Result<OrderSecondaryAccountPayload> {
        let validate_only = input.validate_only;
        let outcome = async {
            let viewer = ctx.viewer()?;
            let request = OrderRequest {
                main_account_id: ids::decode_optional_input(
                    input.main_account_id.as_ref(),
                    NodeType::Account,
                    "mainAccountId",
                )?,
                product_code: input.product,
                options: input.options.map(|o| o.0).unwrap_or(serde_json::Value::Null),
                friendly_name: input.friendly_name,
                group_id: ids::decode_optional_input(input.group_id.as_ref(), NodeType::Group, "groupId")?,
            };
            family::order_secondary_account(
                ctx.db()?,
                &viewer,
                request,
                ChangeOptions { validate_only, expected_parent_id: None },
            )
            .await
        }
        .await;
        if let Ok((_, _, Some(event))) = &outcome
            && !validate_only
        {
            ctx.state()?.events.publish(ctx.db()?, event.clone()).await;
        }
        into_payload(outcome.map(|(order, _, _)| AccountOrder(order)), |order, user_errors| {
            OrderSecondaryAccountPayload { order, validate_only, user_errors }
        })
    }

    /// Detaches a secondary: it becomes standalone, its billing mode returns to
    /// INDIVIDUAL and its group is cleared. With `deactivate` ("remove") its logins are
    /// signed out and blocked. Needs MANAGE_ACCOUNTS.
    async fn detach_account(&self, ctx: &Context<'_>, input: DetachAccountInput) -> Result<AccountPayload> {
        let validate_only = input.validate_only;
        let outcome = async {
            let viewer = ctx.viewer()?;
            let account_id = ids::decode_input(&input.account_id, NodeType::Account, "accountId")?;
            let expected_parent_id =
                ids::decode_optional_input(input.expected_parent_id.as_ref(), NodeType::Account, "expectedParentId")?;
            family::detach_account(
                ctx.db()?,
                &viewer,
                account_id,
                input.deactivate,
                ChangeOptions { validate_only, expected_parent_id },
            )
            .await
        }
        .await;
        if outcome.is_ok() && input.deactivate && !validate_only {
            // The removed account's logins are signed out: their websockets close too.
            announce_access_changed(ctx, None).await?;
        }
        account_payload(ctx, outcome, validate_only).await
    }

    /// Moves a secondary to another family in one step: it is never standalone in
    /// between. It joins the chosen group of the new family (its Default Group if none)
    /// with billing mode INDIVIDUAL; invoices already in an open collective invoice stay
    /// there. Needs MANAGE_ACCOUNTS on both families; both families' subscribers are told.
    async fn move_account(&self, ctx: &Context<'_>, input: MoveAccountInput) -> Result<AccountPayload> {
        let validate_only = input.validate_only;
        let outcome = async {
            let viewer = ctx.viewer()?;
            let request = family::MoveRequest {
                account_id: ids::decode_input(&input.account_id, NodeType::Account, "accountId")?,
                to_main_account_id: ids::decode_input(&input.to_main_account_id, NodeType::Account, "toMainAccountId")?,
                group_id: ids::decode_optional_input(input.group_id.as_ref(), NodeType::Group, "groupId")?,
            };
            let expected_parent_id =
                ids::decode_optional_input(input.expected_parent_id.as_ref(), NodeType::Account, "expectedParentId")?;
            family::move_account(ctx.db()?, &viewer, request, ChangeOptions { validate_only, expected_parent_id }).await
        }
        .await;
        account_payload(ctx, outcome, validate_only).await
    }

    /// Renames or regroups an account of a family. Needs MANAGE_ACCOUNTS.
    async fn update_linked_account(
        &self,
        ctx: &Context<'_>,
        input: UpdateLinkedAccountInput,
    ) -> Result<AccountPayload> {
        let validate_only = input.validate_only;
        let outcome = async {
            let viewer = ctx.viewer()?;
            let account_id = ids::decode_input(&input.account_id, NodeType::Account, "accountId")?;
            let group_id = ids::decode_optional_input(input.group_id.as_ref(), NodeType::Group, "groupId")?;
            let expected_parent_id =
                ids::decode_optional_input(input.expected_parent_id.as_ref(), NodeType::Account, "expectedParentId")?;
            family::update_linked_account(
                ctx.db()?,
                &viewer,
                account_id,
                input.friendly_name,
                group_id,
                ChangeOptions { validate_only, expected_parent_id },
            )
            .await
        }
        .await;
        account_payload(ctx, outcome, validate_only).await
    }

    /// Changes an account's settings (call forwarding, paperless billing, e-bill
    /// notifications). Needs MANAGE_SETTINGS on the account: its own logins have it.
    async fn update_account_settings(
        &self,
        ctx: &Context<'_>,
        input: UpdateAccountSettingsInput,
    ) -> Result<AccountPayload> {
        let outcome = async {
            let viewer = ctx.viewer()?;
            let account_id = ids::decode_input(&input.account_id, NodeType::Account, "accountId")?;
            let change = SettingsChange {
                call_forwarding_to: match input.settings.call_forwarding_to {
                    async_graphql::MaybeUndefined::Undefined => None,
                    async_graphql::MaybeUndefined::Null => Some(None),
                    async_graphql::MaybeUndefined::Value(v) => Some(Some(v)),
                },
                paperless_billing: input.settings.paperless_billing,
                ebill_notifications: input.settings.ebill_notifications,
            };
            let account = family::update_account_settings(ctx.db()?, &viewer, account_id, change).await?;
            Ok(Change { account, events: Vec::new() })
        }
        .await;
        account_payload(ctx, outcome, false).await
    }

    /// Staff: attaches a standalone account to a main account, no proof needed.
    async fn admin_attach_account(&self, ctx: &Context<'_>, input: AdminAttachAccountInput) -> Result<AccountPayload> {
        let validate_only = input.validate_only;
        let outcome = async {
            let viewer = ctx.viewer()?;
            crate::domain::accounts::require_staff(&viewer)?;
            let request = family::AttachRequest {
                main_id: ids::decode_input(&input.main_account_id, NodeType::Account, "mainAccountId")?,
                target_id: ids::decode_input(&input.account_id, NodeType::Account, "accountId")?,
                friendly_name: input.friendly_name,
                group_id: ids::decode_optional_input(input.group_id.as_ref(), NodeType::Group, "groupId")?,
                proven_token_version: None,
            };
            let expected_parent_id =
                ids::decode_optional_input(input.expected_parent_id.as_ref(), NodeType::Account, "expectedParentId")?;
            family::admin_attach(ctx.db()?, &viewer, request, ChangeOptions { validate_only, expected_parent_id }).await
        }
        .await;
        account_payload(ctx, outcome, validate_only).await
    }

    /// Staff: detaches (and with `deactivate`, removes) any secondary.
    async fn admin_detach_account(&self, ctx: &Context<'_>, input: DetachAccountInput) -> Result<AccountPayload> {
        let validate_only = input.validate_only;
        let outcome = async {
            let viewer = ctx.viewer()?;
            crate::domain::accounts::require_staff(&viewer)?;
            let account_id = ids::decode_input(&input.account_id, NodeType::Account, "accountId")?;
            let expected_parent_id =
                ids::decode_optional_input(input.expected_parent_id.as_ref(), NodeType::Account, "expectedParentId")?;
            family::admin_detach(
                ctx.db()?,
                &viewer,
                account_id,
                input.deactivate,
                ChangeOptions { validate_only, expected_parent_id },
            )
            .await
        }
        .await;
        if outcome.is_ok() && input.deactivate && !validate_only {
            announce_access_changed(ctx, None).await?;
        }
        account_payload(ctx, outcome, validate_only).await
    }
}
