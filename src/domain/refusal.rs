//! Refusals a user can fix, built in one place. [`refuse`] makes a one-off refusal at an
//! input field. Every refusal that more than one service gives has a constructor here, so
//! the same situation reads the same wherever a client meets it: the messages are part of
//! what clients see, and changing one here changes it everywhere.
//!
//! The constructors return the [`UserError`] itself, not an `AppError`: a report such as
//! `detachReadiness` lists them, and a mutation refuses with `AppError::User(..)`.

use crate::domain::access::Permission;
use crate::error::{AppError, UserError, UserErrorCode};

/// A refusal that names the input field at fault.
pub fn refuse(code: UserErrorCode, message: &str, field: &str) -> AppError {
    AppError::User(UserError::new(code, message).at(field))
}

/// NOT_FOUND: "no such {what}". Missing rows and rows the viewer may not see answer alike.
pub fn not_found(what: &str, field: &str) -> UserError {
    UserError::new(UserErrorCode::NotFound, format!("no such {what}")).at(field)
}

/// NOT_PERMITTED: the viewer lacks `permission` over the whole family. It names no input
/// field: the input is fine, the viewer may not do this.
pub fn needs_on_family(permission: Permission) -> UserError {
    UserError::new(
        UserErrorCode::NotPermitted,
        format!("you need the {} permission on this family", permission.as_str()),
    )
}

/// NOT_PERMITTED: the viewer lacks `permission` on one account.
pub fn needs_on_account(permission: Permission) -> UserError {
    UserError::new(
        UserErrorCode::NotPermitted,
        format!("you need the {} permission on this account", permission.as_str()),
    )
}

/// STALE_PARENT: the family of the account named by `field` changed between reading it
/// and locking it.
pub fn family_changed(field: &str) -> UserError {
    UserError::new(UserErrorCode::StaleParent, "the account's family changed meanwhile; reload").at(field)
}

/// STALE_PARENT: the client's `expectedParentId` is not the account's parent any more.
pub fn parent_changed_since_seen() -> UserError {
    UserError::new(UserErrorCode::StaleParent, "the account's parent changed since you looked; reload and try again")
        .at("expectedParentId")
}

/// TARGET_IS_SECONDARY: the account that would become a main is itself a secondary.
pub fn secondary_cannot_have_secondaries() -> UserError {
    UserError::new(UserErrorCode::TargetIsSecondary, "a secondary account cannot have secondaries").at("mainAccountId")
}

/// NOT_ACTIVE: the main account a family change is about is deactivated.
pub fn main_deactivated() -> UserError {
    UserError::new(UserErrorCode::NotActive, "the main account is deactivated").at("mainAccountId")
}

/// INVALID_PROOF: a customer number and enrollment token that do not belong together, or
/// a token spent meanwhile. Unknown customer numbers answer alike (no enumeration).
pub fn token_mismatch() -> UserError {
    UserError::new(UserErrorCode::InvalidProof, "the customer number and enrollment token do not match")
}
