//! Staff operations (`admin*`). Customers get FORBIDDEN.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use crate::domain::accounts;
use crate::error::{AppResult, UserError};
use crate::graphql::account::Account;
use crate::graphql::context::ContextExt;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::payload::into_payload;

/// Input of `adminCreateAccount`.
#[derive(InputObject)]
pub struct AdminCreateAccountInput {
    /// The account holder's name.
    pub holder_name: String,
    /// The product code (see `products`).
    pub product: String,
    /// Where mail about the account goes until someone enrolls it.
    pub email: String,
}

/// Input of `adminRotateEnrollmentToken`.
#[derive(InputObject)]
pub struct AdminRotateEnrollmentTokenInput {
    /// The account whose token is retired.
    pub account_id: ID,
}

/// An account with its current enrollment token (shown once).
#[derive(SimpleObject)]
pub struct AccountWithTokenPayload {
    /// The account.
    pub account: Option<Account>,
    /// Its current enrollment token, as printed on its invoices.
    pub enrollment_token: Option<String>,
    /// Why the change was refused, if it was.
    pub user_errors: Vec<UserError>,
}

fn with_token(outcome: AppResult<(crate::entity::account::Model, String)>) -> Result<AccountWithTokenPayload> {
    into_payload(outcome, |value, user_errors| {
        let (account, enrollment_token) = match value {
            Some((a, t)) => (Some(Account(a)), Some(t)),
            None => (None, None),
        };
        AccountWithTokenPayload { account, enrollment_token, user_errors }
    })
}

#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Staff: creates a customer account with a generated customer number.
    async fn admin_create_account(
        &self,
        ctx: &Context<'_>,
        input: AdminCreateAccountInput,
    ) -> Result<AccountWithTokenPayload> {
        let outcome = async {
            let viewer = &*ctx.viewer()?;
            accounts::admin_create_account(
                ctx.db()?,
                &ctx.settings()?.secret,
                viewer,
                &input.holder_name,
                &input.product,
                &input.email,
            )
            .await
        }
        .await;
        with_token(outcome)
    }

    /// Staff: retires an account's enrollment token (old invoices stop working) and
    /// returns the new one.
    async fn admin_rotate_enrollment_token(
        &self,
        ctx: &Context<'_>,
        input: AdminRotateEnrollmentTokenInput,
    ) -> Result<AccountWithTokenPayload> {
        let outcome = async {
            let viewer = &*ctx.viewer()?;
            accounts::require_staff(viewer)?;
            let account_id = ids::decode_input(&input.account_id, NodeType::Account, "accountId")?;
            accounts::admin_rotate_enrollment_token(ctx.db()?, &ctx.settings()?.secret, viewer, account_id).await
        }
        .await;
        with_token(outcome)
    }
}
