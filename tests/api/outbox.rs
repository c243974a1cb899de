//! The outbox worker: queued mail goes out over SMTP once, failures are retried with
//! backoff, and several workers on one PostgreSQL database never send a mail twice.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use canopy::domain::notify;
use canopy::domain::outbox_worker::{self, DeliveryReport, SmtpSender};
use canopy::entity::enums::OutboxStatus;
use canopy::entity::outbox;

use crate::billing::issue;
use crate::family::link;
use crate::helpers::TestApp;

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub recipients: Vec<String>,
    pub data: String,
}

/// A tiny SMTP server on loopback: enough of RFC 5321 for lettre (220, EHLO/HELO, MAIL,
/// RCPT, DATA/354, '.', RSET, NOOP, QUIT). It can refuse the first `fail_first`
/// recipients with a temporary error, and answer DATA slowly.
pub struct SmtpServer {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    fail_first: Arc<AtomicUsize>,
}

impl SmtpServer {
    pub async fn start(fail_first: usize, data_delay: Duration) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let fail_first = Arc::new(AtomicUsize::new(fail_first));
        let (store, failing) = (received.clone(), fail_first.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (store, failing) = (store.clone(), failing.clone());
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 canopy-test ESMTP\r\n").await.unwrap();
                    let mut recipients = Vec::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" | "HELO" => b"250 canopy-test\r\n",
                            "MAIL" => {
                                recipients.clear();
                                b"250 OK\r\n"
                            }
                            "RCPT" => {
                                let refuse = failing
                                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                                    .is_ok();
                                if refuse {
                                    b"451 4.3.0 try again later\r\n"
                                } else {
                                    let start = line.find('<').map_or(0, |i| i + 1);
                                    let end = line.find('>').unwrap_or(line.len());
                                    recipients.push(line[start..end].to_owned());
                                    b"250 OK\r\n"
                                }
                            }
                            "DATA" => {
                                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await.unwrap();
                                let mut data = String::new();
                                while let Ok(Some(body_line)) = lines.next_line().await {
                                    if body_line == "." {
                                        break;
                                    }
                                    data.push_str(&body_line);
                                    data.push('\n');
                                }
                                tokio::time::sleep(data_delay).await;
                                store.lock().await.push(Received { recipients: recipients.clone(), data });
                                b"250 OK queued\r\n"
                            }
                            "QUIT" => {
                                write.write_all(b"221 bye\r\n").await.unwrap();
                                break;
                            }
                            _ => b"250 OK\r\n",
                        };
                        if write.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        SmtpServer { addr, received, fail_first }
    }

    pub fn sender(&self) -> SmtpSender {
        SmtpSender::new(&format!("smtp://{}", self.addr), "Canopy <billing@canopy.test>").unwrap()
    }

    pub fn failures_left(&self) -> usize {
        self.fail_first.load(Ordering::SeqCst)
    }
}

async fn rows(app: &TestApp) -> Vec<outbox::Model> {
    outbox::Entity::find().all(&app.db).await.unwrap()
}

#[tokio::test]
async fn queued_ebills_go_out_over_smtp_once() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Mail Main", "smtp-owner").await;
    let (branch, _) = app.enrolled_account("Mail Branch", "smtp-branch").await;
    link(&app, &owner, &main, &branch).await;
    let invoice_id = issue(&app, &branch.id, "EUR", "2026-12-31", 12_345).await;
    let server = SmtpServer::start(0, Duration::ZERO).await;
    let sender = server.sender();

    let report = outbox_worker::deliver_due(&app.db, &sender, 10).await.unwrap();
    assert_eq!(report, DeliveryReport { claimed: 2, sent: 2, failed: 0 });
    let mut received = server.received.lock().await.clone();
    received.sort_by(|a, b| a.recipients.cmp(&b.recipients));
    assert_eq!(received[0].recipients, vec!["smtp-branch@example.com"]);
    assert_eq!(received[1].recipients, vec!["smtp-owner@example.com"]);
    let number = format!("{}-0001", branch.customer_number);
    for message in &received {
        assert!(message.data.contains(&format!("Subject: New invoice {number}")), "{}", message.data);
        assert!(message.data.contains("From: Canopy <billing@canopy.test>"), "{}", message.data);
        assert!(message.data.contains("123.45 EUR"), "{}", message.data);
    }
    for row in rows(&app).await {
        assert_eq!(row.status, OutboxStatus::Sent);
        assert!(row.sent_at.is_some());
        assert_eq!(row.attempts, 1);
    }
    // Nothing is due any more: a second round sends nothing.
    assert_eq!(outbox_worker::deliver_due(&app.db, &sender, 10).await.unwrap().claimed, 0);
    assert_eq!(server.received.lock().await.len(), 2);
    let _ = invoice_id;
}

#[tokio::test]
async fn a_refused_send_is_retried_with_exponential_backoff() {
    let app = TestApp::spawn().await;
    let (account, _) = app.enrolled_account("Retry Mail", "retry-mail").await;
    issue(&app, &account.id, "EUR", "2026-12-31", 100).await;
    let server = SmtpServer::start(2, Duration::ZERO).await;
    let sender = server.sender();
    let started = chrono::Utc::now();

    let report = outbox_worker::deliver_due(&app.db, &sender, 10).await.unwrap();
    assert_eq!(report, DeliveryReport { claimed: 1, sent: 0, failed: 1 });
    let row = rows(&app).await.remove(0);
    assert_eq!((row.status, row.attempts), (OutboxStatus::Failed, 1));
    assert!(row.last_error.as_deref().unwrap_or("").contains("try again later"), "{:?}", row.last_error);
    let wait = row.next_attempt_at - started;
    assert!(wait >= chrono::Duration::seconds(29) && wait <= chrono::Duration::seconds(40), "{wait}");
    assert_eq!(outbox_worker::deliver_due(&app.db, &sender, 10).await.unwrap().claimed, 0, "not due yet");

    let make_due = || async {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::NextAttemptAt, sea_orm::sea_query::Expr::value(chrono::Utc::now()))
            .exec(&app.db)
            .await
            .unwrap();
    };
    make_due().await;
    outbox_worker::deliver_due(&app.db, &sender, 10).await.unwrap();
    let row = rows(&app).await.remove(0);
    assert_eq!((row.status, row.attempts), (OutboxStatus::Failed, 2));
    let wait = row.next_attempt_at - chrono::Utc::now();
    assert!(wait >= chrono::Duration::seconds(50) && wait <= chrono::Duration::seconds(61), "doubled: {wait}");

    make_due().await;
    assert_eq!(outbox_worker::deliver_due(&app.db, &sender, 10).await.unwrap().sent, 1);
    let row = rows(&app).await.remove(0);
    assert_eq!((row.status, row.attempts), (OutboxStatus::Sent, 3));
    assert_eq!(row.last_error, None);
    assert_eq!(server.failures_left(), 0);
    assert_eq!(server.received.lock().await.len(), 1);
}

#[tokio::test]
async fn without_smtp_mails_are_logged_by_recipient_and_subject_only() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Log Main", "log-owner").await;
    let groups = app
        .data(Some(&owner), "mutation($m: ID!) { createGroup(input: {mainAccountId: $m, name: \"G\", permissions: []}) { group { id } } }", json!({"m": main.id}))
        .await;
    let group = groups["createGroup"]["group"]["id"].as_str().unwrap();
    let invited = app
        .data(
            Some(&owner),
            "mutation($m: ID!, $g: ID!) { inviteUser(input: {mainAccountId: $m, email: \"guest@example.com\", groupIds: [$g]}) { invitationToken } }",
            json!({"m": main.id, "g": group}),
        )
        .await;
    let token = invited["inviteUser"]["invitationToken"].as_str().unwrap();
    let mail =
        outbox::Entity::find().filter(outbox::Column::Kind.eq("invitation")).one(&app.db).await.unwrap().unwrap();
    assert!(mail.body.contains(token), "the mail carries the code");
    let line = outbox_worker::describe(&mail);
    assert!(line.contains("guest@example.com") && line.contains(&mail.subject));
    assert!(!line.contains(token), "the log never does");
    let settings = canopy::config::Settings::new(canopy::config::Secret::new(vec![7; 32]));
    let sender = outbox_worker::sender_from_settings(&settings).unwrap();
    assert_eq!(outbox_worker::deliver_due(&app.db, sender.as_ref(), 10).await.unwrap().sent, 1);
    assert_eq!(rows(&app).await[0].status, OutboxStatus::Sent);
}

const MAILS: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_on_one_postgres_database_send_each_mail_once() {
    let Some(server_url) = crate::helpers::require_postgres("workers_on_one_postgres_database_send_each_mail_once")
    else {
        return;
    };
    let url = crate::helpers::fresh_postgres_database(&server_url).await;
    let app = TestApp::on_url(url.clone(), None).await;
    let txn = app.db.begin().await.unwrap();
    for n in 0..MAILS {
        notify::queue(
            &txn,
            notify::Mail {
                kind: "test",
                dedupe_key: format!("test:{n}"),
                recipient: format!("person{n}@example.com"),
                subject: format!("Mail {n}"),
                body: "Hello".to_owned(),
            },
        )
        .await
        .unwrap();
    }
    txn.commit().await.unwrap();
    let server = Arc::new(SmtpServer::start(0, Duration::from_millis(1)).await);
    // Workers as separate processes would be: each with its own pool, claiming small
    // batches back to back so their claims overlap.
    let mut workers = Vec::new();
    for _ in 0..4 {
        let db = canopy::db::connect(&url).await.unwrap();
        let sender = server.sender();
        workers.push(tokio::spawn(async move {
            let mut sent = 0;
            loop {
                let report = outbox_worker::deliver_due(&db, &sender, 3).await.unwrap();
                sent += report.sent;
                if report.claimed == 0 {
                    return sent;
                }
            }
        }));
    }
    let mut per_worker = Vec::new();
    for worker in workers {
        per_worker.push(worker.await.unwrap());
    }
    assert_eq!(per_worker.iter().sum::<usize>(), MAILS);
    assert!(per_worker.iter().filter(|n| **n > 0).count() > 1, "several workers took part: {per_worker:?}");
    let received = server.received.lock().await;
    let mut recipients: Vec<String> = received.iter().flat_map(|m| m.recipients.clone()).collect();
    recipients.sort();
    let before = recipients.len();
    recipients.dedup();
    assert_eq!((before, recipients.len()), (MAILS, MAILS), "each mail exactly once");
    assert!(rows(&app).await.iter().all(|r| r.status == OutboxStatus::Sent && r.attempts == 1));
}
