//! The `User` type, the viewer, and sign-in mutations.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use crate::domain::access::{LinkRequestDirection, Viewer};
use crate::domain::groups as group_service;
use crate::domain::identity::{self, EnrollInput as EnrollCommand, SignedIn};
use crate::entity::enums::LinkRequestStatus;
use crate::entity::user;
use crate::error::{AppError, AppResult, UserError};
use crate::graphql::account::Account;
use crate::graphql::connection::{IdConnection, connection_from_rows, decode_cursor, page_size};
use crate::graphql::context::{ContextExt, announce_access_changed};
use crate::graphql::group::Group;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::link_request::LinkRequest;
use crate::graphql::payload::into_payload;
use crate::graphql::prefetch;
use crate::graphql::tree::{AccountTree, Prefetched};
use crate::read::loaders::AccountKey;
use crate::read::{accounts, groups, link_requests};

/// A login of the portal.
pub struct User(pub user::Model);

/// A login of the portal.
#[Object]
impl User {
    /// The global id.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::User, self.0.id)
    }
    /// The login name.
    async fn login_name(&self) -> &str {
        &self.0.login_name
    }
    /// Where mail for this user goes.
    async fn email(&self) -> &str {
        &self.0.email
    }
    /// True for staff, who run the admin tools.
    async fn is_staff(&self) -> bool {
        self.0.is_staff
    }
    /// The account this login was enrolled for (its user owns it), if any.
    async fn home_account(&self, ctx: &Context<'_>) -> Result<Option<Account>> {
        let Some(id) = self.0.home_account_id else {
            return Ok(None);
        };
        Ok(ctx.loader()?.load_one(AccountKey(id)).await?.map(Account))
    }
    /// Every account this user may see, by id (for another user: those you may see too).
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge seen.")] after: Option<String>,
        #[graphql(
            desc = "Only accounts that are not secondaries: the roots of the trees (main and standalone accounts)."
        )]
        top_level: Option<bool>,
    ) -> Result<AccountTree> {
        let first = page_size(first)?;
        let after_id = decode_cursor::<i64>(after.as_deref())?;
        let viewer = ctx.viewer()?;
        let page = accounts::listed_for(ctx.db()?, &viewer, &self.0, top_level == Some(true)).await?;
        let secondaries = prefetch::secondaries_asked(ctx);
        let loader = ctx.request()?.loader.clone();
        let rows =
            crate::read::tree::accounts_page(ctx.reads()?, &viewer, page, after_id.unwrap_or(0), first, secondaries)
                .await?;
        let shown = rows.accounts.iter().take(first as usize);
        let level_two = rows.secondaries.iter().flat_map(|pages| pages.shown());
        let relations = prefetch::prefetch_relations(ctx, loader.loader(), &viewer, shown, level_two).await?;
        let crate::read::tree::Page { accounts, secondary_counts, secondaries } = rows;
        let page = connection_from_rows(accounts, first, after_id.is_some(), |a| a.id, Account);
        Ok(AccountTree::new(page, loader, Prefetched { secondary_counts, secondaries, relations }))
    }
    /// Link requests of your families (OUTGOING) and for accounts you own (INCOMING),
    /// newest first. Empty for any user but yourself.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn link_requests(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge seen.")] after: Option<String>,
        #[graphql(desc = "Only requests you sent (OUTGOING) or may decide (INCOMING); both when omitted.")]
        direction: Option<LinkRequestDirection>,
        #[graphql(desc = "Only requests in this status as it reads now (a pending one past its expiry is EXPIRED).")]
        status: Option<LinkRequestStatus>,
    ) -> Result<IdConnection<LinkRequest>> {
        let first = page_size(first)?;
        let after_id = decode_cursor::<i64>(after.as_deref())?;
        let viewer = ctx.viewer()?;
        let rows = if viewer.user.id == self.0.id {
            link_requests::page(ctx.db()?, &viewer, direction, status, after_id.unwrap_or(i64::MAX), first).await?
        } else {
            Vec::new()
        };
        Ok(connection_from_rows(rows, first, after_id.is_some(), |r| r.request.id, LinkRequest))
    }
    /// The groups this user is a member of, across families.
    async fn groups(&self, ctx: &Context<'_>) -> Result<Vec<Group>> {
        let groups = groups::of_user(ctx.db()?, &*ctx.viewer()?, &self.0).await?;
        Ok(groups.into_iter().map(Group).collect())
    }
}

/// Input of `enroll`.
#[derive(InputObject)]
pub struct EnrollInput {
    /// The customer number from an invoice.
    pub customer_number: String,
    /// The enrollment token printed on the same invoice.
    pub enrollment_token: String,
    /// The new login name (3 to 64 letters, digits or `. _ - @`).
    pub login_name: String,
    /// The new password (at least 12 characters, not a common one).
    #[graphql(secret)]
    pub password: String,
    /// Where mail for the new login goes.
    pub email: String,
}

/// Input of `login`.
#[derive(InputObject)]
pub struct LoginInput {
    /// The login name (case does not matter).
    pub login_name: String,
    /// The password.
    #[graphql(secret)]
    pub password: String,
}

/// Input of `acceptInvitation`.
#[derive(InputObject)]
pub struct AcceptInvitationInput {
    /// The code from the invitation mail.
    #[graphql(secret)]
    pub invitation_token: String,
    /// A new login name, or the name of a login you already have.
    pub login_name: String,
    /// A new password, or that login's password.
    #[graphql(secret)]
    pub password: String,
}

/// A fresh session.
#[derive(SimpleObject)]
pub struct SessionPayload {
    /// The bearer token: send it as `Authorization: Bearer <token>`. Shown only once.
    pub token: Option<String>,
    /// The signed-in user.
    pub user: Option<User>,
    /// Why signing in was refused, if it was.
    pub user_errors: Vec<UserError>,
}

/// Builds a session payload; on success the rest of the response is resolved as the new user.
async fn session_payload(ctx: &Context<'_>, outcome: AppResult<SignedIn>) -> Result<SessionPayload> {
    if let Ok(signed_in) = &outcome {
        let viewer = Viewer::load(ctx.db()?, signed_in.user.clone()).await?;
        ctx.request()?.sign_in(viewer);
    }
    into_payload(outcome, |signed_in, user_errors| {
        let (token, user) = match signed_in {
            Some(s) => (Some(s.token), Some(User(s.user))),
            None => (None, None),
        };
        SessionPayload { token, user, user_errors }
    })
}

/// Input of `changePassword`.
#[derive(InputObject)]
pub struct ChangePasswordInput {
    /// The password in use now.
    #[graphql(secret)]
    pub current_password: String,
    /// The new password (at least 12 characters, not a common one).
    #[graphql(secret)]
    pub new_password: String,
}

/// Result of `changePassword`.
#[derive(SimpleObject)]
pub struct ChangePasswordPayload {
    /// True when the password was changed (other sessions are signed out).
    pub ok: bool,
    /// Why the change was refused, if it was.
    pub user_errors: Vec<UserError>,
}

/// Result of `logout`.
#[derive(SimpleObject)]
pub struct LogoutPayload {
    /// True when the session was ended.
    pub ok: bool,
    /// Always empty; present for symmetry with other payloads.
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// The signed-in user; null when not signed in.
    async fn viewer(&self, ctx: &Context<'_>) -> Option<User> {
        ctx.maybe_viewer().map(|v| User(v.user.clone()))
    }
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Enrolls an account: its customer number and enrollment token prove control; a new
    /// login is created that owns the account. The token is spent.
    async fn enroll(&self, ctx: &Context<'_>, input: EnrollInput) -> Result<SessionPayload> {
        let outcome = async {
            ctx.request()?.claim_credential_check()?;
            let command = EnrollCommand {
                customer_number: input.customer_number,
                enrollment_token: input.enrollment_token,
                login_name: input.login_name,
                password: input.password,
                email: input.email,
            };
            identity::enroll(ctx.db()?, ctx.settings()?, ctx.client(), command).await
        }
        .await;
        session_payload(ctx, outcome).await
    }

    /// Signs in with a login name and password.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<SessionPayload> {
        let outcome = async {
            ctx.request()?.claim_credential_check()?;
            identity::login(ctx.db()?, ctx.settings()?, ctx.client(), &input.login_name, &input.password).await
        }
        .await;
        session_payload(ctx, outcome).await
    }

    /// Ends the current session; its token stops working at once.
    async fn logout(&self, ctx: &Context<'_>) -> Result<LogoutPayload> {
        let viewer = ctx.viewer()?;
        let session_id = ctx.request()?.session_id.ok_or(AppError::Unauthenticated)?;
        identity::logout(ctx.db()?, session_id, viewer.user.id).await?;
        // A websocket opened with this session closes (4403), on every replica.
        announce_access_changed(ctx, Some(vec![viewer.user.id])).await?;
        Ok(LogoutPayload { ok: true, user_errors: Vec::new() })
    }

    /// Changes your password; your other sessions are signed out.
    async fn change_password(&self, ctx: &Context<'_>, input: ChangePasswordInput) -> Result<ChangePasswordPayload> {
        let viewer = ctx.viewer()?;
        let session_id = ctx.request()?.session_id.ok_or(AppError::Unauthenticated)?;
        ctx.request()?.claim_credential_check()?;
        let outcome = identity::change_password(
            ctx.db()?,
            ctx.settings()?,
            ctx.client(),
            &viewer.user,
            session_id,
            &input.current_password,
            input.new_password,
        )
        .await;
        if outcome.is_ok() {
            // The other sessions were signed out: their websockets close too.
            announce_access_changed(ctx, Some(vec![viewer.user.id])).await?;
        }
        into_payload(outcome, |done, user_errors| ChangePasswordPayload { ok: done.is_some(), user_errors })
    }

    /// Accepts an invitation, creating a login or adding an existing one to the groups.
    async fn accept_invitation(&self, ctx: &Context<'_>, input: AcceptInvitationInput) -> Result<SessionPayload> {
        let outcome = async {
            ctx.request()?.claim_credential_check()?;
            group_service::accept_invitation(
                ctx.db()?,
                ctx.settings()?,
                ctx.client(),
                &input.invitation_token,
                &input.login_name,
                &input.password,
            )
            .await
        }
        .await;
        session_payload(ctx, outcome).await
    }
}
