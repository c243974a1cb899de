//! Mutation payloads: a refusal the user can fix goes into `userErrors`; every other
//! error (unauthenticated, forbidden, internal) becomes a GraphQL error.

use crate::error::{AppError, AppResult, UserError};

pub fn into_payload<T, P>(
    outcome: AppResult<T>,
    build: impl FnOnce(Option<T>, Vec<UserError>) -> P,
) -> async_graphql::Result<P> {
    match outcome {
        Ok(value) => Ok(build(Some(value), Vec::new())),
        Err(AppError::User(user_error)) => Ok(build(None, vec![user_error])),
        Err(other) => Err(other.into()),
    }
}
