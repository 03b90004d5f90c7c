//! Failures inside the server: store errors become `BACKEND_ERROR`, panics become
//! `INTERNAL_ERROR` and the process lives on; the request log never shows a token.

use std::io::Write;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use messagedb_core::{
    CategoryQuery, CategorySummary, CommitListener, ImportError, ImportRecord, Message,
    NamespaceId, NamespaceInfo, NamespaceRecord, NamespaceSummary, NewMessage, Store, StoreError,
    StreamName, StreamQuery, StreamSummary, StreamsQuery, Timestamp, TokenHash, WriteOutcome,
};
use messagedb_server::ServerConfig;
use messagedb_sqlite::SqliteStore;
use serde_json::json;

use crate::app::{spawn_store, T};

/// SQLite, except that reading stream `panic-1` panics, every category read fails, and
/// clearing a namespace (a forced import) fails.
struct Faulty(SqliteStore);

#[async_trait]
impl Store for Faulty {
    fn backend_name(&self) -> &'static str {
        self.0.backend_name()
    }
    fn set_commit_listener(&self, listener: Arc<dyn CommitListener>) {
        self.0.set_commit_listener(listener)
    }
    async fn head(&self, ns: &NamespaceId) -> Result<i64, StoreError> {
        self.0.head(ns).await
    }
    async fn delete_messages(
        &self,
        ns: &NamespaceId,
        request: &messagedb_core::DeleteRequest,
    ) -> Result<messagedb_core::DeleteOutcome, StoreError> {
        self.0.delete_messages(ns, request).await
    }
    async fn list_deletions(
        &self,
        ns: &NamespaceId,
        from: i64,
        limit: u32,
    ) -> Result<Vec<messagedb_core::Deletion>, StoreError> {
        self.0.list_deletions(ns, from, limit).await
    }
    async fn create_namespace(
        &self,
        id: &NamespaceId,
        d: &str,
        h: &TokenHash,
    ) -> Result<Timestamp, StoreError> {
        self.0.create_namespace(id, d, h).await
    }
    async fn delete_namespace(&self, id: &NamespaceId) -> Result<u64, StoreError> {
        self.0.delete_namespace(id).await
    }
    async fn namespace(&self, id: &NamespaceId) -> Result<Option<NamespaceRecord>, StoreError> {
        self.0.namespace(id).await
    }
    async fn set_token_hash(&self, id: &NamespaceId, h: &TokenHash) -> Result<(), StoreError> {
        self.0.set_token_hash(id, h).await
    }
    async fn list_namespaces(&self) -> Result<Vec<NamespaceSummary>, StoreError> {
        self.0.list_namespaces().await
    }
    async fn namespace_info(&self, id: &NamespaceId) -> Result<NamespaceInfo, StoreError> {
        self.0.namespace_info(id).await
    }
    async fn write(&self, ns: &NamespaceId, m: NewMessage) -> Result<WriteOutcome, StoreError> {
        self.0.write(ns, m).await
    }
    async fn write_batch(
        &self,
        ns: &NamespaceId,
        batch: messagedb_core::BatchRequest,
    ) -> Result<messagedb_core::BatchOutcome, StoreError> {
        self.0.write_batch(ns, batch).await
    }
    async fn read_stream(
        &self,
        ns: &NamespaceId,
        s: &StreamName,
        q: &StreamQuery,
    ) -> Result<Vec<Message>, StoreError> {
        if s.as_str() == "panic-1" {
            panic!("injected panic while reading {s}");
        }
        self.0.read_stream(ns, s, q).await
    }
    async fn last_message(
        &self,
        ns: &NamespaceId,
        s: &StreamName,
        t: Option<&str>,
    ) -> Result<Option<Message>, StoreError> {
        self.0.last_message(ns, s, t).await
    }
    async fn stream_version(
        &self,
        ns: &NamespaceId,
        s: &StreamName,
    ) -> Result<Option<i64>, StoreError> {
        self.0.stream_version(ns, s).await
    }
    async fn read_category(
        &self,
        _: &NamespaceId,
        _: &CategoryQuery,
    ) -> Result<Vec<Message>, StoreError> {
        Err(StoreError::backend(std::io::Error::other("disk on fire")))
    }
    async fn list_streams(
        &self,
        ns: &NamespaceId,
        q: &StreamsQuery,
    ) -> Result<Vec<StreamSummary>, StoreError> {
        self.0.list_streams(ns, q).await
    }
    async fn list_categories(&self, ns: &NamespaceId) -> Result<Vec<CategorySummary>, StoreError> {
        self.0.list_categories(ns).await
    }
    async fn import_batch(
        &self,
        ns: &NamespaceId,
        records: Vec<ImportRecord>,
    ) -> Result<(), ImportError> {
        self.0.import_batch(ns, records).await
    }
    async fn clear_namespace(&self, _: &NamespaceId) -> Result<(), StoreError> {
        Err(StoreError::backend(std::io::Error::other("disk on fire")))
    }
    async fn close(&self) {
        self.0.close().await
    }
}

/// A server on [`Faulty`]; `sse_lifetime` uses it for replay failures.
pub async fn faulty_app() -> crate::app::App {
    let store = Arc::new(Faulty(SqliteStore::open_in_memory().unwrap()));
    spawn_store(store, ServerConfig::default()).await
}

#[tokio::test]
async fn store_failures_are_backend_errors() {
    let app = faulty_app().await;
    let e = app.rpc_as(T, json!(["category.get", "x"])).await.error(
        500,
        "BACKEND_ERROR",
        "Failed to read category",
    );
    assert_eq!(e["details"].as_object().unwrap().len(), 1, "{e}");
    assert!(e["details"]["requestId"].is_string(), "{e}");
    assert_eq!(app.call(json!(["sys.health"])).await["status"], "ok");
}

/// 141: a `BACKEND_ERROR` body carries no storage detail, only `details.requestId`; the log has
/// an error record with that id and the detail, and each failure gets its own id.
#[tokio::test]
async fn backend_error_details_are_logged_under_the_request_id() {
    let capture = Capture::default();
    let _default = capture_logs(&capture);

    let app = faulty_app().await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let answer = app.rpc_as(T, json!(["category.get", "x"])).await;
        let error = answer.error(500, "BACKEND_ERROR", "Failed to read category");
        assert!(!answer.body.contains("disk"), "{}", answer.body);
        ids.push(error["details"]["requestId"].as_str().unwrap().to_owned());
    }
    assert_ne!(ids[0], ids[1]);

    let logs = capture.text();
    for id in &ids {
        let records: Vec<&str> = logs.lines().filter(|l| l.contains(id.as_str())).collect();
        assert_eq!(records.len(), 1, "{id} in\n{logs}");
        assert!(
            records[0].contains("ERROR")
                && records[0].contains("BACKEND_ERROR")
                && records[0].contains("disk on fire"),
            "{}",
            records[0]
        );
    }
}

#[tokio::test]
async fn a_panicking_handler_is_an_internal_error() {
    let app = faulty_app().await;
    for _ in 0..2 {
        let a = app.rpc_as(T, json!(["stream.get", "panic-1"])).await;
        a.error(500, "INTERNAL_ERROR", "Internal server error");
        assert!(a.header("server").is_some());
    }
    assert_eq!(app.call(json!(["stream.get", "fine-1"])).await, json!([]));
}

/// A capture sees every log line of its thread, also lines that a thread without a subscriber
/// reached first, before the capture existed or while it is the only one. In the full suite,
/// unobserved tests are often the first to reach a line, such as the error-level
/// `HTTP request` record of a 500.
#[test]
fn a_capture_sees_log_lines_first_reached_on_other_threads() {
    fn before() {
        tracing::error!("reached before");
    }
    fn during() {
        tracing::error!("reached during");
    }
    std::thread::spawn(before).join().unwrap();
    let capture = Capture::default();
    let _default = capture_logs(&capture);
    std::thread::spawn(during).join().unwrap();
    before();
    during();
    let logs = capture.text();
    assert_eq!(logs.lines().count(), 2, "{logs}");
    assert!(
        logs.contains("reached before") && logs.contains("reached during"),
        "{logs}"
    );
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Sends this thread's log records (info and up) to `capture` until the guard drops. Tests run
/// on a current-thread runtime, so the server's tasks log through it.
///
/// tracing caches whether a log line is wanted per line, for all threads, when a thread first
/// reaches it. While exactly one subscriber is alive, tracing asks only the reaching thread's
/// subscriber; a thread without one answers "never", and the line stays off for the capture too.
/// A second subscriber that lives forever makes tracing ask every live subscriber instead.
fn capture_logs(capture: &Capture) -> tracing::subscriber::DefaultGuard {
    static SECOND: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    SECOND.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    // Registering a subscriber asks it again about every line already reached.
    tracing::subscriber::set_default(subscriber)
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One `HTTP request` record per request; tokens never appear, `?token=` is redacted; 5xx at
/// error level. (A current-thread runtime, so the server's tasks log through this subscriber.)
#[tokio::test]
async fn request_log_redacts_tokens() {
    let capture = Capture::default();
    let _default = capture_logs(&capture);

    let app = faulty_app().await;
    let tenant = app.tenant("logged").await;
    let url = format!("{}?a=1&token={}", app.url("/rpc"), tenant);
    let ok = app
        .client
        .post(&url)
        .body(r#"["sys.version"]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    app.rpc_as(&tenant, json!(["category.get", "x"])).await;
    app.rpc_raw(Some("ns_ZGVmYXVsdA_secretsecret"), "[]").await;

    let logs = capture.text();
    let requests: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("HTTP request"))
        .collect();
    assert_eq!(requests.len(), 4, "{logs}");
    assert!(
        requests.iter().any(|l| l.contains("INFO")
            && l.contains("path=/rpc?a=1&token=REDACTED")
            && l.contains("status=200")),
        "{logs}"
    );
    assert!(
        requests
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("status=500")),
        "{logs}"
    );
    assert!(requests
        .iter()
        .all(|l| l.contains("method=POST") && l.contains("duration_ms=")));
    let secret = &tenant[tenant.len() - 64..];
    for forbidden in [secret, &T[14..], "secretsecret"] {
        assert!(
            !logs.contains(forbidden),
            "a token leaked into the log:\n{logs}"
        );
    }
}
