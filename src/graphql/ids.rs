//! Opaque global ids: base64url of "Type:number". Clients must not parse them.

use async_graphql::ID;
use data_encoding::BASE64URL_NOPAD;

use crate::error::{AppError, AppResult};

/// The node types that have global ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    Account,
    User,
    Group,
    Invoice,
    CollectiveInvoice,
    Payment,
    AccountOrder,
    AuditEvent,
    LinkRequest,
}

impl NodeType {
    fn name(self) -> &'static str {
        match self {
            NodeType::Account => "Account",
            NodeType::User => "User",
            NodeType::Group => "Group",
            NodeType::Invoice => "Invoice",
            NodeType::CollectiveInvoice => "CollectiveInvoice",
            NodeType::Payment => "Payment",
            NodeType::AccountOrder => "AccountOrder",
            NodeType::AuditEvent => "AuditEvent",
            NodeType::LinkRequest => "LinkRequest",
        }
    }

    const ALL: [NodeType; 9] = [
        NodeType::Account,
        NodeType::User,
        NodeType::Group,
        NodeType::Invoice,
        NodeType::CollectiveInvoice,
        NodeType::Payment,
        NodeType::AccountOrder,
        NodeType::AuditEvent,
        NodeType::LinkRequest,
    ];
}

pub fn encode(node_type: NodeType, id: i64) -> ID {
    ID(BASE64URL_NOPAD.encode(format!("{}:{id}", node_type.name()).as_bytes()))
}

/// Any global id: its type and number, or None when it is not one of ours.
pub fn decode_any(id: &str) -> Option<(NodeType, i64)> {
    let raw = BASE64URL_NOPAD.decode(id.as_bytes()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (name, number) = text.split_once(':')?;
    let node_type = NodeType::ALL.into_iter().find(|t| t.name() == name)?;
    let number: i64 = number.parse().ok()?;
    (number > 0).then_some((node_type, number))
}

/// The number inside a global id of the expected type, for mutation inputs. A malformed
/// id or one of another type answers like a missing object: NOT_FOUND on that field.
pub fn decode_input(id: &ID, expected: NodeType, field: &str) -> AppResult<i64> {
    match decode_any(id) {
        Some((t, n)) if t == expected => Ok(n),
        _ => Err(AppError::User(crate::domain::refusal::not_found(&expected.name().to_lowercase(), field))),
    }
}

/// The same for an optional input: None stays None.
pub fn decode_optional_input(id: Option<&ID>, expected: NodeType, field: &str) -> AppResult<Option<i64>> {
    id.map(|id| decode_input(id, expected, field)).transpose()
}

/// The number inside a global id of the expected type, or None (for lookups answering null).
pub fn decode_as(id: &ID, expected: NodeType) -> Option<i64> {
    decode_any(id).filter(|(t, _)| *t == expected).map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = encode(NodeType::Invoice, 77);
        assert_eq!(decode_any(&id), Some((NodeType::Invoice, 77)));
        assert_eq!(decode_as(&id, NodeType::Account), None);
        assert_eq!(decode_any("not base64!"), None);
        assert_eq!(decode_any(&BASE64URL_NOPAD.encode(b"Account:-3")), None);
        assert_eq!(decode_any(&BASE64URL_NOPAD.encode(b"Account:99999999999999999999")), None);
    }
}
