//! Payments: one atomic payment for one or several invoices, or whole collective
//! invoices, in one currency (DOMAIN.md invariant 6: no invoice is paid twice).
//!
//! Guards, from the outside in: the idempotency key (a repeat with the same key and the
//! same request answers the first payment; with another request it is refused), row
//! locks on the collective invoices and invoices being paid (PostgreSQL; SQLite has a
//! single connection, so its transactions never interleave), and last the unique index
//! on `payment_allocations.invoice_id`, which no race gets past.
//!
//! Where the money comes from is behind [`PaymentProvider`]; this version settles at
//! once ([`ImmediateSettlement`]). A provider that settles later would return a pending
//! status here and confirm through a webhook that runs its own transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, SqlErr, TransactionTrait,
};
use serde_json::json;

use crate::crypto;
use crate::domain::access::{Permission, Viewer};
use crate::domain::audit::AuditEntry;
use crate::domain::refusal::{self, refuse};
use crate::entity::enums::{CollectiveInvoiceStatus, InvoiceStatus, PaymentMethod, PaymentStatus};
use crate::entity::{account, collective_invoice, invoice, payment, payment_allocation};
use crate::error::{AppError, AppResult, UserError, UserErrorCode, unique_violation_as};

/// What a payment provider is asked to collect.
#[derive(Debug, Clone)]
pub struct Charge {
    pub amount_cents: i64,
    pub currency: String,
    pub method: PaymentMethod,
    /// Stable per payer and idempotency key, so a provider can deduplicate retries.
    pub reference: String,
}

/// The seam where a real payment provider plugs in.
#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// Collects the charge; the answer is the payment's status. An `AppError::User`
    /// refusal (a declined card, say) reaches the payer's `userErrors`.
    async fn charge(&self, charge: &Charge) -> AppResult<PaymentStatus>;
}

/// Settles every charge at once (this version has no external provider).
pub struct ImmediateSettlement;

#[async_trait]
impl PaymentProvider for ImmediateSettlement {
    async fn charge(&self, _charge: &Charge) -> AppResult<PaymentStatus> {
        Ok(PaymentStatus::Settled)
    }
}

/// Something to pay: an invoice, or a collective invoice with all its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PayTarget {
    Invoice(i64),
    CollectiveInvoice(i64),
}

pub struct PayRequest {
    pub targets: Vec<PayTarget>,
    pub idempotency_key: String,
    pub method: PaymentMethod,
}

/// A payment, and whether it is the answer to an earlier request with the same key.
pub struct PaymentOutcome {
    pub payment: payment::Model,
    pub replayed: bool,
}

pub const MAX_TARGETS: usize = 100;

fn not_found() -> AppError {
    AppError::User(refusal::not_found("invoice", "invoiceIds"))
}

fn not_permitted() -> AppError {
    AppError::User(refusal::needs_on_account(Permission::PayInvoices).at("invoiceIds"))
}

/// SHA-256 over the sorted targets and the method: a replay must match it exactly.
pub fn fingerprint(targets: &BTreeSet<PayTarget>, method: PaymentMethod) -> String {
    let targets: Vec<String> = targets
        .iter()
        .map(|t| match t {
            PayTarget::Invoice(id) => format!("invoice:{id}"),
            PayTarget::CollectiveInvoice(id) => format!("collective:{id}"),
        })
        .collect();
    let method = serde_json::to_string(&method).unwrap_or_default();
    crypto::sha256_hex(&format!("pay-v1|{method}|{}", targets.join(",")))
}

fn check_key(key: &str) -> AppResult<String> {
    let key = key.trim();
    if key.is_empty() || key.chars().count() > 200 || key.chars().any(char::is_control) {
        return Err(refuse(
            UserErrorCode::InvalidInput,
            "the idempotency key must be 1 to 200 printable characters",
            "idempotencyKey",
        ));
    }
    Ok(key.to_owned())
}

/// Why one try did not finish: a concurrent request with the same key won the insert.
enum Attempt {
    KeyRace,
    Failed(AppError),
}

impl From<AppError> for Attempt {
    fn from(err: AppError) -> Self {
        Attempt::Failed(err)
    }
}

impl From<sea_orm::DbErr> for Attempt {
    fn from(err: sea_orm::DbErr) -> Self {
        Attempt::Failed(err.into())
    }
}

/// Pays invoices and collective invoices in one payment (`payInvoices`).
pub async fn pay(
    db: &DatabaseConnection,
    provider: &dyn PaymentProvider,
    viewer: &Viewer,
    request: PayRequest,
) -> AppResult<PaymentOutcome> {
    let key = check_key(&request.idempotency_key)?;
    let targets: BTreeSet<PayTarget> = request.targets.iter().copied().collect();
    if targets.is_empty() || targets.len() > MAX_TARGETS {
        return Err(refuse(
            UserErrorCode::InvalidInput,
            &format!("name 1 to {MAX_TARGETS} invoices to pay"),
            "invoiceIds",
        ));
    }
    let fingerprint = fingerprint(&targets, request.method);
    // A request racing another with the same key loses the insert; its second try
    // finds the winner's payment and answers like a replay (or a reuse).
    for _ in 0..2 {
        match pay_once(db, provider, viewer, &key, &fingerprint, &targets, request.method).await {
            Ok(outcome) => return Ok(outcome),
            Err(Attempt::Failed(err)) => return Err(err),
            Err(Attempt::KeyRace) => continue,
        }
    }
    Err(refuse(
        UserErrorCode::IdempotencyKeyReused,
        "another request with this idempotency key is in progress; retry",
        "idempotencyKey",
    ))
}

async fn pay_once(
    db: &DatabaseConnection,
    provider: &dyn PaymentProvider,
    viewer: &Viewer,
    key: &str,
    fingerprint: &str,
    targets: &BTreeSet<PayTarget>,
    method: PaymentMethod,
) -> Result<PaymentOutcome, Attempt> {
    let txn = db.begin().await?;
    if let Some(earlier) = earlier_payment(&txn, viewer, key, fingerprint).await? {
        txn.commit().await?;
        return Ok(earlier);
    }

    let collective_ids: Vec<i64> = targets
        .iter()
        .filter_map(|t| match t {
            PayTarget::CollectiveInvoice(id) => Some(*id),
            PayTarget::Invoice(_) => None,
        })
        .collect();
    let invoice_ids: Vec<i64> = targets
        .iter()
        .filter_map(|t| match t {
            PayTarget::Invoice(id) => Some(*id),
            PayTarget::CollectiveInvoice(_) => None,
        })
        .collect();

    // Locks: collective invoices, then every invoice concerned in one id-ordered
    // statement, so two payments never wait on each other in a cycle.
    let collectives: HashMap<i64, collective_invoice::Model> = collective_invoice::Entity::find()
        .filter(collective_invoice::Column::Id.is_in(collective_ids.clone()))
        .order_by_asc(collective_invoice::Column::Id)
        .lock_exclusive()
        .all(&txn)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let invoices: Vec<invoice::Model> = invoice::Entity::find()
        .filter(
            Condition::any()
                .add(invoice::Column::Id.is_in(invoice_ids.clone()))
                .add(invoice::Column::CollectiveInvoiceId.is_in(collective_ids.clone())),
        )
        .order_by_asc(invoice::Column::Id)
        .lock_exclusive()
        .all(&txn)
        .await?;
    // A request with the same key that held these locks before us has committed by now.
    if let Some(earlier) = earlier_payment(&txn, viewer, key, fingerprint).await? {
        txn.commit().await?;
        return Ok(earlier);
    }
    let account_ids: BTreeSet<i64> =
        invoices.iter().map(|i| i.account_id).chain(collectives.values().map(|c| c.main_account_id)).collect();
    let accounts: HashMap<i64, account::Model> = account::Entity::find()
        .filter(account::Column::Id.is_in(account_ids))
        .all(&txn)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let rights = |account_id: i64| accounts.get(&account_id).map(|a| viewer.rights_on(a)).unwrap_or_default();

    // Existence and rights first, for every target, so a refusal never tells a hidden
    // invoice's state.
    for id in &collective_ids {
        let Some(collective) = collectives.get(id) else { return Err(not_found().into()) };
        let on_main = rights(collective.main_account_id);
        if !on_main.has(Permission::ViewInvoices) {
            return Err(not_found().into());
        }
        if !on_main.has(Permission::PayInvoices) {
            return Err(not_permitted().into());
        }
    }
    let by_id: HashMap<i64, &invoice::Model> = invoices.iter().map(|i| (i.id, i)).collect();
    for id in &invoice_ids {
        let Some(found) = by_id.get(id) else { return Err(not_found().into()) };
        let on_account = rights(found.account_id);
        if !on_account.has(Permission::ViewInvoices) {
            return Err(not_found().into());
        }
        if !on_account.has(Permission::PayInvoices) {
            return Err(not_permitted().into());
        }
    }

    // Then what the user can act on.
    let mut currencies = BTreeSet::new();
    let mut amount: i64 = 0;
    let overflow = || refuse(UserErrorCode::InvalidInput, "the amount is too large for one payment", "invoiceIds");
    for id in &collective_ids {
        let Some(collective) = collectives.get(id) else { return Err(not_found().into()) };
        if collective.status == CollectiveInvoiceStatus::Paid {
            return Err(
                refuse(UserErrorCode::AlreadyPaid, "the collective invoice is already paid", "invoiceIds").into()
            );
        }
        let members: Vec<&invoice::Model> =
            invoices.iter().filter(|i| i.collective_invoice_id == Some(collective.id)).collect();
        if members.iter().any(|m| m.status != InvoiceStatus::Open) {
            return Err(refuse(
                UserErrorCode::AlreadyPaid,
                "an invoice of the collective invoice is already settled",
                "invoiceIds",
            )
            .into());
        }
        let member_sum = members.iter().try_fold(0i64, |acc, m| acc.checked_add(m.total_cents)).ok_or_else(overflow)?;
        if member_sum != collective.total_cents {
            return Err(AppError::internal(format!(
                "collective invoice {} total differs from its members",
                collective.id
            ))
            .into());
        }
        currencies.insert(collective.currency.clone());
        amount = amount.checked_add(collective.total_cents).ok_or_else(overflow)?;
    }
    for id in &invoice_ids {
        let Some(found) = by_id.get(id) else { return Err(not_found().into()) };
        match found.status {
            InvoiceStatus::Paid => {
                return Err(refuse(UserErrorCode::AlreadyPaid, "the invoice is already paid", "invoiceIds").into());
            }
            InvoiceStatus::Void => {
                return Err(
                    refuse(UserErrorCode::NotActive, "the invoice is void; nothing is owed", "invoiceIds").into()
                );
            }
            InvoiceStatus::Open => {}
        }
        if found.collective_invoice_id.is_some() {
            return Err(refuse(
                UserErrorCode::InCollectiveInvoice,
                "the invoice is part of a collective invoice: pay the collective invoice",
                "invoiceIds",
            )
            .into());
        }
        currencies.insert(found.currency.clone());
        amount = amount.checked_add(found.total_cents).ok_or_else(overflow)?;
    }
    if currencies.len() != 1 {
        return Err(refuse(
            UserErrorCode::CurrencyMismatch,
            "one payment covers invoices of one currency; pay each currency separately",
            "invoiceIds",
        )
        .into());
    }
    let currency = currencies.into_iter().next().unwrap_or_default();

    let charge = Charge {
        amount_cents: amount,
        currency: currency.clone(),
        method,
        reference: format!("{}:{key}", viewer.user.id),
    };
    let status = provider.charge(&charge).await?;
    let now = chrono::Utc::now();
    let inserted = payment::ActiveModel {
        user_id: Set(viewer.user.id),
        idempotency_key: Set(key.to_owned()),
        request_fingerprint: Set(fingerprint.to_owned()),
        amount_cents: Set(amount),
        currency: Set(currency),
        method: Set(method),
        status: Set(status),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    let payment = match inserted {
        Ok(payment) => payment,
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(Attempt::KeyRace);
        }
        Err(err) => return Err(err.into()),
    };
    settle(&txn, &payment, &invoices, now).await?;
    if !collective_ids.is_empty() {
        collective_invoice::Entity::update_many()
            .col_expr(collective_invoice::Column::Status, Expr::value(CollectiveInvoiceStatus::Paid))
            .col_expr(collective_invoice::Column::PaidAt, Expr::value(now))
            .filter(collective_invoice::Column::Id.is_in(collective_ids.clone()))
            .exec(&txn)
            .await?;
    }
    let family = invoices.first().and_then(|i| accounts.get(&i.account_id)).map(|a| a.parent_id.unwrap_or(a.id));
    AuditEntry::new(Some(viewer.user.id), "payment.settled", "Payment", payment.id)
        .family(family)
        .after(json!({
            "amountCents": payment.amount_cents, "currency": payment.currency, "method": payment.method,
            "invoiceIds": invoices.iter().map(|i| i.id).collect::<Vec<_>>(), "collectiveInvoiceIds": collective_ids,
        }))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(PaymentOutcome { payment, replayed: false })
}

/// The payment an earlier request with this key made: the answer to a replay, or a
/// refusal when the request differs.
async fn earlier_payment(
    txn: &DatabaseTransaction,
    viewer: &Viewer,
    key: &str,
    fingerprint: &str,
) -> Result<Option<PaymentOutcome>, Attempt> {
    let earlier = payment::Entity::find()
        .filter(payment::Column::UserId.eq(viewer.user.id))
        .filter(payment::Column::IdempotencyKey.eq(key))
        .one(txn)
        .await?;
    match earlier {
        None => Ok(None),
        Some(earlier) if earlier.request_fingerprint == fingerprint => {
            Ok(Some(PaymentOutcome { payment: earlier, replayed: true }))
        }
        Some(_) => Err(Attempt::Failed(refuse(
            UserErrorCode::IdempotencyKeyReused,
            "this idempotency key was already used for a different payment",
            "idempotencyKey",
        ))),
    }
}

/// Allocates the payment to each invoice (the unique index refuses a second payment of
/// any of them) and marks them paid.
async fn settle(
    txn: &DatabaseTransaction,
    payment: &payment::Model,
    invoices: &[invoice::Model],
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let already_paid = || UserError::new(UserErrorCode::AlreadyPaid, "an invoice is already paid").at("invoiceIds");
    let allocations = invoices.iter().map(|i| payment_allocation::ActiveModel {
        payment_id: Set(payment.id),
        invoice_id: Set(i.id),
        amount_cents: Set(i.total_cents),
        ..Default::default()
    });
    payment_allocation::Entity::insert_many(allocations)
        .exec(txn)
        .await
        .map_err(|e| unique_violation_as(e, already_paid()))?;
    invoice::Entity::update_many()
        .col_expr(invoice::Column::Status, Expr::value(InvoiceStatus::Paid))
        .col_expr(invoice::Column::PaidAt, Expr::value(now))
        .filter(invoice::Column::Id.is_in(invoices.iter().map(|i| i.id)))
        .exec(txn)
        .await?;
    Ok(())
}

/// The invoices a payment paid, by payment id (for loaders).
pub async fn allocations_of(
    db: &impl sea_orm::ConnectionTrait,
    payment_ids: Vec<i64>,
) -> AppResult<BTreeMap<i64, Vec<i64>>> {
    let rows = payment_allocation::Entity::find()
        .filter(payment_allocation::Column::PaymentId.is_in(payment_ids))
        .order_by_asc(payment_allocation::Column::InvoiceId)
        .all(db)
        .await?;
    let mut map: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for row in rows {
        map.entry(row.payment_id).or_default().push(row.invoice_id);
    }
    Ok(map)
}
