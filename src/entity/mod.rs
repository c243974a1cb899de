//! SeaORM entities: the storage shape only. GraphQL types wrap these; hashes and foreign
//! keys stay private to the server.

pub mod account;
pub mod account_order;
pub mod audit_event;
pub mod collective_invoice;
pub mod enums;
pub mod group;
pub mod group_member;
pub mod invitation;
pub mod invoice;
pub mod invoice_line;
pub mod link_request;
pub mod outbox;
pub mod payment;
pub mod payment_allocation;
pub mod product;
pub mod proof_failure;
pub mod session;
pub mod user;
