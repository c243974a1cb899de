//! Invoice downloads: a real PDF whose text a reader extracts, an RFC 4180 CSV that
//! parses back, bearer or signed-link access, and nothing for other families.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use crate::billing::{days_from_today, issue, issue_lines};
use crate::collective::{SET_MODE, consolidate, today};
use crate::family::link;
use crate::helpers::TestApp;

/// GETs a path; returns status, headers and the raw body.
pub async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app.router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, headers, body)
}

/// An RFC 4180 reader: quoted fields may hold commas, doubled quotes and line breaks;
/// records end with CRLF.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "records end with CRLF");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, '\n') => panic!("a bare LF outside quotes"),
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && record.is_empty(), "the last record ends with CRLF");
    records
}

/// Text a real PDF reader extracts (pages separated by form feeds), when poppler's
/// `pdftotext` is installed. Under CI it must be (.ci/run installs it). Our PDFs embed
/// subsetted fonts with ToUnicode maps in compressed streams: a reader is the only honest
/// way to check what they print.
pub fn pdftotext(pdf: &[u8]) -> Option<String> {
    assert!(pdf.starts_with(b"%PDF-1."), "a PDF header");
    assert!(String::from_utf8_lossy(pdf).trim_end().ends_with("%%EOF"), "a PDF trailer");
    let available = std::process::Command::new("pdftotext").arg("-v").output().is_ok();
    if !available {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("pdftotext is missing: install poppler-utils (CI must check our PDFs with a real reader)");
        }
        eprintln!("SKIPPED the pdftotext check: install poppler-utils to run it");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).unwrap();
    let output = std::process::Command::new("pdftotext").arg("-layout").arg(&path).arg("-").output().unwrap();
    assert!(output.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&output.stderr));
    Some(String::from_utf8(output.stdout).unwrap())
}

const DETAILS: &str = "query($id: ID!) { invoice(id: $id) { number pdfUrl csvUrl } }";

async fn invoice_paths(app: &TestApp, token: &str, id: &str) -> (String, String, String) {
    let data = app.data(Some(token), DETAILS, json!({"id": id})).await;
    let invoice = &data["invoice"];
    (
        invoice["number"].as_str().unwrap().to_owned(),
        invoice["pdfUrl"].as_str().unwrap().to_owned(),
        invoice["csvUrl"].as_str().unwrap().to_owned(),
    )
}

fn without_query(url: &str) -> &str {
    url.split('?').next().unwrap()
}

#[tokio::test]
async fn the_invoice_pdf_shows_number_dates_lines_totals_customer_number_and_current_token() {
    let app = TestApp::spawn().await;
    let (account, owner) = app.enrolled_account("Ada Lovelace Ltd", "pdf-owner").await;
    let due = days_from_today(14);
    let payload = issue_lines(
        &app,
        &account.id,
        "EUR",
        &due,
        json!([
            {"description": "Mobile plan (M), 30 days", "quantity": 1, "unitCents": 2_990},
            {"description": "Roaming \\ Übersee 5 €", "quantity": 3, "unitCents": 199},
        ]),
    )
    .await;
    let id = payload["invoice"]["id"].as_str().unwrap().to_owned();
    let (number, pdf_url, _) = invoice_paths(&app, &owner, &id).await;
    let (status, headers, body) = get(&app, without_query(&pdf_url), Some(&owner)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(headers["content-disposition"], format!("attachment; filename=\"{number}.pdf\"").as_str());
    let token = app.current_enrollment_token(&account.id).await;
    assert_ne!(token, account.enrollment_token, "enrolling spent the first token; the current one is printed");
    let Some(text) = pdftotext(&body) else { return };
    for expected in [
        format!("Invoice {number}"),
        account.customer_number.clone(),
        "Ada Lovelace Ltd".to_owned(),
        today(),
        due.clone(),
        "Mobile plan (M), 30 days".to_owned(),
        "29.90".to_owned(),
        "Roaming \\ Übersee 5 €".to_owned(),
        "1.99".to_owned(),
        "5.97".to_owned(),
        "Total EUR".to_owned(),
        "35.87".to_owned(),
        token.clone(),
    ] {
        assert!(text.contains(&expected), "{expected:?} missing from {text}");
    }
}

#[tokio::test]
async fn pdftotext_reads_our_invoice_and_collective_invoice_pdfs() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Reader Main", "reader").await;
    let id = issue(&app, &main.id, "EUR", &days_from_today(14), 123_456).await;
    let (number, pdf_url, _) = invoice_paths(&app, &owner, &id).await;
    let (_, _, body) = get(&app, &pdf_url, None).await;
    let Some(text) = pdftotext(&body) else { return };
    for expected in [format!("Invoice {number}"), main.customer_number.clone(), "1234.56".to_owned()] {
        assert!(text.contains(&expected), "{expected:?} missing from {text}");
    }
    assert!(text.contains(&app.current_enrollment_token(&main.id).await), "{text}");
    let collective = consolidate(&app, &owner, &main, &today(), &today()).await;
    let url = collective["collectiveInvoices"][0]["id"].as_str().unwrap();
    let data = app
        .data(Some(&owner), "query($id: ID!) { collectiveInvoice(id: $id) { number pdfUrl } }", json!({"id": url}))
        .await;
    let (_, _, body) = get(&app, data["collectiveInvoice"]["pdfUrl"].as_str().unwrap(), None).await;
    let text = pdftotext(&body).unwrap();
    assert!(text.contains(&format!("Collective invoice {}", data["collectiveInvoice"]["number"].as_str().unwrap())));
    assert!(text.contains(&number) && text.contains("1234.56"), "{text}");
}

#[tokio::test]
async fn the_invoice_csv_parses_back_field_for_field() {
    let app = TestApp::spawn().await;
    let (account, owner) = app.enrolled_account("Csv Holder", "csv-owner").await;
    let tricky = "Say \"hello\", then\nbreak the line";
    let payload = issue_lines(
        &app,
        &account.id,
        "EUR",
        "2026-12-31",
        json!([
            {"description": tricky, "quantity": 2, "unitCents": 1_500},
            {"description": "Plain", "quantity": 1, "unitCents": 3_000_000_000i64},
        ]),
    )
    .await;
    let id = payload["invoice"]["id"].as_str().unwrap().to_owned();
    let (number, _, csv_url) = invoice_paths(&app, &owner, &id).await;
    let (status, headers, body) = get(&app, &csv_url, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let records = parse_csv(&String::from_utf8(body).unwrap());
    assert_eq!(
        records[0],
        [
            "invoice_number",
            "customer_number",
            "issued_at",
            "due_at",
            "currency",
            "line",
            "description",
            "quantity",
            "unit_cents",
            "amount_cents"
        ]
    );
    let head = [number.clone(), account.customer_number.clone(), today(), "2026-12-31".to_owned(), "EUR".to_owned()];
    let row = |rest: [&str; 5]| head.iter().cloned().chain(rest.iter().map(|s| s.to_string())).collect::<Vec<_>>();
    assert_eq!(records[1], row(["1", tricky, "2", "1500", "3000"]));
    assert_eq!(records[2], row(["2", "Plain", "1", "3000000000", "3000000000"]));
    assert_eq!(records[3], row(["TOTAL", "", "", "", "3000003000"]));
    assert_eq!(records.len(), 4);
}

#[tokio::test]
async fn the_collective_invoice_pdf_and_csv_list_every_member_and_the_main_token() {
    let app = TestApp::spawn().await;
    let (main, owner) = app.enrolled_account("Collective Pdf Main", "cpdf-owner").await;
    let branch = app.create_account("Collective Pdf Branch").await;
    link(&app, &owner, &main, &branch).await;
    app.data(Some(&owner), SET_MODE, json!({"a": branch.id, "m": "COLLECTIVE"})).await;
    let a = issue(&app, &main.id, "EUR", "2026-12-31", 1_000).await;
    let b = issue(&app, &branch.id, "EUR", "2027-01-15", 2_345).await;
    let payload = consolidate(&app, &owner, &main, &today(), &today()).await;
    let collective_id = payload["collectiveInvoice"]["id"].as_str().unwrap().to_owned();
    let data = app
        .data(
            Some(&owner),
            "query($id: ID!) { collectiveInvoice(id: $id) { number pdfUrl csvUrl } }",
            json!({"id": collective_id}),
        )
        .await;
    let collective = &data["collectiveInvoice"];
    let number = collective["number"].as_str().unwrap();
    let (status, _, pdf) = get(&app, collective["pdfUrl"].as_str().unwrap(), None).await;
    assert_eq!(status, StatusCode::OK);
    let _ = (a, b);
    let text = pdftotext(&pdf);
    let invoice_numbers = [format!("{}-0001", main.customer_number), format!("{}-0001", branch.customer_number)];
    let token = app.current_enrollment_token(&main.id).await;
    for expected in [
        format!("Collective invoice {number}"),
        main.customer_number.clone(),
        branch.customer_number.clone(),
        invoice_numbers[0].clone(),
        invoice_numbers[1].clone(),
        format!("{} to {}", today(), today()),
        "2026-12-31".to_owned(),
        "2027-01-15".to_owned(),
        "10.00".to_owned(),
        "23.45".to_owned(),
        "Total EUR".to_owned(),
        "33.45".to_owned(),
        token,
    ] {
        let Some(text) = &text else { break };
        assert!(text.contains(&expected), "{expected:?} missing from {text}");
    }
    let (_, _, csv) = get(&app, collective["csvUrl"].as_str().unwrap(), None).await;
    let records = parse_csv(&String::from_utf8(csv).unwrap());
    assert_eq!(records.len(), 4);
    assert_eq!(records[1][5], invoice_numbers[0]);
    assert_eq!(records[2][5..7], [invoice_numbers[1].clone(), branch.customer_number.clone()]);
    assert_eq!(records[3][5], "TOTAL");
    assert_eq!(records[3][9], "3345");
}

#[tokio::test]
async fn signed_links_work_without_a_token_for_ten_minutes_only() {
    let app = TestApp::spawn().await;
    let (account, owner) = app.enrolled_account("Link Holder", "link-owner").await;
    let first = issue(&app, &account.id, "EUR", "2026-12-31", 100).await;
    let second = issue(&app, &account.id, "EUR", "2026-12-31", 200).await;
    let (_, pdf_url, _) = invoice_paths(&app, &owner, &first).await;
    let (_, other_url, _) = invoice_paths(&app, &owner, &second).await;
    assert!(pdf_url.starts_with("/invoices/") && pdf_url.contains("expires=") && pdf_url.contains("signature="));
    assert_eq!(get(&app, &pdf_url, None).await.0, StatusCode::OK);

    // Tampering with the path, the expiry or the signature, or waiting too long, fails.
    let query = pdf_url.split_once('?').unwrap().1;
    let swapped = format!("{}?{query}", without_query(&other_url));
    assert_eq!(get(&app, &swapped, None).await.0, StatusCode::FORBIDDEN);
    let as_csv = pdf_url.replacen(".pdf?", ".csv?", 1);
    assert_eq!(get(&app, &as_csv, None).await.0, StatusCode::FORBIDDEN);
    let expires: i64 = query.split('&').find_map(|p| p.strip_prefix("expires=")).unwrap().parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!((now + 540..=now + 600).contains(&expires), "ten minutes");
    let later = pdf_url.replace(&format!("expires={expires}"), &format!("expires={}", expires + 3600));
    assert_eq!(get(&app, &later, None).await.0, StatusCode::FORBIDDEN);
    let path = without_query(&pdf_url);
    let secret = &app.state.settings.secret;
    let stale = now - 1;
    let expired =
        format!("{path}?expires={stale}&signature={}", canopy::crypto::download_signature(secret, path, stale));
    assert_eq!(get(&app, &expired, None).await.0, StatusCode::FORBIDDEN);
    let too_long = now + 24 * 3600;
    let forever =
        format!("{path}?expires={too_long}&signature={}", canopy::crypto::download_signature(secret, path, too_long));
    assert_eq!(get(&app, &forever, None).await.0, StatusCode::FORBIDDEN);
    // Without a link, a bearer token is needed.
    assert_eq!(get(&app, path, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&app, path, Some("cnp_bogus")).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_family_cannot_download_and_is_told_not_found() {
    let app = TestApp::spawn().await;
    let (account, owner) = app.enrolled_account("Private Holder", "private-owner").await;
    let (_, stranger) = app.enrolled_account("Stranger Holder", "private-stranger").await;
    let id = issue(&app, &account.id, "EUR", "2026-12-31", 100).await;
    let (_, pdf_url, csv_url) = invoice_paths(&app, &owner, &id).await;
    let missing = "/invoices/SW52b2ljZTo5OTk5OTk.pdf";
    let (missing_status, _, missing_body) = get(&app, missing, Some(&stranger)).await;
    assert_eq!(missing_status, StatusCode::NOT_FOUND);
    for url in [&pdf_url, &csv_url] {
        let (status, _, body) = get(&app, without_query(url), Some(&stranger)).await;
        assert_eq!((status, body), (missing_status, missing_body.clone()), "same answer as a missing id");
    }
    assert_eq!(app.data(Some(&stranger), DETAILS, json!({"id": id})).await["invoice"], json!(null));
    for bad in ["/invoices/garbage.pdf", "/invoices/SW52b2ljZTox.txt", &format!("/collective-invoices/{id}.pdf")] {
        assert_eq!(get(&app, bad, Some(&owner)).await.0, StatusCode::NOT_FOUND, "{bad}");
    }
    assert_eq!(get(&app, without_query(&pdf_url), Some(&owner)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn an_invoice_prints_polish_czech_greek_cyrillic_and_japanese_names_as_written() {
    let app = TestApp::spawn().await;
    let holder = "Łódź Żółć Sp. z o.o. 東京支社";
    let (account, owner) = app.enrolled_account(holder, "unicode-owner").await;
    let descriptions = [
        "Usługa",
        "Příliš žluťoučký kůň úpěl ďábelské ódy",
        "Συνδρομή κινητής τηλεφωνίας",
        "Мобильная связь, Москва",
        "東京支社の月額料金（ひらがなとカタカナ）",
    ];
    let lines: Vec<_> =
        descriptions.iter().map(|d| json!({"description": d, "quantity": 1, "unitCents": 1_000})).collect();
    let payload = issue_lines(&app, &account.id, "PLN", &days_from_today(14), json!(lines)).await;
    let id = payload["invoice"]["id"].as_str().unwrap().to_owned();
    let (_, pdf_url, _) = invoice_paths(&app, &owner, &id).await;
    let (status, _, body) = get(&app, &pdf_url, None).await;
    assert_eq!(status, StatusCode::OK);
    let Some(text) = pdftotext(&body) else { return };
    for expected in std::iter::once(holder).chain(descriptions) {
        assert!(text.contains(expected), "{expected:?} missing from {text}");
    }
    assert!(text.contains("50.00") && text.contains("Total PLN"), "{text}");
    assert!(!text.contains('?'), "no character is replaced: {text}");
    assert!(!text.contains("Page 1 of"), "a one-page invoice needs no page numbers: {text}");
}

#[tokio::test]
async fn a_multi_page_invoice_numbers_its_pages_and_keeps_every_line_and_the_total() {
    let app = TestApp::spawn().await;
    let (account, owner) = app.enrolled_account("Długa Faktura", "pages-owner").await;
    let lines: Vec<_> = (1..=80)
        .map(|n| json!({"description": format!("Usługa {n:02}: Łączność mobilna, pakiet danych"), "quantity": 1, "unitCents": 100}))
        .collect();
    let payload = issue_lines(&app, &account.id, "EUR", &days_from_today(14), json!(lines)).await;
    let id = payload["invoice"]["id"].as_str().unwrap().to_owned();
    let (_, pdf_url, _) = invoice_paths(&app, &owner, &id).await;
    let (_, _, body) = get(&app, &pdf_url, None).await;
    let Some(text) = pdftotext(&body) else { return };
    let pages: Vec<&str> = text.split('\u{c}').filter(|p| !p.trim().is_empty()).collect();
    let count = pages.len();
    assert!(count >= 2, "80 lines take more than one page: {text}");
    for (i, page) in pages.iter().enumerate() {
        assert!(page.contains(&format!("Page {} of {count}", i + 1)), "page {} lacks its number: {page}", i + 1);
    }
    for n in [1, 40, 80] {
        let line = format!("Usługa {n:02}: Łączność mobilna, pakiet danych");
        assert_eq!(text.matches(&line).count(), 1, "{line:?} printed once: {text}");
    }
    let last = pages[count - 1];
    assert!(last.contains("Total EUR") && last.contains("80.00"), "the total ends the invoice: {last}");
    assert!(last.contains(&app.current_enrollment_token(&account.id).await), "{last}");
}
