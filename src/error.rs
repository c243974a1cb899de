//! The one error type of the server.
//!
//! Services return `Result<T, AppError>`. A refusal the user can fix is `AppError::User`;
//! the GraphQL layer turns it into the payload's `userErrors`. Everything else becomes a
//! GraphQL error with a stable `extensions.code`. Internal faults keep their detail in the
//! log and show the client only a generic message and a request id.

use std::fmt;
use std::time::Duration;

use async_graphql::{ErrorExtensions, SimpleObject};
use sea_orm::{DbErr, SqlErr};

/// Why a user's request was refused, in terms they can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum UserErrorCode {
    /// An input value is malformed or out of range.
    InvalidInput,
    /// The object does not exist or is not visible to you.
    NotFound,
    /// The enrollment token or credentials do not prove control of that account.
    InvalidProof,
    /// Too many failed proofs for this target: try again later.
    Locked,
    /// The account already belongs to a family: detach it first.
    AlreadyAttached,
    /// The account is a main account (it has secondaries) and cannot be attached.
    IsMain,
    /// The account you attach to is itself a secondary and cannot have secondaries.
    TargetIsSecondary,
    /// An account cannot be attached to itself.
    SelfAttach,
    /// The account is deactivated, or the invoice is void.
    NotActive,
    /// The name is already taken.
    DuplicateName,
    /// The Default Group cannot be deleted or changed that way.
    DefaultGroup,
    /// The invoice is already paid.
    AlreadyPaid,
    /// The invoice is part of a collective invoice and is paid through it.
    InCollectiveInvoice,
    /// The invoices are in different currencies.
    CurrencyMismatch,
    /// There are no open invoices to consolidate for that period.
    NothingToConsolidate,
    /// The password does not meet the password rule.
    WeakPassword,
    /// The account's parent changed since you looked (see `expectedParentId`).
    StaleParent,
    /// The idempotency key was already used for a different request.
    IdempotencyKeyReused,
    /// You lack the permission this change needs.
    NotPermitted,
    /// The link request was decided, cancelled or expired already.
    NotPending,
    /// Your family has a pending link request for that customer number already.
    DuplicateRequest,
    /// Your family has as many pending link requests as it may (20): cancel one first.
    LimitReached,
}

/// A refusal the user can fix, returned in a mutation payload's `userErrors`.
#[derive(Debug, Clone, PartialEq, Eq, SimpleObject)]
pub struct UserError {
    /// A stable machine-readable code.
    pub code: UserErrorCode,
    /// A human-readable explanation, safe to show.
    pub message: String,
    /// The path of the input field at fault, e.g. `["input", "password"]`; empty if none.
    pub field: Vec<String>,
}

impl UserError {
    pub fn new(code: UserErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), field: Vec::new() }
    }

    /// Names the input field at fault (below `input`).
    pub fn at(mut self, field: &str) -> Self {
        self.field = vec!["input".to_owned(), field.to_owned()];
        self
    }
}

/// Every `extensions.code` a client can see, in one table. Refusals inside a mutation's
/// payload use `UserErrorCode` instead; these are for `errors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No valid session: sign in (again).
    Unauthenticated,
    /// Signed in, but not allowed.
    Forbidden,
    /// Too many requests, password checks or proofs: retry after `retryAfter` seconds.
    RateLimited,
    /// A document that does not parse or validate, or a field refusal with no payload.
    GraphqlValidationFailed,
    /// Over a limit on depth, complexity, fields, aliases or fragment nesting.
    QueryTooComplex,
    /// A text input with a control character (`extensions.field` names it).
    InvalidInput,
    /// A trusted-document id or persisted-query hash the server does not know.
    PersistedQueryNotFound,
    /// A fault on the server; the message carries a request id for the logs.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            ErrorCode::QueryTooComplex => "QUERY_TOO_COMPLEX",
            ErrorCode::InvalidInput => "INVALID_INPUT",
            ErrorCode::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

/// Deliberately not `Display`: async-graphql would turn any `Display` error into a
/// client message by itself, skipping the masking and codes below.
#[derive(Debug, Clone)]
pub enum AppError {
    /// A refusal for the mutation payload.
    User(UserError),
    Unauthenticated,
    Forbidden,
    RateLimited {
        retry_after: Duration,
    },
    InvalidInput(String),
    /// A second password or token check in one request (aliases, several mutations).
    OneCredentialCheck,
    /// Anything unexpected. The text is logged, never shown.
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn user(code: UserErrorCode, message: impl Into<String>) -> Self {
        Self::User(UserError::new(code, message))
    }

    pub fn internal(detail: impl fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }

    /// The text a client may see. Internal details never appear here.
    pub fn public_message(&self) -> String {
        match self {
            AppError::User(e) => e.message.clone(),
            AppError::Unauthenticated => "sign in first".to_owned(),
            AppError::Forbidden => "you are not allowed to do that".to_owned(),
            AppError::RateLimited { .. } => "too many requests; retry later".to_owned(),
            AppError::InvalidInput(message) => message.clone(),
            AppError::OneCredentialCheck => {
                "one password or token check per request: send each sign-in, enrollment or link by login in a request of its own".to_owned()
            }
            AppError::Internal(_) => "internal error".to_owned(),
        }
    }

    /// The stable `extensions.code`.
    pub fn code(&self) -> ErrorCode {
        match self {
            // A refusal only reaches `errors` where a field has no payload to carry it.
            AppError::User(_) | AppError::InvalidInput(_) => ErrorCode::GraphqlValidationFailed,
            AppError::Unauthenticated => ErrorCode::Unauthenticated,
            AppError::Forbidden => ErrorCode::Forbidden,
            AppError::RateLimited { .. } | AppError::OneCredentialCheck => ErrorCode::RateLimited,
            AppError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        AppError::Internal(format!("database: {err}"))
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(err: tokio::task::JoinError) -> Self {
        AppError::Internal(format!("blocking task: {err}"))
    }
}

/// Maps a unique-constraint violation to a user error; anything else stays internal.
pub fn unique_violation_as(err: DbErr, user_error: UserError) -> AppError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => AppError::User(user_error),
        _ => AppError::from(err),
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        let message = match self {
            AppError::Internal(detail) => {
                let request_id = crate::telemetry::current_request_id();
                tracing::error!(request_id = %request_id, %detail, "internal error");
                format!("internal error (request id {request_id})")
            }
            AppError::Forbidden | AppError::Unauthenticated => {
                tracing::info!(request_id = %crate::telemetry::current_request_id(), code = self.code().as_str(), "request refused");
                self.public_message()
            }
            other => other.public_message(),
        };
        let code = self.code().as_str();
        let retry_after = match self {
            AppError::RateLimited { retry_after } => Some(retry_after.as_secs().max(1)),
            _ => None,
        };
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(secs) = retry_after {
                ext.set("retryAfter", secs);
            }
        })
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        err.extend()
    }
}

/// A request-level error (one that is not any field's) with its stable `extensions.code`:
/// limits, refused documents, malformed requests.
pub fn coded_server_error(message: impl Into<String>, code: ErrorCode) -> async_graphql::ServerError {
    let mut error = async_graphql::ServerError::new(message, None);
    error.extensions.get_or_insert_with(Default::default).set("code", code.as_str());
    error
}

/// Gives every error of a response that has no code the one left: those come from
/// async-graphql's parser and validation rules (unknown field, wrong argument type...).
/// Limits never reach it uncoded: `graphql::limits` checks them first and codes them.
pub fn code_engine_errors(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", ErrorCode::GraphqlValidationFailed.as_str());
        }
    }
}
