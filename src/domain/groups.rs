//! Groups of a main account's family, their permissions and members, and invitations.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set, TransactionTrait,
};
use serde_json::json;

use crate::config::Settings;
use crate::crypto;
use crate::domain::access::{Permission, Viewer, permissions_from_text, permissions_to_text};
use crate::domain::accounts::{default_group_of, validate_email, validate_name};
use crate::domain::audit::AuditEntry;
use crate::domain::identity::{self, SignedIn, check_login_name, check_password_rule, open_session};
use crate::domain::{lockout, notify, refusal};
use crate::entity::{account, group, group_member, invitation};
use crate::error::{AppError, AppResult, UserError, UserErrorCode, unique_violation_as};

/// The main account whose groups the viewer wants to manage, if they may.
async fn family_for_group_management(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    main_account_id: i64,
) -> AppResult<account::Model> {
    let main = account::Entity::find_by_id(main_account_id).one(db).await?;
    let Some(main) = main.filter(|a| viewer.can_see(a) || viewer.rights_on_family(a).visible()) else {
        return Err(AppError::User(refusal::not_found("account", "mainAccountId")));
    };
    if main.parent_id.is_some() {
        return Err(AppError::User(
            UserError::new(UserErrorCode::TargetIsSecondary, "a secondary account has no groups of its own")
                .at("mainAccountId"),
        ));
    }
    if !viewer.rights_on_family(&main).has(Permission::ManageGroups) {
        return Err(AppError::user(UserErrorCode::NotPermitted, "you need the MANAGE_GROUPS permission"));
    }
    Ok(main)
}

fn no_such_group(field: &str) -> AppError {
    AppError::User(refusal::not_found("group", field))
}

fn invitation_unusable() -> AppError {
    AppError::User(
        UserError::new(UserErrorCode::InvalidProof, "this invitation is unknown, used or expired")
            .at("invitationToken"),
    )
}

fn not_permitted(message: &str, field: &str) -> AppError {
    AppError::User(UserError::new(UserErrorCode::NotPermitted, message).at(field))
}

/// What a viewer may grant in a family (issue 14's escalation rules): the family's owner
/// and staff grant anything. Anyone else, a member with MANAGE_GROUPS, grants only
/// permissions they hold on the family, never MANAGE_GROUPS, and never through a group
/// they belong to or the Default Group (which covers every account not grouped otherwise):
/// otherwise a member could raise their own rights.
fn check_may_grant(
    viewer: &Viewer,
    main: &account::Model,
    group: Option<&group::Model>,
    permissions: &[Permission],
    field: &str,
) -> AppResult<()> {
    if viewer.owns_family(main.id) {
        return Ok(());
    }
    if permissions.contains(&Permission::ManageGroups) {
        return Err(not_permitted("only the family's owner grants MANAGE_GROUPS", field));
    }
    let held = viewer.rights_on_family(main);
    if let Some(missing) = permissions.iter().find(|p| !held.has(**p)) {
        return Err(not_permitted(&format!("you cannot grant {}, which you do not hold", missing.as_str()), field));
    }
    if let Some(group) = group {
        if viewer.is_member_of(group.id) {
            return Err(not_permitted("you cannot change a group you belong to; ask the family's owner", field));
        }
        if group.is_default {
            return Err(not_permitted(
                "only the family's owner changes who is in the Default Group and what it may do",
                field,
            ));
        }
    }
    Ok(())
}

fn duplicate_group_name() -> UserError {
    UserError::new(UserErrorCode::DuplicateName, "this family already has a group of that name").at("name")
}

fn group_snapshot(group: &group::Model) -> serde_json::Value {
    json!({"name": group.name, "permissions": group.permissions})
}

pub async fn create_group(
    db: &DatabaseConnection,
    viewer: &Viewer,
    main_account_id: i64,
    name: &str,
    permissions: &[Permission],
) -> AppResult<group::Model> {
    let name = validate_name(name, "name")?;
    let txn = db.begin().await?;
    let main = family_for_group_management(&txn, viewer, main_account_id).await?;
    check_may_grant(viewer, &main, None, permissions, "permissions")?;
    let taken = group::Entity::find()
        .filter(group::Column::MainAccountId.eq(main.id))
        .filter(group::Column::Name.eq(&name))
        .one(&txn)
        .await?;
    if taken.is_some() {
        return Err(AppError::User(duplicate_group_name()));
    }
    let group = group::ActiveModel {
        main_account_id: Set(main.id),
        name: Set(name),
        is_default: Set(false),
        permissions: Set(permissions_to_text(permissions)),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| unique_violation_as(e, duplicate_group_name()))?;
    AuditEntry::new(Some(viewer.user.id), "group.created", "Group", group.id)
        .family(Some(main.id))
        .after(group_snapshot(&group))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(group)
}

async fn group_for_management(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    group_id: i64,
) -> AppResult<(group::Model, account::Model)> {
    let group = group::Entity::find_by_id(group_id).one(db).await?.ok_or_else(|| no_such_group("groupId"))?;
    let main = family_for_group_management(db, viewer, group.main_account_id).await.map_err(|e| match e {
        AppError::User(u) if u.code == UserErrorCode::NotFound => no_such_group("groupId"),
        other => other,
    })?;
    Ok((group, main))
}

pub async fn update_group(
    db: &DatabaseConnection,
    viewer: &Viewer,
    group_id: i64,
    name: Option<&str>,
    permissions: Option<&[Permission]>,
) -> AppResult<group::Model> {
    let name = name.map(|n| validate_name(n, "name")).transpose()?;
    let txn = db.begin().await?;
    let (group, main) = group_for_management(&txn, viewer, group_id).await?;
    check_may_grant(viewer, &main, Some(&group), permissions.unwrap_or_default(), "groupId")?;
    let before = group_snapshot(&group);
    let mut active: group::ActiveModel = group.clone().into();
    if let Some(name) = name {
        if group.is_default && name != group.name {
            return Err(AppError::User(
                UserError::new(UserErrorCode::DefaultGroup, "the Default Group keeps its name").at("name"),
            ));
        }
        let taken = group::Entity::find()
            .filter(group::Column::MainAccountId.eq(main.id))
            .filter(group::Column::Name.eq(&name))
            .filter(group::Column::Id.ne(group.id))
            .one(&txn)
            .await?;
        if taken.is_some() {
            return Err(AppError::User(duplicate_group_name()));
        }
        active.name = Set(name);
    }
    if let Some(permissions) = permissions {
        active.permissions = Set(permissions_to_text(permissions));
    }
    let group = active.update(&txn).await.map_err(|e| unique_violation_as(e, duplicate_group_name()))?;
    AuditEntry::new(Some(viewer.user.id), "group.updated", "Group", group.id)
        .family(Some(main.id))
        .before(before)
        .after(group_snapshot(&group))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(group)
}

/// Deletes a group; its accounts fall back to the Default Group, its members leave it.
pub async fn delete_group(db: &DatabaseConnection, viewer: &Viewer, group_id: i64) -> AppResult<group::Model> {
    let txn = db.begin().await?;
    let (group, main) = group_for_management(&txn, viewer, group_id).await?;
    check_may_grant(viewer, &main, Some(&group), &[], "groupId")?;
    if group.is_default {
        return Err(AppError::User(
            UserError::new(UserErrorCode::DefaultGroup, "the Default Group cannot be deleted").at("groupId"),
        ));
    }
    let fallback = default_group_of(&txn, main.id).await?;
    account::Entity::update_many()
        .col_expr(account::Column::GroupId, Expr::value(fallback.id))
        .col_expr(account::Column::UpdatedAt, Expr::value(chrono::Utc::now()))
        .filter(account::Column::GroupId.eq(group.id))
        .exec(&txn)
        .await?;
    group_member::Entity::delete_many().filter(group_member::Column::GroupId.eq(group.id)).exec(&txn).await?;
    group::Entity::delete_by_id(group.id).exec(&txn).await?;
    AuditEntry::new(Some(viewer.user.id), "group.deleted", "Group", group.id)
        .family(Some(main.id))
        .before(group_snapshot(&group))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(group)
}

pub const INVITATION_DAYS: i64 = 7;

/// Invites someone by email into groups of a family. Returns the invitation token, which
/// is also mailed; only its hash is kept.
pub async fn invite_user(
    db: &DatabaseConnection,
    viewer: &Viewer,
    main_account_id: i64,
    email: &str,
    group_ids: &[i64],
) -> AppResult<String> {
    let email = validate_email(email, "email")?;
    if group_ids.is_empty() {
        return Err(AppError::User(
            UserError::new(UserErrorCode::InvalidInput, "name at least one group").at("groupIds"),
        ));
    }
    let txn = db.begin().await?;
    let main = family_for_group_management(&txn, viewer, main_account_id).await?;
    let groups = group::Entity::find()
        .filter(group::Column::Id.is_in(group_ids.to_vec()))
        .filter(group::Column::MainAccountId.eq(main.id))
        .all(&txn)
        .await?;
    if groups.len() != group_ids.iter().collect::<std::collections::HashSet<_>>().len() {
        return Err(no_such_group("groupIds"));
    }
    for group in &groups {
        check_may_grant(viewer, &main, Some(group), &group_permissions(group), "groupIds")?;
    }
    let token = crypto::new_random_token("inv_");
    let now = chrono::Utc::now();
    let ids_text = groups.iter().map(|g| g.id.to_string()).collect::<Vec<_>>().join(",");
    let invitation = invitation::ActiveModel {
        main_account_id: Set(main.id),
        email: Set(email.clone()),
        token_hash: Set(crypto::sha256_hex(&token)),
        group_ids: Set(ids_text),
        invited_by: Set(viewer.user.id),
        created_at: Set(now),
        expires_at: Set(now + chrono::Duration::days(INVITATION_DAYS)),
        accepted_at: Set(None),
        accepted_user_id: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    notify::queue(
        &txn,
        notify::Mail {
            kind: "invitation",
            dedupe_key: format!("invitation:{}", invitation.id),
            recipient: email.clone(),
            subject: format!("You are invited to manage {}'s accounts", main.holder_name),
            body: format!(
                "{} invited you to the customer portal.\n\nYour invitation code (valid {INVITATION_DAYS} days, single use):\n{token}\n",
                viewer.user.login_name
            ),
        },
    )
    .await?;
    AuditEntry::new(Some(viewer.user.id), "user.invited", "Invitation", invitation.id)
        .family(Some(main.id))
        .after(json!({"email": email, "groups": groups.iter().map(|g| g.id).collect::<Vec<_>>()}))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(token)
}

/// Accepts an invitation: with a new login name and password a login is created; with an
/// existing login's name and right password, that login joins the groups too (one login
/// may belong to groups of several families).
pub async fn accept_invitation(
    db: &DatabaseConnection,
    settings: &Settings,
    client: &str,
    token: &str,
    login_name: &str,
    password: &str,
) -> AppResult<SignedIn> {
    let login_name = check_login_name(login_name)?;
    let attempt = lockout::begin_attempt(db, "invitation", client).await?;
    let now = chrono::Utc::now();
    let found = invitation::Entity::find()
        .filter(invitation::Column::TokenHash.eq(crypto::sha256_hex(token.trim())))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(now))
        .one(db)
        .await?;
    let Some(found) = found else {
        attempt.failed("invitation_token");
        return Err(invitation_unusable());
    };
    attempt.succeeded(db).await?;

    let existing = identity::find_by_login(db, &login_name).await?;
    let user_id = match &existing {
        Some(_) => Some(identity::verify_credentials(db, settings, client, &login_name, password).await?.id),
        None => {
            check_password_rule(password, &login_name)?;
            None
        }
    };
    let hash = match user_id {
        Some(_) => None,
        None => Some(crypto::hash_password(password.to_owned(), settings.password_params).await?),
    };

    let txn = db.begin().await?;
    // Single use, even when two acceptances race: only one update finds it unaccepted.
    let claimed = invitation::Entity::update_many()
        .col_expr(invitation::Column::AcceptedAt, Expr::value(now))
        .filter(invitation::Column::Id.eq(found.id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(invitation_unusable());
    }
    let user = match (user_id, hash) {
        (Some(id), _) => identity::user_by_id(&txn, id).await?,
        (None, Some(hash)) => identity::insert_user(&txn, &login_name, &found.email, hash, false, None).await?,
        (None, None) => return Err(AppError::internal("invitation without user or hash")),
    };
    invitation::Entity::update_many()
        .col_expr(invitation::Column::AcceptedUserId, Expr::value(user.id))
        .filter(invitation::Column::Id.eq(found.id))
        .exec(&txn)
        .await?;
    for group_id in found.group_ids.split(',').filter_map(|s| s.parse::<i64>().ok()) {
        if group::Entity::find_by_id(group_id).one(&txn).await?.is_none() {
            continue; // deleted since the invitation was sent
        }
        let already = group_member::Entity::find_by_id((group_id, user.id)).one(&txn).await?;
        if already.is_none() {
            group_member::ActiveModel { group_id: Set(group_id), user_id: Set(user.id), created_at: Set(now) }
                .insert(&txn)
                .await?;
        }
    }
    AuditEntry::new(Some(user.id), "invitation.accepted", "Invitation", found.id)
        .family(Some(found.main_account_id))
        .after(json!({"loginName": user.login_name, "groups": found.group_ids}))
        .record(&txn)
        .await?;
    let token = open_session(&txn, settings, user.id).await?;
    txn.commit().await?;
    Ok(SignedIn { token, user })
}

pub fn group_permissions(group: &group::Model) -> Vec<Permission> {
    permissions_from_text(&group.permissions)
}
