//! Business rules and invariants, free of GraphQL types. Each mutation is one function
//! that opens a transaction, checks, writes, records its audit event and commits.

pub mod access;
pub mod accounts;
pub mod audit;
pub mod billing;
pub mod collective;
pub mod family;
pub mod groups;
pub mod identity;
pub mod lockout;
pub mod notify;
pub mod outbox_worker;
pub mod payments;
pub mod refusal;
