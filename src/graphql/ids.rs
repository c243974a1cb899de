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
    let mut raw = [0u8; RAW_MAX];
    ID(BASE64URL_NOPAD.encode(raw_id(node_type, id, &mut raw)))
}

/// The longest `Type:number`: the longest type name, a colon, a sign and 19 digits.
const RAW_MAX: usize = 48;

/// `Type:number` in `buf`, without the allocation and formatting machinery of
/// `format!` (the tree query encodes about 500 ids per request).
fn raw_id(node_type: NodeType, id: i64, buf: &mut [u8; RAW_MAX]) -> &[u8] {
    let name = node_type.name().as_bytes();
    buf[..name.len()].copy_from_slice(name);
    buf[name.len()] = b':';
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = id.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if id < 0 {
        at -= 1;
        digits[at] = b'-';
    }
    let start = name.len() + 1;
    let end = start + digits.len() - at;
    buf[start..end].copy_from_slice(&digits[at..]);
    &buf[..end]
}

/// Appends the global id of `id` to `out`, as `encode` spells it (for JSON written
/// ahead: the text needs no escaping).
pub fn write_encoded(node_type: NodeType, id: i64, out: &mut Vec<u8>) {
    let mut raw = [0u8; RAW_MAX];
    let raw = raw_id(node_type, id, &mut raw);
    let start = out.len();
    out.resize(start + BASE64URL_NOPAD.encode_len(raw.len()), 0);
    BASE64URL_NOPAD.encode_mut(raw, &mut out[start..]);
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
        for (node_type, number) in [
            (NodeType::Invoice, 77),
            (NodeType::CollectiveInvoice, i64::MAX),
            (NodeType::Account, 0),
            (NodeType::User, i64::MIN),
        ] {
            let spelled = BASE64URL_NOPAD.encode(format!("{}:{number}", node_type.name()).as_bytes());
            assert_eq!(encode(node_type, number).0, spelled);
            let mut written = b"x".to_vec();
            write_encoded(node_type, number, &mut written);
            assert_eq!(written, format!("x{spelled}").into_bytes());
        }
        let id = encode(NodeType::Invoice, 77);
        assert_eq!(decode_any(&id), Some((NodeType::Invoice, 77)));
        assert_eq!(decode_as(&id, NodeType::Account), None);
        assert_eq!(decode_any("not base64!"), None);
        assert_eq!(decode_any(&BASE64URL_NOPAD.encode(b"Account:-3")), None);
        assert_eq!(decode_any(&BASE64URL_NOPAD.encode(b"Account:99999999999999999999")), None);
    }
}
